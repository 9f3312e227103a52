"""Training throughput of CLeVER and Invariance Propagation, and the cost of the InvP bank search.

Run: pytest benchmarks/test_bench_train_extra.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
Figures go to benchmarks/README.md ("CLeVER and InvP training"). One round is one full optimiser
step of the ``cpu-quick`` setting (ConvNet 32-64-128, batch 256, resolution 32, views rendered
on the fly, 20,000 training contents), SimCLR alongside as the reference; items/s = 256 / mean.
"""

import pytest
import torch
import torch.nn.functional as F

from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.loop import Trainer
from spirograph_baselines.losses import invprop as L
from spirograph_baselines.methods import get_method
from spirograph_baselines.presets import get_preset

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _trainer(method, tmp_path):
    preset = get_preset("cpu-quick")
    cls = get_method(method)
    settings = preset.method_settings(cls)
    if "probe_train" in settings:
        settings.update(probe_train=0, probe_test=0)
    run_dir = RunDir(tmp_path / method)
    run_dir.prepare({"method": method, "preset": "bench"}, resume=False, overwrite=False)
    return Trainer(method_name=method, method_config=cls.Config.from_overrides(settings), train_config=preset.train_settings(cls),
                   seed=0, device=torch.device(DEVICE), run_dir=run_dir, progress=False)


@pytest.mark.parametrize("method", ["simclr", "clever", "invprop"])
def test_train_step(benchmark, method, tmp_path):
    trainer = _trainer(method, tmp_path)
    trainer.train_step()  # warm-up: allocations, first bank writes

    def step():
        logs = trainer.train_step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        return logs

    logs = benchmark.pedantic(step, rounds=10, iterations=1)
    assert torch.isfinite(torch.tensor(logs["loss"]))


@pytest.mark.parametrize("size", [20_000, 100_000])
def test_invprop_bank_search(benchmark, size):
    """Similarities, top-4096 background, kNN rows, 3-step propagation and both losses, forward + backward (B = 128)."""
    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(size, 128, generator=g), dim=1).to(DEVICE)
    graph = torch.randint(0, size, (size, 4), generator=g).to(DEVICE)
    index = torch.randperm(size, generator=g)[:128].to(DEVICE)
    raw = torch.randn(128, 128, generator=g).to(DEVICE).requires_grad_(True)

    def step():
        v = F.normalize(raw, dim=1)
        out = L.invprop_losses(v, index, bank, graph, background_size=4096, positives=20)
        (out.instance + 0.6 * out.invariance).backward()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(step, rounds=5, iterations=1)
    assert out.positives.shape == (128, 20)
