"""``spirograph-demo``: the whole benchmark on its built-in defaults, end to end, on a CPU.

Steps (each skipped when its output already exists, so a re-run reuses finished work):

1. generate a small HDF5 split file (train/test plus a background-shift split) and verify it;
2. draw a sample grid from it;
3. train ``simclr`` and ``invclr`` (an interrupted run resumes from its checkpoint) and score each;
4. score the reference entries (oracle, raw pixels, random ConvNet) on the same suite;
5. write the leaderboard (markdown, HTML page, curves figure) and print it.

The default budget, ``demo``, keeps the whole job within minutes on two CPU cores: the
``cpu-quick`` preset shortened to 4 of its 16 epochs, scored on the small ``demo`` suite defined
here. ``--budget full`` runs the real thing (the full ``cpu-quick`` preset, the ``quick`` suite),
which is what the README's results table reports. Every step runs through the same commands a
user would type (``spirograph ...``, ``spirograph-train ...``), so the demo exercises exactly the
documented interface; before each step one line gives its number, the time so far and an
estimate of the time left.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from spirograph import _signals
from spirograph import cli as spirograph_cli
from spirograph._validate import check_int, command_line, error_line, unknown_name
from spirograph.cli import flags
from spirograph.generators import get as get_generator
from spirograph.harness.suites import get_suite

from . import train as train_cli
from .checkpoint import CHECKPOINT_FILE, RESULT_FILE
from .presets import get_preset

METHODS = ("simclr", "invclr")
REFERENCES = ("oracle", "pixels", "random-convnet")

@dataclass(frozen=True)
class Budget:
    """A named size of the demo: training preset and overrides, and the suite scored."""

    name: str
    preset: str
    suite: str
    overrides: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    """Expected seconds of each kind of step on two idle cores, for the first estimate of the time left."""

    def describe(self) -> str:
        training = f"{self.preset}" + (f" with {', '.join(self.overrides)}" if self.overrides else "")
        return f"budget {self.name!r}: training {training}, scored on suite {self.suite!r}"


BUDGETS: dict[str, Budget] = {
    "demo": Budget(
        "demo", "cpu-quick", "demo", ("epochs=4",),
        # CPU seconds of each step, one thread (benchmarks/README.md, "Main job"): about 3.5 minutes in all.
        {"generate": 2, "verify": 1, "grid": 2, "simclr": 70, "invclr": 105, "oracle": 2, "pixels": 15, "random-convnet": 20, "leaderboard": 8},
    ),
    "full": Budget(
        "full", "cpu-quick", "quick", (),
        {"generate": 5, "verify": 2, "grid": 2, "simclr": 420, "invclr": 600, "oracle": 10, "pixels": 150, "random-convnet": 200, "leaderboard": 10},
    ),
}
"""``demo`` (default): minutes on two cores; ``full``: the README's results-table settings (``cpu-quick``, ``quick``)."""


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the command to re-run by hand."""


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class Step:
    """One step: a fixed title, its output (reused when present), and how to run it."""

    title: str
    kind: str
    output: Path | None
    run: Callable[[], None]


class Progress:
    """Prints ``step k/n: TITLE (elapsed m:ss, about m:ss left)`` before each step.

    The estimate scales the budget's expected seconds of the remaining steps by how fast the
    steps run so far went against their own expectation (reused steps count as instant). The
    ratio starts from 1 with the weight of ``PRIOR_S`` expected seconds, so a few short steps
    cannot swing it.
    """

    PRIOR_S = 60.0

    def __init__(self, steps: Sequence[Step], expected: dict[str, float]) -> None:
        self.steps, self.expected = list(steps), expected
        self.start = time.perf_counter()
        self.spent_expected = 0.0
        self.spent = 0.0

    def left(self, index: int) -> float:
        remaining = sum(self.expected.get(s.kind, 10.0) for s in self.steps[index:] if not _done(s))
        speed = (self.spent + self.PRIOR_S) / (self.spent_expected + self.PRIOR_S)
        return remaining * speed

    def run(self, index: int, step: Step) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"\nstep {index + 1}/{len(self.steps)}: {step.title} (elapsed {_clock(elapsed)}, about {_clock(self.left(index))} left)", flush=True)
        if _done(step):
            print(f"    reusing {step.output}", flush=True)
            return
        began = time.perf_counter()
        step.run()
        took = time.perf_counter() - began
        self.spent += took
        self.spent_expected += self.expected.get(step.kind, 10.0)
        print(f"    done in {took:.0f} s", flush=True)


def _done(step: Step) -> bool:
    return step.output is not None and step.output.exists()


def _command(entry: Callable[[list[str]], int], argv: list[str], program: str) -> Callable[[], None]:
    """A step that runs one CLI command in-process and fails loudly (with the command line)."""

    def run() -> None:
        command = program + " " + " ".join(shlex.quote(a) for a in argv)
        print(f"    $ {command}", flush=True)
        status = entry(argv)
        if status == 130:  # the command was interrupted and said so in one line
            raise KeyboardInterrupt
        if status != 0:
            raise DemoError(f"exit status {status}; re-run: {command}")

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spirograph-demo",
        description="Generate a split, train simclr and invclr briefly, score them and the reference entries, "
        "and print the leaderboard. The default budget 'demo' takes minutes on two CPU cores; '--budget full' uses "
        "the cpu-quick preset and the quick suite of the README's results table. Re-running reuses finished steps.",
    )
    parser.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    parser.add_argument("--budget", default="demo", help="demo (default) or full: " + "; ".join(b.describe() for b in BUDGETS.values()))
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of training (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--suite", default=None, help="harness suite (default: the budget's)")
    parser.add_argument("--generator", default="spirograph",
                        help="generator of the split file, the training views and the suite (default: spirograph)")
    parser.add_argument("--preset", default=None, help="training preset (default: the budget's)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="training setting passed to spirograph-train after the budget's, e.g. --set epochs=2 (repeatable)",
    )
    parser.add_argument("--train", type=int, default=2000, help="training items in the demo split file (default: 2000)")
    parser.add_argument("--test", type=int, default=500, help="test items in the demo split file (default: 500)")
    return parser


def _steps(args: argparse.Namespace, budget: Budget, suite: str, preset: str, out: Path) -> tuple[list[Step], list[Path]]:
    data, grid, results = out / "data.h5", out / "samples.png", out / "results"
    family = get_generator(args.generator).shifts[0]  # one shift split: the generator's first family at its last level
    chosen = [] if args.generator == "spirograph" else ["--generator", args.generator]  # commands as 0.2 recorded them
    generate = ["generate", str(data), *chosen, "--train", str(args.train), "--test", str(args.test),
                "--seed", str(args.seed), "--shifts", f"{family.split_name}:{family.split_levels[-1]:g}"]
    if Path(str(data) + ".partial").exists():
        generate.append("--resume")
    steps = [
        Step("generate a split file", "generate", data, _command(spirograph_cli.main, generate, "spirograph")),
        Step("verify the split file", "verify", None, _command(spirograph_cli.main, ["verify", str(data)], "spirograph")),
        Step("draw a sample grid", "grid", grid, _command(spirograph_cli.main, ["show", str(data), "--out", str(grid)], "spirograph")),
    ]
    entries = []
    for method in METHODS:
        run_dir = out / method
        entries.append(run_dir / RESULT_FILE)
        argv = ["--method", method, "--preset", preset, "--out", str(run_dir), "--seed", str(args.seed), "--device", args.device,
                "--suite", suite, *chosen]
        argv += [f"--set={item}" for item in (*budget.overrides, *args.overrides)]
        if (run_dir / CHECKPOINT_FILE).exists():
            argv.append("--resume")
        elif run_dir.exists():
            argv.append("--overwrite")  # a directory without checkpoint holds nothing worth keeping
        steps.append(Step(f"train and score {method}", method, run_dir / RESULT_FILE, _command(train_cli.main, argv, "spirograph-train")))
    for reference in REFERENCES:
        result = results / f"{reference}.json"
        entries.append(result)
        argv = ["score", "--reference", reference, "--suite", suite, *chosen, "--device", args.device, "--out", str(result)]
        steps.append(Step(f"score reference {reference}", reference, result, _command(spirograph_cli.main, argv, "spirograph")))
    board = ["leaderboard", *map(str, entries), "--out", str(out / "leaderboard.md"), "--plot", str(out / "leaderboard.png"),
             "--html", str(out / "leaderboard.html"), "--overwrite"]
    steps.append(Step("render the leaderboard", "leaderboard", None, _command(spirograph_cli.main, board, "spirograph")))
    return steps, entries


def run(args: argparse.Namespace) -> Path:
    """Run every step of the demo; return the leaderboard markdown path."""
    # Check every argument before the first step, so a typo costs nothing and writes nothing.
    if args.budget not in BUDGETS:
        raise unknown_name("budget", args.budget, BUDGETS)
    budget = BUDGETS[args.budget]
    check_int("--seed", args.seed, 0)
    check_int("--train", args.train, 1)
    check_int("--test", args.test, 1)
    suite = args.suite or budget.suite
    preset = args.preset or budget.preset
    get_suite(suite, generator=args.generator)
    get_preset(preset)
    out = Path(args.out)
    started = time.perf_counter()
    print(f"spirograph-demo: {budget.describe()}" + (f", suite overridden to {suite!r}" if args.suite else "")
          + (f", preset overridden to {preset!r}" if args.preset else "") + ".", flush=True)
    if budget.name != "full":
        print("    A shortened budget: the README's results table comes from --budget full (cpu-quick, quick suite); "
              "scores of different suites are not comparable.", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    steps, _ = _steps(args, budget, suite, preset, out)
    progress = Progress(steps, budget.seconds)
    for index, step in enumerate(steps):
        try:
            progress.run(index, step)
        except DemoError as err:
            raise DemoError(f"step {index + 1}/{len(steps)} '{step.title}' failed: {err}") from None
    table = out / "leaderboard.md"
    print("\n" + table.read_text(encoding="utf-8"))
    print("Outputs:")
    print(f"  sample grid:                             {out / 'samples.png'}")
    print(f"  training curves:                         {out / METHODS[0] / 'curves.png'}, {out / METHODS[1] / 'curves.png'}")
    print(f"  feature-averaging and robustness curves: {out / 'leaderboard.png'}")
    print(f"  leaderboard page (open in a browser):    {out / 'leaderboard.html'}")
    print(f"  leaderboard markdown:                    {table}")
    print(f"spirograph-demo: {len(steps)} steps in {_clock(time.perf_counter() - started)} ({budget.describe()}).")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spirograph-demo``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _signals.interrupts(), command_line(flags(parser)):
            run(args)
    except (ValueError, OSError, DemoError) as err:
        print(f"spirograph-demo: error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spirograph-demo: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
