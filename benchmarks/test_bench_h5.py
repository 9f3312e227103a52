"""Split files: generation to disk against rendering alone, DataLoader reads, peak memory.

Run: pytest benchmarks/test_bench_h5.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
and, for the peak memory of 1,000,000 images (a few minutes): pytest benchmarks/test_bench_h5.py -m slow -s
Images per second are ``extra_info["images"] / mean``; figures go to benchmarks/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch.utils.data import DataLoader

from spirograph import Spirograph
from spirograph.datasets import SpirographH5
from spirograph.h5 import generate

N = 16_384  # images per measured run (train N - 256, test 256)
CHUNK = 4096


def _render_only(n: int) -> None:
    gen = Spirograph()
    with torch.no_grad():
        for lo in range(0, n, CHUNK):
            gen.items(min(CHUNK, n - lo), seed=0, stream="train", start=lo)


def _rate(benchmark, images: int) -> None:
    benchmark.extra_info["images"] = images
    if benchmark.stats is not None:  # None when benchmarking is disabled (smoke run)
        benchmark.extra_info["images_per_s"] = round(images / benchmark.stats.stats.mean)


def test_render_only(benchmark):
    benchmark.pedantic(_render_only, args=(N,), rounds=3, iterations=1, warmup_rounds=1)
    _rate(benchmark, N)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_generate_to_disk(benchmark, tmp_path, dtype):
    path = tmp_path / "bench.h5"

    def run():
        generate(path, seed=0, train=N - 256, test=256, dtype=dtype, chunk_size=CHUNK, overwrite=True, progress=False)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    _rate(benchmark, N)
    # Rendering alone in the same run, for the cost of writing (target: generate <= 2x render).
    start = time.perf_counter()
    _render_only(N)
    benchmark.extra_info["render_only_images_per_s"] = round(N / (time.perf_counter() - start))


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "read.h5"
    return generate(path, seed=0, train=N, test=256, progress=False)


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_read(benchmark, bench_file, workers):
    ds = SpirographH5(bench_file, "train")

    def run():
        loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(0))
        return sum(len(images) for images, _ in loader)

    assert benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1) == N
    _rate(benchmark, N)


PEAK = textwrap.dedent(
    """
    import json, resource, sys, time
    import torch
    from spirograph.h5 import generate
    n, workers, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    start = time.perf_counter()
    generate(path, seed=0, train=n, test=1, workers=workers, overwrite=True, progress=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"images": n, "seconds": seconds, "peak_rss_bytes": peak, "peak_child_rss_bytes": children}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_peak_memory_one_million_images(tmp_path, workers):
    """Peak RSS of generate for 1,000,000 images at resolution 32 (uint8): under 1 GiB."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK, "1000000", str(workers), str(tmp_path / "million.h5")],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result))
    assert result["peak_rss_bytes"] < 2**30 and result["peak_child_rss_bytes"] < 2**30
