"""Renderer timings side by side in one process, interleaved: current, dense, and optionally a git revision.

Run: python benchmarks/render_compare.py [--against REV] [--threads 2] [--batch 4096] [--rounds 7]

On a machine other jobs share, timings drift by 2x within minutes; taking one round of every
renderer in turn and quoting medians keeps the ratios honest. ``--against REV`` loads
``spirograph/render.py`` as it was at REV (relative imports resolve against the current package)
so before/after figures come from the same run; ``--blocks 64,256`` adds the current renderer at
other block sizes. Steps: ``forward`` (no autograd),
``backward`` (forward + backward of a fixed linear image functional, gradient w.r.t. nuisance)
and ``double`` (the gradient penalty's pattern: fixed projection, L2 normalisation, first-order
gradient with ``create_graph=True``, backward of the squared directional derivative).
The dense form takes ~30x longer, so it runs in ``--dense-rounds`` rounds only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

import spirograph
from spirograph.generators.spirograph.dense import render_dense
from spirograph.generators.spirograph.render import render_unchecked

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render_at(rev: str):
    """``render_unchecked`` of ``spirograph/render.py`` at git revision ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:spirograph/render.py"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"spirograph._render_at_{rev}")
    module.__package__ = "spirograph"
    exec(compile(source, f"{rev}:spirograph/render.py", "exec"), module.__dict__)
    return module.render_unchecked


def steps(batch: int):
    gen = spirograph.Spirograph()
    content, nuisance = gen.sample(batch, seed=0, stream="bench")
    g = torch.Generator().manual_seed(0)
    weights = torch.randn(3, 32, 32, generator=g)
    projection = torch.randn(3 * 32 * 32, 64, generator=g) / 55

    def forward(fn):
        with torch.no_grad():
            fn(gen.factors(content, nuisance))

    def backward(fn):
        leaf = nuisance.detach().requires_grad_(True)
        (fn(gen.factors(content, leaf)) * weights).sum().backward()

    def double(fn):
        leaf = nuisance.detach().requires_grad_(True)
        features = fn(gen.factors(content, leaf)).flatten(1) @ projection
        features = features / features.norm(dim=1, keepdim=True)
        (grad,) = torch.autograd.grad(features.sum(), leaf, create_graph=True)
        (grad * (0.5 - leaf)).sum(dim=1).pow(2).mean().backward()

    return {"forward": forward, "backward": backward, "double": double}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also time spirograph/render.py at this git revision")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dense-rounds", type=int, default=1, help="rounds of the dense form (0: skip it)")
    parser.add_argument("--steps", default="forward,backward,double")
    parser.add_argument("--blocks", default="", help="comma-separated CPU block sizes to time beside the default one")
    parser.add_argument("--timer", choices=("wall", "process"), default="wall", help="process: CPU time of this process (all threads)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.timer == "wall" else time.process_time
    renderers = {"current": render_unchecked}
    if args.against:
        renderers[args.against] = render_at(args.against)
    for block in filter(None, args.blocks.split(",")):
        renderers[f"block {block}"] = lambda factors, block=int(block): render_unchecked(factors, block=block)
    if args.dense_rounds:
        renderers["dense"] = render_dense
    chosen = {name: fn for name, fn in steps(args.batch).items() if name in args.steps.split(",")}
    load_before = os.getloadavg()
    times = {(s, r): [] for s in chosen for r in renderers}
    for step in chosen.values():  # warm-up: allocations, kernel selection
        for fn in renderers.values():
            step(fn)
    for i in range(args.rounds):
        for s, step in chosen.items():
            for r, fn in renderers.items():
                if r == "dense" and i >= args.dense_rounds:
                    continue
                start = clock()
                step(fn)
                times[(s, r)].append(clock() - start)
    load_after = os.getloadavg()
    print(
        f"# {cpu_name()} ({os.cpu_count()} CPUs), torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, "
        f"{args.timer} time, {args.rounds} rounds; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    names = list(renderers)
    print(
        "| step | "
        + " | ".join(f"{r}: median ms (images/s)" for r in names)
        + " | "
        + " | ".join(f"{r} / current" for r in names[1:])
        + " |"
    )
    print("|---" * (1 + 2 * len(names) - 1) + "|")
    for s in chosen:
        med = {r: statistics.median(times[(s, r)]) for r in names}
        cells = [f"{med[r] * 1e3:,.1f} ({args.batch / med[r]:,.0f})" for r in names]
        ratios = [f"{med[r] / med['current']:.1f}x" for r in names[1:]]
        print(f"| {s} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
