"""Training throughput of CLeVER and Invariance Propagation, and the cost of the InvP bank search.

Run: pytest benchmarks/test_bench_train_extra.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
Figures go to benchmarks/README.md ("CLeVER and InvP training"). One round is one full optimiser
step of each method's ``cpu-quick`` training settings (batch 256, resolution 32, views rendered on
the fly; SimCLR and CLeVER on the GroupNorm ConvNet, InvP on the BatchNorm ConvNet), SimCLR
alongside as the reference; items/s = 256 / step time. ``python benchmarks/test_bench_train_extra.py``
prints the same steps timed interleaved, which is steadier on a shared machine.
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


def interleaved(rounds: int = 6, tmp: str | None = None) -> None:
    """Print step times with the methods interleaved (robust to load that drifts on a shared machine)."""
    import tempfile
    import time
    from pathlib import Path

    torch.set_num_threads(1)
    root = Path(tmp or tempfile.mkdtemp())
    trainers = {m: _trainer(m, root) for m in ("simclr", "clever", "invprop")}
    times = {m: [] for m in trainers}
    for trainer in trainers.values():
        trainer.train_step()
    for _ in range(rounds):
        for method, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_step()
            times[method].append(time.perf_counter() - start)
    for method, values in times.items():
        values.sort()
        median = values[len(values) // 2]
        print(f"{method}: median {median:.3f} s, best {values[0]:.3f} s, {256 / median:.0f} items/s (median)")
    g = torch.Generator().manual_seed(0)
    for batch, size, background, positives in ((256, 5000, 1024, 10), (128, 20_000, 4096, 20), (128, 100_000, 4096, 20)):
        bank = F.normalize(torch.randn(size, 128, generator=g), dim=1)
        graph = torch.randint(0, size, (size, 4), generator=g)
        index = torch.randperm(size, generator=g)[:batch]
        raw = torch.randn(batch, 128, generator=g).requires_grad_(True)
        values = []
        for _ in range(rounds):
            start = time.perf_counter()
            out = L.invprop_losses(F.normalize(raw, dim=1), index, bank, graph, background_size=background, positives=positives)
            (out.instance + 0.6 * out.invariance).backward()
            values.append(time.perf_counter() - start)
        values.sort()
        print(f"bank search B={batch} N={size} M={background} P={positives}: median {values[len(values) // 2] * 1e3:.0f} ms, best {values[0] * 1e3:.0f} ms")


if __name__ == "__main__":
    interleaved()
