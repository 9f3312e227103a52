"""The ``spirograph plot-run`` subcommand: the training curves of one or more runs on one figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._io import refuse_inputs


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``plot-run`` to the ``spirograph`` command."""
    parser = subparsers.add_parser(
        "plot-run",
        help="draw the training curves of one or more runs (their metrics.jsonl) on one figure",
        description="Draw loss, the other logged terms, learning rate and throughput against step for each run "
        "directory (or metrics.jsonl file), all runs on one figure, one colour per run.",
        epilog="example:\n  spirograph plot-run runs/simclr-s0 runs/invclr-s0 --out curves.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories of spirograph-train, or metrics.jsonl files")
    parser.add_argument("--out", required=True, metavar="curves.png", help="output figure (.png, .pdf, .svg, ...)")
    parser.add_argument("--title", help="figure title")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run_plot_run)


def _log_of(run: str) -> str:
    """The file plot-run reads for ``run``: RUN_DIR/metrics.jsonl, or the file named."""
    path = Path(run)
    return str(path / "metrics.jsonl") if path.is_dir() else run


def run_plot_run(args: argparse.Namespace) -> int:
    """Handler of ``spirograph plot-run``: the output is checked before any log is read."""
    from .viz import training_curves

    refuse_inputs({"--out": args.out}, {f"input {run!r}'s log": _log_of(run) for run in args.runs})
    # training_curves checks the output path and reads every log before it draws anything.
    training_curves(args.runs, title=args.title, path=args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({len(args.runs)} run{'s' if len(args.runs) != 1 else ''})")
    return 0
