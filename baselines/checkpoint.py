"""Run directories and checkpoints: refuse to clobber, write atomically, load with clear errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from spirograph._io import exclusive_lock, write_atomic
from spirograph._torchfile import check_torch_file, save_torch
from spirograph._validate import bad_value

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
ENCODER_FILE = "encoder.pt"
RESULT_FILE = "result.json"
VALIDATION_FILE = "validation.json"
METHOD_REPORT_FILE = "method_report.json"
RUN_FILES = (CONFIG_FILE, CHECKPOINT_FILE, METRICS_FILE, ENCODER_FILE, RESULT_FILE, VALIDATION_FILE, METHOD_REPORT_FILE)
CHECKPOINT_FORMAT = "spirograph-train-checkpoint/1"
_CHECKPOINT_KEYS = ("format", "step", "record", "model", "optimizer", "scheduler", "generators")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, a full disk); the last good checkpoint is kept."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, replacing a previous file (``spirograph._io``)."""
    write_atomic(path, text, overwrite=True)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


LEGACY_TRAIN_SETTINGS: dict[str, Any] = {"generator": "spirograph", "render": {}}
"""Training settings added in 0.3 and their values for a run recorded before (Spirograph, default options)."""


class RunDir:
    """A training run's folder: ``config.json``, ``checkpoint.pt``, ``metrics.jsonl``, ``encoder.pt``, ``result.json``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def _check_place(self, *, resume: bool) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise bad_value("--out", str(self.path), "a run directory (the path exists and is not a folder)")
        if resume and not self.file(CONFIG_FILE).exists():
            raise bad_value("--resume", str(self.path), "a run directory with config.json (a run to continue)")

    @contextlib.contextmanager
    def claim(self, record: Mapping[str, Any], *, resume: bool, overwrite: bool) -> Iterator["RunDir"]:
        """Hold the run directory's lock for the block and :meth:`prepare` it under the lock.

        The lock (``RUN_DIR.lock`` beside the folder, holding the pid) keeps a second training,
        resumed or not, out of a directory a live process trains in; it goes when the block ends
        or the process dies. A refused process writes nothing.

        Raises:
            OSError: another live process trains in this directory (the message names its pid).
            ValueError: as :meth:`prepare`.
        """
        self._check_place(resume=resume)  # refuse what needs no lock before creating anything
        self.path.resolve().parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.resolve(), what="run directory"):
            new = not self.path.exists()
            self.prepare(record, resume=resume, overwrite=overwrite)
            try:
                yield self
            except ValueError:
                # A setting refused once the run is built (a method's own check, e.g. InvP's bank size
                # against the training set): a directory this call created is taken back, so a refused
                # run leaves nothing behind.
                if new:
                    for name in RUN_FILES:
                        self.file(name).unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        self.path.rmdir()
                raise

    def prepare(self, record: Mapping[str, Any], *, resume: bool, overwrite: bool) -> None:
        """Create the folder and its config, or check it against an existing one.

        A folder whose run stopped before its first checkpoint (only ``config.json`` and
        ``metrics.jsonl``) is started again without ``overwrite`` when the config is the same.

        Raises:
            ValueError: the folder holds a run and neither ``resume`` (same config) nor
                ``overwrite`` was given; ``resume`` with a different config or without
                ``config.json``; ``path`` exists and is not a folder.
        """
        record = json.loads(json.dumps(record))  # normalise tuples etc. to their JSON form
        self._check_place(resume=resume)
        config_path = self.file(CONFIG_FILE)
        existing = [n for n in RUN_FILES if self.file(n).exists()]
        if resume:
            old = self.read_config()
            diff = _differences(old, record)
            if diff:
                raise bad_value("--resume", str(self.path), "the same config as the run being resumed; differs in " + "; ".join(diff))
            return
        if existing and not overwrite and set(existing) <= {CONFIG_FILE, METRICS_FILE} and config_path.exists():
            if not _differences(self.read_config(), record):
                # A run stopped before its first checkpoint left nothing to continue: start it again.
                self.file(METRICS_FILE).unlink(missing_ok=True)
                return
        if existing and not overwrite:
            if config_path.exists():
                diff = _differences(self.read_config(), record)
                what = "a different config (" + "; ".join(diff) + ")" if diff else "the same config"
            else:
                what = "files " + ", ".join(existing)
            raise bad_value(
                "--out", str(self.path), f"a new run directory; it already holds a run with {what}: pass --resume to continue it or --overwrite to replace it"
            )
        if overwrite:
            for name in existing:
                self.file(name).unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_path, json.dumps(record, indent=2, sort_keys=True) + "\n")

    def read_config(self) -> dict[str, Any]:
        """The run record of ``config.json``; a record written before generators existed reads as Spirograph's."""
        try:
            record = json.loads(self.file(CONFIG_FILE).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise bad_value("config.json", str(self.file(CONFIG_FILE)), f"valid JSON ({err})") from None
        if isinstance(record, dict) and isinstance(record.get("train"), dict):
            # 0.1/0.2 records have no generator: their views were Spirograph's with its default options.
            record["train"] = {**LEGACY_TRAIN_SETTINGS, **record["train"]}
        return record

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Write ``checkpoint.pt`` atomically (the previous one stays intact until the new one is complete).

        The same state gives the same bytes, so same-seed runs write identical checkpoints.
        """
        save_torch(dict(state, format=CHECKPOINT_FORMAT), self.file(CHECKPOINT_FILE))

    def save_encoder(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Write the trained encoder's state dict to ``encoder.pt`` atomically, reproducibly."""
        save_torch(state_dict, self.file(ENCODER_FILE))

    def load_checkpoint(self, map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """Read ``checkpoint.pt``.

        Raises:
            ValueError: the file is missing, damaged (a zip member fails its CRC-32), unreadable or
                not a training checkpoint.
        """
        path = self.file(CHECKPOINT_FILE)
        if not path.exists():
            raise bad_value("checkpoint", str(path), "an existing checkpoint file")
        check_torch_file(path, argument="checkpoint")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # torch.load raises many kinds (zip, pickle, EOF, runtime) on damage
            detail = (str(err).strip().splitlines() or [""])[0][:160]
            raise bad_value("checkpoint", str(path), f"a readable training checkpoint; it is corrupted ({type(err).__name__}: {detail})") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or any(k not in state for k in _CHECKPOINT_KEYS):
            raise bad_value("checkpoint", str(path), f"a {CHECKPOINT_FORMAT} file with keys {', '.join(_CHECKPOINT_KEYS)}")
        return state

    def truncate_metrics(self, completed_steps: int) -> None:
        """Drop metrics lines beyond ``completed_steps`` (written after the checkpoint a run resumes from)."""
        path = self.file(METRICS_FILE)
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= completed_steps:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut off by the interruption
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def append_metrics(self, entry: Mapping[str, Any]) -> None:
        with open(self.file(METRICS_FILE), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
