"""Score finished training runs again with the harness, e.g. after a new suite version.

    python -m spirograph_baselines.rescore runs/q3/simclr-s0 runs/q3/invclr-s0 [--suite quick] [--overwrite]

Each run directory's encoder is rebuilt from ``config.json`` and ``encoder.pt`` and scored; the
entry name and disclosures are those ``spirograph-train`` writes at the end of a run, taken from
the run's recorded configuration, and the suite is that of the generator the run trained on.
``result.json`` is written into the run directory (an existing
one is replaced only with ``--overwrite``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from spirograph import _signals
from spirograph._validate import command_line, error_line
from spirograph.cli import flags

from .checkpoint import CONFIG_FILE, RESULT_FILE
from .load import load_encoder
from .methods import get_method


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of dotted keys with scalar values (lists become JSON text)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, float) and not math.isfinite(value):
            out[f"{prefix}{key}"] = str(value)  # JSON has no inf: a clamp of inf is disclosed as "inf"
        elif value is None or isinstance(value, (str, bool, int, float)):
            out[f"{prefix}{key}"] = value
        else:
            out[f"{prefix}{key}"] = json.dumps(value)
    return out


def run_disclosures(record: Mapping[str, Any]) -> dict[str, Any]:
    """The leaderboard disclosures of a run from its recorded configuration (``config.json``).

    ``uses_nuisance_labels`` is the method's own declaration: a method that differentiates the
    renderer with respect to the nuisance (InvCLR's penalty) or regresses it uses nuisance labels.
    """
    method_cls = get_method(record["method"])
    return flatten(
        {
            "method": record["method"],
            "uses_nuisance_labels": bool(method_cls.uses_nuisance_labels),
            "config": record["method_config"],
            "test_time_passes": 1,
            "training": {k: record[k] for k in ("preset", "seed", "world_size", "train")},
        }
    )


def run_name(record: Mapping[str, Any]) -> str:
    """The leaderboard name of a run: ``<method>-<preset>-seed<seed>``."""
    return f"{record['method']}-{record['preset']}-seed{record['seed']}"


def rescore(run_dir: str | Path, *, suite: str = "quick", device: str = "cpu", overwrite: bool = False, progress: bool = True) -> Any:
    """Score the finished run in ``run_dir`` and write its ``result.json``; return the ``ScoreResult``.

    Raises:
        ValueError: not a finished run directory, or a result exists and ``overwrite`` is false.
    """
    import spirograph
    from spirograph._io import check_output_path

    path = Path(run_dir)
    target = check_output_path(path / RESULT_FILE, overwrite=overwrite)
    encoder = load_encoder(path, device=device)
    record = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    # The suite of the generator the run trained on (runs of 0.2 record none: Spirograph).
    generator = record["train"].get("generator", "spirograph")
    command = f"python -m spirograph_baselines.rescore {path} --suite {suite}"
    result = spirograph.score(encoder, suite=suite, generator=generator, device=device, name=run_name(record),
                              disclosures=run_disclosures(record), command=command, progress=progress)
    result.save(target, overwrite=overwrite)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spirograph_baselines.rescore", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished spirograph-train run directories")
    parser.add_argument("--suite", default="quick", help="harness suite (default quick)")
    parser.add_argument("--device", default="cpu", help="scoring device")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result.json")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    try:
        with _signals.interrupts(), command_line(flags(parser)):
            for run in args.runs:
                result = rescore(run, suite=args.suite, device=args.device, overwrite=args.overwrite, progress=not args.no_progress)
                print(f"{run}: {result!r}")
    except (ValueError, OSError) as err:
        print(f"rescore: error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rescore: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
