"""The worst-case curve as its search budget doubles: how much each point still grows (benchmarks/README.md).

    python benchmarks/worst_case_budget.py RUN_DIR... [--random-convnet] [--generator spirograph] [--items 128]
        [--first 0] [--levels 7] [--epsilons 0.05,0.1,0.25] [--out budget.json]

For each encoder (trained runs of ``spirograph-train``, and the random reference ConvNet), the
content probe is fitted once on the generator's quick suite's probe-training items; then the
``worst_case`` task runs on the first ``--items`` test contents of that suite at each budget of
``LEVELS`` (each about twice the cost of the one before: draws k, restarts R, steps S, step size),
at the suite's neighbourhood sizes or ``--epsilons``. The suite's budget is the first level after
which doubling adds less than 5% to every curve point.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from spirograph.harness.encoders import RandomConvNet
from spirograph.harness.features import FeatureSource
from spirograph.harness.metrics import Bootstrap
from spirograph.harness.suites import get_suite
from spirograph.harness.tasks import Context, run_worst_case

LEVELS: tuple[tuple[int, int, int, float], ...] = (
    (4, 1, 4, 0.5),
    (8, 1, 8, 0.25),
    (16, 2, 8, 0.25),
    (32, 2, 16, 0.125),
    (64, 4, 16, 0.125),
    (128, 4, 32, 0.0625),
    (256, 8, 32, 0.0625),
    (512, 8, 64, 0.03125),
)
"""(k draws, R restarts, S steps, step size as a fraction of the neighbourhood's half-width); the cost
per item and ε, in forward passes (a forward-and-backward pass counted as 3), is about k + 2 + R·(3S + 1)."""


def curve(encoder: torch.nn.Module, items: int, levels: int, epsilons: tuple[float, ...] | None = None,
          first: int = 0, generator: str = "spirograph") -> list[dict]:
    """Worst-case curve of ``encoder`` at budgets ``first`` to ``levels`` - 1 of ``LEVELS`` (the suite's ε, or ``epsilons``)."""
    quick = get_suite("quick", generator=generator)
    if epsilons is not None:
        quick = dataclasses.replace(quick, worst_case_epsilons=epsilons)
    source = FeatureSource(encoder, quick, device="cpu", progress=False)
    ctx = Context(source, quick, Bootstrap(quick.bootstrap_resamples, quick.confidence, quick.seed), ("linear", "worst_case"))
    ctx.content_probe()
    out = []
    for draws, restarts, steps, step_size in LEVELS[first:levels]:
        ctx.suite = dataclasses.replace(quick, n_worst_case=items, worst_case_draws=draws, worst_case_restarts=restarts,
                                        worst_case_steps=steps, worst_case_step_size=step_size)
        tick = time.perf_counter()
        metrics = run_worst_case(ctx)["worst_case"]
        out.append({"draws": draws, "restarts": restarts, "steps": steps, "step_size": step_size,
                    "seconds": round(time.perf_counter() - tick, 1),
                    "area": metrics["area"]["value"],
                    "curve": {p["epsilon"]: p["normalized_mse"]["value"] for p in metrics["curve"]}})
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    return out


def main() -> int:
    from spirograph_baselines.load import load_encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="finished spirograph-train run directories")
    parser.add_argument("--random-convnet", action="store_true", help="also the random reference ConvNet")
    parser.add_argument("--generator", default="spirograph", help="whose quick suite (default spirograph)")
    parser.add_argument("--items", type=int, default=128, help="test contents (default 128)")
    parser.add_argument("--levels", type=int, default=len(LEVELS), help="how many budgets of LEVELS (default all)")
    parser.add_argument("--first", type=int, default=0, help="skip the first budgets of LEVELS (default 0)")
    parser.add_argument("--epsilons", type=lambda text: tuple(float(v) for v in text.split(",")), default=None,
                        help="neighbourhood sizes, comma-separated (default: the quick suite's)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    encoders = {run.name: load_encoder(run) for run in args.runs}
    if args.random_convnet:
        encoders["random-convnet"] = RandomConvNet().eval()  # the reference entry's seed and architecture
    results = {}
    for name, encoder in encoders.items():
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = curve(encoder, args.items, args.levels, args.epsilons, args.first, args.generator)
        if args.out is not None:
            args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for name, levels in results.items():
        print(f"\n{name}: normalised worst-case error per ε, and its growth over the level before")
        for i, level in enumerate(levels):
            growth = ["" if i == 0 else f" ({level['curve'][e] / levels[i - 1]['curve'][e] - 1:+.1%})" for e in level["curve"]]
            points = ", ".join(f"{e:g}: {v:.3f}{g}" for (e, v), g in zip(level["curve"].items(), growth))
            print(f"  k={level['draws']} R={level['restarts']} S={level['steps']} step={level['step_size']}: {points}; "
                  f"area {level['area']:.3f}; {level['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
