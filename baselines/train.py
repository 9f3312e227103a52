"""``spirograph-train``: train a contrastive baseline on views rendered on the fly, then score it.

A fixed set of training contents (paper: 100,000) is drawn once; every step renders the batch's
views on the training device with fresh nuisance draws per view. Runs are resumable (a resumed CPU
run with the same number of threads continues bit for bit as an uninterrupted one), distributed
with ``torchrun`` (each rank renders its own shard) and end with a harness score written into the
run directory.

    spirograph-train --method invclr --preset cpu-quick --out runs/invclr-s0 --seed 0
    torchrun --nproc_per_node 2 -m spirograph_baselines.train --method simclr --out runs/ddp
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.distributed as dist

from spirograph import _signals
from spirograph._io import disk_full
from spirograph._validate import bad_value, check_int, command_line, error_line, unknown_name
from spirograph.cli import flags

from . import presets as presets_mod
from .checkpoint import CHECKPOINT_FILE, RESULT_FILE, RUN_FILES, RunDir, TrainingError
from .config import TrainConfig
from .loop import Trainer
from .methods import available_methods, get_method

SUITES_NONE = "none"


def parse_value(text: str) -> Any:
    """Parse an override value: JSON (numbers, true/false, null, lists, objects) or a bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_overrides(pairs: Sequence[str], method_cls) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sort ``KEY=VALUE`` strings into training settings and method settings.

    Raises:
        ValueError: malformed pair or a key that is neither (with a did-you-mean hint).
    """
    import dataclasses

    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    method_fields = {f.name for f in dataclasses.fields(method_cls.Config)}
    train, method = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise bad_value("--set", pair, "KEY=VALUE")
        if key in train_fields:
            train[key] = parse_value(value)
        elif key in method_fields:
            method[key] = parse_value(value)
        else:
            raise unknown_name("setting", key, train_fields | method_fields)
    return train, method


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spirograph-train",
        description="Train a contrastive baseline on views rendered on the fly by a registered generator "
        "(default Spirograph) and score it with the harness.",
    )
    parser.add_argument("--generator", default=None,
                        help="generator of the training views and of the suite scored (default: spirograph; the same as "
                        "--set generator=NAME; `spirograph generators` lists them)")
    parser.add_argument("--method", required=True, help="training method: " + ", ".join(available_methods()))
    parser.add_argument("--preset", default="paper", help="settings preset: " + ", ".join(presets_mod.available_presets()))
    parser.add_argument("--out", required=True, type=Path, help="run directory: config.json, metrics.jsonl, curves.png, checkpoint.pt, encoder.pt, "
                        "result.json, and method_report.json for methods that evaluate themselves (clever, clever-nuisance)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, batch order and nuisance draws")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training or method setting, e.g. --set lam=0.02 --set batch_size=256")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run directory's files")
    parser.add_argument("--device", default=None, help="training device (default: cuda if available, else cpu)")
    parser.add_argument("--suite", default="quick", help="harness suite scored at the end, or 'none'")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per process (torch.set_num_threads)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--validate", action="store_true",
                        help="also write validation.json: a ridge probe on validation contents (never the test items)")
    return parser


def _default_device(local_rank: int) -> str:
    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def _init_distributed(device_arg: str | None) -> tuple[int, int, torch.device]:
    """Join the torchrun process group if there is one: ``(rank, world_size, device)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        device = torch.device(device_arg or _default_device(local_rank))
    except (RuntimeError, TypeError):
        raise bad_value("--device", device_arg, "a torch device such as 'cpu', 'cuda' or 'cuda:1'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise bad_value("--device", device_arg, "an available device (CUDA is not available here)")
    if device.type not in ("cpu", "cuda"):
        raise bad_value("--device", device_arg, "'cpu' or a CUDA device")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, (dist.get_world_size() if dist.is_initialized() else 1), device


def run(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Validate the arguments, train, score; return the run directory."""
    method_cls = get_method(args.method)
    preset = presets_mod.get_preset(args.preset)
    check_int("--seed", args.seed, 0)
    if args.resume and args.overwrite:
        raise bad_value("--resume/--overwrite", (True, True), "at most one of them")
    if args.threads is not None:
        torch.set_num_threads(check_int("--threads", args.threads, 1))
    train_over, method_over = split_overrides(args.overrides, method_cls)
    if args.generator is not None:
        if "generator" in train_over and train_over["generator"] != args.generator:
            raise bad_value("--generator", args.generator, f"the generator of --set generator={train_over['generator']} (or only one of them)")
        train_over["generator"] = args.generator
    train_cfg = TrainConfig.from_overrides(preset.train_settings(method_cls), train_over)
    if args.suite != SUITES_NONE:
        from spirograph.harness.suites import available_suites

        suites = available_suites(generator=train_cfg.generator)
        if args.suite not in suites:
            owner = None if train_cfg.generator == "spirograph" else f"generator {train_cfg.generator!r}"
            raise unknown_name("suite", args.suite, (*suites, SUITES_NONE), owner=owner)
    method_cfg = method_cls.Config.from_overrides({**preset.method_settings(method_cls), **method_over})
    if args.suite != SUITES_NONE:
        from spirograph.harness.suites import get_suite

        options = get_suite(args.suite, generator=train_cfg.generator).render_options()
        trained = train_cfg.render_options()
        if options != trained:
            raise bad_value("--suite", args.suite, f"a suite that renders like the training views {trained} (it renders {options}), or 'none'")
    rank, world, device = _init_distributed(args.device)
    train_cfg.check_world_size(world)
    record = {
        "method": args.method,
        "preset": args.preset,
        "seed": args.seed,
        "world_size": world,
        "train": train_cfg.to_dict(),
        "method_config": method_cfg.to_dict(),
    }
    run_dir = RunDir(args.out)
    trainer: Trainer | None = None
    try:
        with contextlib.ExitStack() as stack:
            if rank == 0:  # rank 0 holds the run directory's lock for the whole run, scoring included
                stack.enter_context(run_dir.claim(record, resume=args.resume, overwrite=args.overwrite))
            if world > 1:
                dist.barrier()
            trainer = Trainer(
                method_name=args.method,
                method_config=method_cfg,
                train_config=train_cfg,
                seed=args.seed,
                device=device,
                run_dir=run_dir,
                rank=rank,
                world_size=world,
                progress=not args.no_progress,
            )
            if args.resume and not trainer.resume() and rank == 0:
                print(f"spirograph-train: note: {run_dir.path} has no checkpoint yet; starting from step 0", file=sys.stderr)
            trainer.fit()
            result = None
            if rank == 0:
                from spirograph.viz import write_run_curves

                write_run_curves(run_dir.path)  # curves.png: the run's metrics.jsonl, drawn at the end of every run
                if args.validate:
                    trainer.write_validation()
                if args.suite != SUITES_NONE:
                    command = "spirograph-train " + " ".join(argv)
                    result = trainer.score(args.suite, name=f"{args.method}-{args.preset}-seed{args.seed}", command=command)
                print(_closing_line(run_dir, trainer, args.suite, result), flush=True)
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(run_dir, trainer)) from None
    except OSError as err:
        if disk_full(err):
            raise TrainingError(f"the disk is full; {_kept(run_dir, trainer)}: free some space and rerun with --resume") from None
        raise
    return run_dir.path


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; the message says what is kept and how to go on."""


def _kept(run_dir: RunDir, trainer: Trainer | None) -> str:
    """What a stopped run keeps: its last good checkpoint, or nothing to continue from."""
    if trainer is None or trainer.saved_step is None:
        return f"no checkpoint was written yet ({run_dir.path} restarts from step 0 with --resume)"
    return f"the last good checkpoint {run_dir.file(CHECKPOINT_FILE)} (step {trainer.saved_step}) is kept"


def _interrupted(run_dir: RunDir, trainer: Trainer | None) -> str:
    if trainer is None:
        return "interrupted before training started"
    total = trainer.cfg.total_steps
    if trainer.step >= total and trainer.saved_step == total:
        return (
            f"interrupted after training finished (step {total}, checkpoint kept in {run_dir.path}); "
            "rerun with --resume to write the curves and the score"
        )
    where = f"interrupted at step {trainer.step} of {total}"
    if trainer.saved_step is None:
        return f"{where}, before the first checkpoint: rerun with --resume to start again from step 0"
    return f"{where}; {_kept(run_dir, trainer)}: rerun with --resume to continue"


def _closing_line(run_dir: RunDir, trainer: Trainer, suite: str, result) -> str:
    """One line at the end of a run: the score, if any, and where every output is."""
    files = ", ".join(f"{name} {run_dir.path / name}" for name in ("curves.png", "encoder.pt", "checkpoint.pt"))
    line = f"spirograph-train: trained {trainer.method.name} for {trainer.step} steps; "
    if result is not None:
        r2, mse = result.metric("linear.mean_r2"), result.metric("linear.mean_mse")
        line += f"{suite} suite: linear mean R² {r2:.3f}, mean MSE {mse:.3g} ({run_dir.file(RESULT_FILE)}); "
    return line + files


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spirograph-train``; returns the exit code (2 for bad input, 1 for a failed run, 130 when interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _signals.interrupts(), command_line(flags(parser)):
            run(args, argv)
    except KeyboardInterrupt as err:
        print(f"spirograph-train: {err or 'interrupted'}", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        print(f"spirograph-train: error: {error_line(err)}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"spirograph-train: training stopped: {error_line(err)}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


__all__ = ["RUN_FILES", "TrainingError", "build_parser", "main", "run", "split_overrides"]

if __name__ == "__main__":
    sys.exit(main())
