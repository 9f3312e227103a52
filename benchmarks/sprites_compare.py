"""Sprites renderer timings side by side in one process, interleaved: blocked, plain, and InfiniteDSprites.

Run: python benchmarks/sprites_compare.py [--threads 2] [--batch 4096] [--rounds 7] [--idsprites 512]

Steps, at batch 4096, resolution 32, float32 (CPU):
- ``forward``: images without autograd. ``blocked`` is ``render_unchecked`` (cache-sized blocks,
  in place); ``plain`` is ``reference.render_plain``, the same formulas evaluated once on the whole
  batch, out of place; ``fused`` is ``render_unchecked`` with ``SPIROGRAPH_COMPILE=1`` (the
  kernels of ``sprites.fused``, built by torch.compile before timing; the build time is printed).
- ``double``: the InvCLR penalty's pattern (PROTOCOL.md §3): fixed projection of the image, L2
  normalisation, first-order gradient with respect to the nine nuisance factors with
  ``create_graph=True``, backward of the squared directional derivative. ``blocked`` renders in
  autograd blocks joined by one concatenation; ``plain`` is one graph over the whole batch;
  ``fused`` the autograd functions of ``sprites.fused``.
- ``idsprites``: InfiniteDSprites' own generation (``pip install idsprites``; ``cv2.fillPoly``, one
  image at a time, not differentiable) at the same image size: ``draw`` of pre-generated shapes
  with random factors, with and without its default orientation marker. Images per second are
  reported per image drawn (it draws ``--idsprites`` images per round, not the batch).

One round of every entry in turn, medians quoted: on shared cores timings drift within minutes,
so only ratios from the same run are meaningful.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from spirograph.generators import compile_switch
from spirograph.generators.sprites import DEFAULT_NUISANCE, DEFAULT_RANGES, render_unchecked
from spirograph.generators.sprites.reference import render_plain


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def factors(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: (lo + (hi - lo) * torch.rand(batch, generator=g, dtype=torch.float64)).float() for k, (lo, hi) in DEFAULT_RANGES.items()}


def penalty_step(render_fn, f: dict[str, torch.Tensor], projection: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Forward, the gradient with respect to the nuisance with create_graph, backward of the squared directional derivative."""
    nuisance = torch.stack([f[n] for n in DEFAULT_NUISANCE], dim=1).requires_grad_(True)
    leaf = {**f, **dict(zip(DEFAULT_NUISANCE, nuisance.unbind(1)))}
    features = render_fn(leaf).flatten(1) @ projection
    features = features / features.norm(dim=1, keepdim=True)
    (grad,) = torch.autograd.grad(features.sum(), nuisance, create_graph=True)
    penalty = (grad * (target - nuisance)).sum(dim=1).pow(2).mean()
    penalty.backward()
    return penalty


def with_setting(value: str, step):
    def run():
        with compile_switch.setting(value):
            return step()

    return run


def idsprites_steps(n: int, size: int):
    """``{name: callable}`` drawing ``n`` InfiniteDSprites images, or the reason it cannot run."""
    try:
        import numpy as np
        from idsprites import InfiniteDSprites
    except Exception as error:  # an optional dependency: any import failure is reported, not raised
        return f"idsprites not importable ({type(error).__name__}: {error})"
    np.random.seed(0)
    steps, shapes, draws = {}, None, None
    for marker in (True, False):  # the same shapes and factors with and without the marker
        dataset = InfiniteDSprites(img_size=size, shapes=shapes if shapes is not None else 64, orientation_marker=marker)
        shapes = dataset.shapes
        draws = draws or [dataset.sample_factors() for _ in range(n)]
        dataset.draw(draws[0])  # numba compiles its pixel search on first use
        steps[f"idsprites draw{'' if marker else ' (no marker)'}"] = lambda d=dataset, fs=draws: [d.draw(f) for f in fs]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--double-rounds", type=int, default=3)
    parser.add_argument("--idsprites", type=int, default=512, help="images InfiniteDSprites draws per round (0: skip)")
    parser.add_argument(
        "--timer", choices=("wall", "process"), default="wall", help="process: this process's CPU time (with --threads 1, robust to load)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    f = factors(args.batch)
    projection = torch.randn(3 * args.resolution**2, 64, generator=torch.Generator().manual_seed(0)) / 55
    target = torch.stack([factors(args.batch, 1)[n] for n in DEFAULT_NUISANCE], dim=1)
    blocked = with_setting("0", lambda: render_unchecked(f, resolution=args.resolution))
    forward = {
        "forward blocked": blocked,
        "forward plain": lambda: render_plain(f, resolution=args.resolution),
        "forward fused": with_setting("1", lambda: render_unchecked(f, resolution=args.resolution)),
    }
    double = {
        "double blocked": with_setting(
            "0", lambda: penalty_step(lambda x: render_unchecked(x, resolution=args.resolution), f, projection, target)
        ),
        "double plain": lambda: penalty_step(lambda x: render_plain(x, resolution=args.resolution), f, projection, target),
        "double fused": with_setting(
            "1", lambda: penalty_step(lambda x: render_unchecked(x, resolution=args.resolution), f, projection, target)
        ),
    }
    extra = idsprites_steps(args.idsprites, args.resolution) if args.idsprites else {}
    counts = {**{k: args.batch for k in {**forward, **double}}, **({k: args.idsprites for k in extra} if isinstance(extra, dict) else {})}
    times: dict[str, list[float]] = {k: [] for k in counts}
    clock = time.perf_counter if args.timer == "wall" else time.process_time
    print(
        f"# {cpu_name()}, torch {torch.__version__}, {args.threads} threads, {args.timer} time, load before {os.getloadavg()}", flush=True
    )
    for name in ("forward fused", "double fused"):  # build the fused kernels (or load them from torch's disk cache)
        start = time.perf_counter()
        with torch.no_grad() if name.startswith("forward") else torch.enable_grad():
            {**forward, **double}[name]()
        print(f"# {name}: first call (build or cache load) {time.perf_counter() - start:.1f} s", flush=True)
    for r in range(max(args.rounds, args.double_rounds)):
        entries = {**(forward if r < args.rounds else {}), **(double if r < args.double_rounds else {})}
        if r < args.rounds and isinstance(extra, dict):
            entries.update(extra)
        for name, fn in entries.items():
            start = clock()
            with torch.no_grad() if name.startswith("forward") else torch.enable_grad():
                fn()
            times[name].append(clock() - start)
    print(f"# load after {os.getloadavg()}")
    if isinstance(extra, str):
        print(f"# {extra}")
    print("| step | median | images/s | rounds |")
    print("|---|---|---|---|")
    for name, values in times.items():
        if not values:
            continue
        median = statistics.median(values)
        print(f"| {name} | {median * 1e3:.1f} ms | {counts[name] / median:,.0f} | {len(values)} |")
    for step in ("forward", "double"):
        if not times[f"{step} plain"]:
            continue
        median = {kind: statistics.median(times[f"{step} {kind}"]) for kind in ("plain", "blocked", "fused")}
        print(
            f"# {step}: plain / blocked = {median['plain'] / median['blocked']:.2f}x, blocked / fused = {median['blocked'] / median['fused']:.2f}x"
        )


if __name__ == "__main__":
    main()
