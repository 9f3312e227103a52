"""``spirograph-demo``: the whole benchmark on its built-in defaults, end to end, on a CPU.

Steps (each skipped when its output already exists, so a re-run reuses finished work):

1. generate a small HDF5 split file (train/test plus a background-shift split) and verify it;
2. draw a sample grid from it;
3. train ``simclr`` and ``invclr`` with the ``cpu-quick`` preset (an interrupted run resumes
   from its checkpoint) and score each with the harness's ``quick`` suite;
4. score the reference entries (oracle, raw pixels, random ConvNet) on the same suite;
5. print the leaderboard and write it as markdown, with a figure of the feature-averaging and
   robustness curves.

Every step runs through the same commands a user would type (``spirograph ...``,
``spirograph-train ...``), so the demo exercises exactly the documented interface.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from spirograph import cli as spirograph_cli
from spirograph._validate import check_int
from spirograph.harness.suites import get_suite

from . import train as train_cli
from .checkpoint import CHECKPOINT_FILE, RESULT_FILE
from .presets import get_preset

METHODS = ("simclr", "invclr")
REFERENCES = ("oracle", "pixels", "random-convnet")


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the command to re-run by hand."""


def _run(label: str, entry: Callable[[list[str]], int], argv: list[str], program: str) -> None:
    """Run one CLI step in-process and fail loudly (with the command line) if it fails."""
    command = program + " " + " ".join(shlex.quote(a) for a in argv)
    print(f"\n==> {label}\n    $ {command}", flush=True)
    start = time.perf_counter()
    status = entry(argv)
    if status != 0:
        raise DemoError(f"step '{label}' failed with exit status {status}; re-run: {command}")
    print(f"    done in {time.perf_counter() - start:.0f} s", flush=True)


def _skip(label: str, path: Path) -> None:
    print(f"\n==> {label}\n    reusing {path}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spirograph-demo",
        description="Generate a split, train simclr and invclr briefly (cpu-quick), score them and the "
        "reference entries on the quick suite, and print the leaderboard. Re-running reuses finished steps.",
    )
    parser.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of training (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--suite", default="quick", help="harness suite (default: quick)")
    parser.add_argument("--preset", default="cpu-quick", help="training preset (default: cpu-quick)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="training setting passed to spirograph-train, e.g. --set epochs=2 (repeatable)",
    )
    parser.add_argument("--train", type=int, default=2000, help="training items in the demo split file (default: 2000)")
    parser.add_argument("--test", type=int, default=500, help="test items in the demo split file (default: 500)")
    return parser


def run(args: argparse.Namespace) -> Path:
    """Run every step of the demo; return the leaderboard markdown path."""
    # Check every argument before the first step, so a typo costs nothing and writes nothing.
    check_int("--seed", args.seed, 0)
    check_int("--train", args.train, 1)
    check_int("--test", args.test, 1)
    get_suite(args.suite)
    get_preset(args.preset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, grid = out / "data.h5", out / "samples.png"
    results = out / "results"
    results.mkdir(exist_ok=True)

    if data.exists():
        _skip("split file", data)
    else:
        partial = Path(str(data) + ".partial")
        argv = ["generate", str(data), "--train", str(args.train), "--test", str(args.test), "--seed", str(args.seed), "--shifts", "bg_mean:0.4"]
        _run("generate a split file", spirograph_cli.main, argv + (["--resume"] if partial.exists() else []), "spirograph")
    _run("verify the split file", spirograph_cli.main, ["verify", str(data)], "spirograph")
    if grid.exists():
        _skip("sample grid", grid)
    else:
        _run("draw a sample grid", spirograph_cli.main, ["show", str(data), "--out", str(grid)], "spirograph")

    entries = []
    for method in METHODS:
        run_dir = out / method
        result = run_dir / RESULT_FILE
        entries.append(result)
        if result.exists():
            _skip(f"train and score {method}", result)
            continue
        argv = ["--method", method, "--preset", args.preset, "--out", str(run_dir), "--seed", str(args.seed), "--device", args.device, "--suite", args.suite]
        argv += [f"--set={item}" for item in args.overrides]
        if (run_dir / CHECKPOINT_FILE).exists():
            argv.append("--resume")
        elif run_dir.exists():
            argv.append("--overwrite")  # a directory without checkpoint holds nothing worth keeping
        _run(f"train and score {method} ({args.preset})", train_cli.main, argv, "spirograph-train")

    for reference in REFERENCES:
        result = results / f"{reference}.json"
        entries.append(result)
        if result.exists():
            _skip(f"score reference '{reference}'", result)
            continue
        argv = ["score", "--reference", reference, "--suite", args.suite, "--device", args.device, "--out", str(result)]
        _run(f"score reference '{reference}'", spirograph_cli.main, argv, "spirograph")

    table, plot = out / "leaderboard.md", out / "leaderboard.png"
    argv = ["leaderboard", *map(str, entries), "--out", str(table), "--plot", str(plot), "--overwrite"]
    _run("render the leaderboard", spirograph_cli.main, argv, "spirograph")
    print("\n" + table.read_text())
    print("Figures:")
    print(f"  sample grid:                           {grid}")
    print(f"  feature-averaging and robustness curves: {plot}")
    print(f"Leaderboard markdown: {table}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spirograph-demo``."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError, DemoError) as err:
        print(f"spirograph-demo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spirograph-demo: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
