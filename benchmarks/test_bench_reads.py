"""Batched reads: a shuffled batch of 256 against a contiguous one, rendered on demand and from a split file.

Run: pytest benchmarks/test_bench_reads.py --benchmark-enable --benchmark-columns=mean,median,rounds
or, interleaved (steadier on a shared machine): python benchmarks/test_bench_reads.py
Target: a shuffled batch costs within 1.2x a contiguous one. Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pytest

from spirograph.splits import SpirographH5, SpirographRendered, generate

BATCH = 256
N = 100_000  # the paper's training split: a shuffled batch spans the whole index range


def _batches(n: int = N):
    rng = np.random.default_rng(0)
    start = n // 3
    return {"contiguous": list(range(start, start + BATCH)), "shuffled": rng.permutation(n)[:BATCH].tolist()}


@pytest.mark.parametrize("order", ["contiguous", "shuffled"])
def test_rendered_batch(benchmark, order):
    ds = SpirographRendered(seed=0, split="train", n=N)
    indices = _batches()[order]
    items = benchmark.pedantic(ds.__getitems__, args=(indices,), rounds=10, iterations=1, warmup_rounds=1)
    assert len(items) == BATCH


@pytest.fixture(scope="module")
def read_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reads") / "reads.h5"
    return generate(path, seed=0, train=8192, test=256, progress=False)


@pytest.mark.parametrize("order", ["contiguous", "shuffled"])
def test_file_batch(benchmark, read_file, order):
    ds = SpirographH5(read_file, "train")
    indices = _batches(8192)[order]
    items = benchmark.pedantic(ds.__getitems__, args=(indices,), rounds=20, iterations=1, warmup_rounds=1)
    assert len(items) == BATCH


def interleaved(rounds: int = 15) -> None:
    """Print median batch times, contiguous and shuffled taken in turn, and their ratio."""
    import os
    import tempfile

    datasets = {"SpirographRendered": (SpirographRendered(seed=0, split="train", n=N), _batches())}
    with tempfile.TemporaryDirectory() as tmp:
        path = generate(os.path.join(tmp, "reads.h5"), seed=0, train=8192, test=256, progress=False)
        datasets["SpirographH5"] = (SpirographH5(path, "train"), _batches(8192))
        print(f"load average {os.getloadavg()[0]:.2f}; batch {BATCH}; median of {rounds} rounds")
        for name, (ds, batches) in datasets.items():
            times = {order: [] for order in batches}
            for indices in batches.values():
                ds.__getitems__(indices)  # warm-up
            for _ in range(rounds):
                for order, indices in batches.items():
                    start = time.perf_counter()
                    ds.__getitems__(indices)
                    times[order].append(time.perf_counter() - start)
            med = {order: statistics.median(t) for order, t in times.items()}
            print(
                f"{name}: contiguous {med['contiguous'] * 1e3:.1f} ms, shuffled {med['shuffled'] * 1e3:.1f} ms, "
                f"shuffled / contiguous {med['shuffled'] / med['contiguous']:.2f}"
            )
        datasets["SpirographH5"][0].close()


if __name__ == "__main__":
    interleaved(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
