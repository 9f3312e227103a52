"""Two CPU processes (gloo) give the same gradient as one process on the union batch."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from ddp_helpers import quiesce as _quiesce

from spirograph import Spirograph
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.methods import StepContext, build_method

WORLD, PER_RANK = 2, 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gradients(method, images, nuisance, content, wrapper=None):
    """Flattened parameter gradient of one training step on the given views."""
    gen = Spirograph(resolution=16, n_points=16, dtype=torch.float64)
    ctx = StepContext(images, nuisance, content, torch.arange(content.shape[0]), 0, 1, 0, torch.Generator().manual_seed(0), gen)
    model = wrapper(method) if wrapper else method
    model(ctx)["loss"].backward()
    return torch.cat([p.grad.flatten() for p in method.parameters()])


def _setup():
    gen = Spirograph(resolution=16, n_points=16, dtype=torch.float64)
    content = gen.sample_content(WORLD * PER_RANK, seed=3)
    images, nuisance = gen.views(content, seed=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # Sample-independent layers (no BatchNorm) so a shard's forward pass equals the union's.
        method = build_method("simclr", ConvNet((4, 8), norm="none"), {"head_batch_norm": False, "temperature": 0.3}, n_items=8)
    return method.double(), images, nuisance, content


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        method, images, nuisance, content = _setup()
        shard = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        grad = _gradients(method, images[:, shard], nuisance[:, shard], content[shard], torch.nn.parallel.DistributedDataParallel)
        torch.save(grad, f"{out}/grad{rank}.pt")
        _quiesce()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_match_single_process_union_batch(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    method, images, nuisance, content = _setup()
    expected = _gradients(method, images, nuisance, content)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"grad{rank}.pt")
        assert torch.allclose(got, expected, rtol=1e-9, atol=1e-12), (got - expected).abs().max()
    # A shard alone (no gathered negatives) gives a different gradient: the gather matters.
    method2, *_ = _setup()
    alone = _gradients(method2, images[:, :PER_RANK], nuisance[:, :PER_RANK], content[:PER_RANK])
    assert not torch.allclose(alone, expected, rtol=1e-3)


@pytest.mark.slow
def test_torchrun_trains_invclr_on_two_cpu_ranks(tmp_path):
    import json
    import subprocess
    import sys

    tiny = ["--preset", "cpu-quick", "--suite", "none", "--no-progress", "--threads", "1",
            "--set", 'encoder_kwargs={"widths": [8], "norm": "none"}', "--set", "n_contents=48", "--set", "batch_size=16",
            "--set", "epochs=2", "--set", "warmup_epochs=0", "--set", "resolution=16", "--set", "log_every=1",
            "--method", "invclr", "--set", "n_prior=4", "--set", "lam=0.1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "spirograph_baselines.train", "--out", str(tmp_path / "run"), "--device", "cpu", *tiny]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["world_size"] == 2
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all("penalty" in json.loads(l) for l in lines)
