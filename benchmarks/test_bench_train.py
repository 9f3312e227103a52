"""Training throughput of SimCLR and InvCLR (the gradient penalty's cost), ConvNet and ResNet-18.

Run: pytest benchmarks/test_bench_train.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
Figures go to benchmarks/README.md ("Training"). One round is one full optimiser step at batch 256
(views rendered on the fly, LARS, schedule): pairs/s = 256 / mean. ``invclr`` is the paper's
penalty on every view-1 item; ``invclr-p64`` computes it on 64 of them (``penalty_items=64``).
"""

import pytest
import torch

from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.config import TrainConfig
from spirograph_baselines.loop import Trainer
from spirograph_baselines.methods import get_method

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BATCH = 256
ENCODERS = {
    "convnet-gn": {"widths": [32, 64, 128], "norm": "group"},
    "convnet": {"widths": [32, 64, 128], "norm": "none"},
    "convnet-bn": {"widths": [32, 64, 128], "norm": "batch"},
    "resnet18": {},
}
METHODS = {"simclr": ("simclr", {}), "invclr": ("invclr", {"n_prior": 100}), "invclr-p64": ("invclr", {"n_prior": 100, "penalty_items": 64})}


def _trainer(encoder, variant, tmp_path):
    method, overrides = METHODS[variant]
    name = "resnet18" if encoder == "resnet18" else "convnet"
    cfg = TrainConfig(encoder=name, encoder_kwargs=ENCODERS[encoder], n_contents=4096, batch_size=BATCH, epochs=2, warmup_epochs=1).validate()
    run_dir = RunDir(tmp_path / f"{encoder}-{variant}")
    run_dir.prepare({"bench": True}, resume=False, overwrite=False)
    cls = get_method(method)
    return Trainer(method_name=method, method_config=cls.Config.from_overrides(overrides), train_config=cfg, seed=0,
                   device=torch.device(DEVICE), run_dir=run_dir, progress=False)


@pytest.mark.parametrize("variant", list(METHODS))
@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_train_step(benchmark, encoder, variant, tmp_path):
    trainer = _trainer(encoder, variant, tmp_path)
    trainer.train_step()  # warm-up: allocations, oneDNN kernel selection

    def step():
        logs = trainer.train_step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        return logs

    rounds = 3 if encoder == "resnet18" and DEVICE == "cpu" else 5
    logs = benchmark.pedantic(step, rounds=rounds, iterations=1)
    benchmark.extra_info["pairs"] = BATCH
    assert torch.isfinite(torch.tensor(logs["loss"]))
