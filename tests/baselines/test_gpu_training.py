"""Training on CUDA: the penalty's double backward, a bf16-autocast step, a one-process NCCL DDP step.

Marked ``gpu`` (run with ``pytest -m gpu``); every test skips without a CUDA device.
"""

import math

import pytest
import torch
import torch.distributed as dist
from ddp_helpers import quiesce
from torch import nn

from spirograph import Spirograph
from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.config import TrainConfig
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.loop import Trainer, build_model
from spirograph_baselines.losses.gradient_penalty import gradient_penalty, rademacher
from spirograph_baselines.methods import StepContext, get_method

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

N = 8


def _tiny_train_config() -> TrainConfig:
    # A BatchNorm ConvNet like the paper's ResNet (BatchNorm everywhere), 4 steps per epoch.
    return TrainConfig(
        encoder="convnet", encoder_kwargs={"widths": [8, 16]}, n_contents=64, batch_size=16, epochs=2, warmup_epochs=1
    ).validate()


def _penalty_and_grads(device: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """P and its parameter gradient for fixed float64 inputs built on the CPU, computed on ``device``."""
    cpu = Spirograph(resolution=16, n_points=16, dtype=torch.float64)
    content, nuisance = cpu.sample(N, seed=1, stream="gpu-test")
    draws = torch.Generator().manual_seed(2)
    prior = cpu.sample_nuisance(N * 5, generator=draws).reshape(N, 5, -1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = ConvNet((4, 8), norm="batch").double()  # train mode: the double backward runs through batch statistics
    signs = rademacher((N, encoder.out_dim), generator=draws, dtype=torch.float64, device="cpu")
    gen = Spirograph(resolution=16, n_points=16, dtype=torch.float64, device=device)
    encoder = encoder.to(device)
    leaf = nuisance.to(device).requires_grad_(True)
    h = encoder(gen.render(content.to(device), leaf, validate=False))
    penalty, _ = gradient_penalty(h, leaf, prior.to(device), signs.to(device), clamp=math.inf)
    grads = torch.autograd.grad(penalty, list(encoder.parameters()))
    return penalty.detach().cpu(), [g.cpu() for g in grads]


def test_penalty_double_backward_on_cuda_matches_cpu_in_float64():
    p_cpu, g_cpu = _penalty_and_grads("cpu")
    p_cuda, g_cuda = _penalty_and_grads("cuda")
    assert p_cpu > 0 and math.isfinite(p_cpu)
    torch.testing.assert_close(p_cuda, p_cpu, rtol=1e-8, atol=0)
    scale = float(max(g.abs().max() for g in g_cpu))
    assert scale > 0
    for got, expected in zip(g_cuda, g_cpu):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-10 * scale)


def _trainer(method: str, run_dir) -> Trainer:
    method_cfg = get_method(method).Config.from_overrides({})
    return Trainer(
        method_name=method,
        method_config=method_cfg,
        train_config=_tiny_train_config(),
        seed=0,
        device=torch.device("cuda"),
        run_dir=RunDir(run_dir),
        progress=False,
    )


@pytest.mark.parametrize("method", ["simclr", "invclr"])
def test_bf16_autocast_training_step_is_finite_and_close_to_float32(method, tmp_path):
    trainer = _trainer(method, tmp_path / "bf16")
    seen: list[torch.dtype] = []
    first_conv = next(m for m in trainer.method.encoder.modules() if isinstance(m, nn.Conv2d))
    hook = first_conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    before = [p.detach().clone() for p in trainer.method.parameters()]
    logs = trainer.train_step()
    hook.remove()
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)  # the trainer autocasts on CUDA
    assert all(math.isfinite(v) for v in logs.values()), logs
    after = list(trainer.method.parameters())
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before))

    # The same step's losses in float32: a second trainer with the same seed draws the same views.
    reference = _trainer(method, tmp_path / "fp32")
    outputs = reference.method(reference.context(0))
    assert logs["nt_xent"] == pytest.approx(float(outputs["nt_xent"]), rel=0.05)
    if method == "invclr":
        assert logs["penalty"] > 0
        assert logs["penalty"] == pytest.approx(float(outputs["penalty"]), rel=0.5)


@pytest.mark.parametrize("method", ["simclr", "invclr"])
def test_one_process_nccl_ddp_step_matches_the_plain_step(method, tmp_path):
    if not dist.is_nccl_available():
        pytest.skip("this torch build has no NCCL")
    device = torch.device("cuda", torch.cuda.current_device())
    cfg = _tiny_train_config()
    method_cfg = get_method(method).Config.from_overrides({})
    gen = Spirograph(device=device)
    content = Spirograph().sample_content(cfg.batch_size, seed=1, stream="gpu-test").to(device)

    def gradients(model: nn.Module, method_module: nn.Module) -> list[torch.Tensor]:
        # Seeded views: both models see the same images, each with its own graph to the nuisance.
        images, nuisance = gen.views(content, seed=2, requires_grad=get_method(method).needs_nuisance_grad)
        ctx = StepContext(
            images, nuisance, content, torch.arange(cfg.batch_size), 0, 1, 0, torch.Generator(device=device).manual_seed(3), gen
        )
        model(ctx)["loss"].backward()
        return [p.grad.detach().clone() for p in method_module.parameters()]

    plain = build_model(method, method_cfg, cfg, seed=0).to(device)
    expected = gradients(plain, plain)

    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        # Wrapped as the trainer wraps a multi-process run: SyncBatchNorm, then DistributedDataParallel.
        wrapped = nn.SyncBatchNorm.convert_sync_batchnorm(build_model(method, method_cfg, cfg, seed=0)).to(device)
        ddp = nn.parallel.DistributedDataParallel(wrapped, device_ids=[device])
        got = gradients(ddp, wrapped)
        del ddp
        quiesce()
    finally:
        dist.destroy_process_group()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
