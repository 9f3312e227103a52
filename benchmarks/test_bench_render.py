"""Renderer speed: separable (spirograph.render) against the dense form of the original code.

Run: pytest benchmarks/test_bench_render.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
Figures go to benchmarks/README.md. The batch is 4096 at resolution 32 in float32 (65,536 on CUDA).
``test_forward_block`` and ``test_double_backward_block`` sweep the CPU block size of the
renderer (``render_unchecked(block=...)``); ``benchmarks/render_compare.py`` times the current
renderer, the dense form and any git revision interleaved in one process.
"""

import pytest
import torch

import spirograph
from spirograph.generators.spirograph.dense import render_dense
from spirograph.generators.spirograph.render import render_unchecked

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RENDERERS = {"separable": render_unchecked, "dense": render_dense}


def _batch(device, n):
    gen = spirograph.Spirograph(device=device)
    content, nuisance = gen.sample(n, seed=0, stream="bench")
    return gen, content, nuisance


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _penalty_step(render_fn, gen, content, nuisance, projection):
    """Forward, first-order grad w.r.t. nuisance with create_graph, then backward of the penalty."""
    nuisance = nuisance.detach().requires_grad_(True)
    images = render_fn(gen.factors(content, nuisance))
    features = images.flatten(1) @ projection
    features = features / features.norm(dim=1, keepdim=True)
    signs = torch.ones_like(features)
    (grad,) = torch.autograd.grad((features * signs).sum(), nuisance, create_graph=True)
    penalty = (grad * (0.5 - nuisance)).sum(dim=1).pow(2).mean()
    penalty.backward()
    return penalty


def _rate(benchmark, n):
    if benchmark.stats is not None:  # None when benchmarking is disabled (smoke run)
        benchmark.extra_info["images_per_s"] = n / benchmark.stats.stats.mean


def _n(device):
    return 65_536 if device == "cuda" else 4096


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_forward(benchmark, device, renderer):
    n = _n(device) if renderer == "separable" else min(_n(device), 4096)
    gen, content, nuisance = _batch(device, n)
    factors = gen.factors(content, nuisance)
    fn = RENDERERS[renderer]

    def run():
        with torch.no_grad():
            out = fn(factors)
        _sync(device)
        return out

    out = benchmark(run)
    _rate(benchmark, n)
    assert out.shape == (n, 3, 32, 32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_forward_backward(benchmark, device, renderer):
    n = min(_n(device), 4096)
    gen, content, nuisance = _batch(device, n)
    weights = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    fn = RENDERERS[renderer]

    def run():
        leaf = nuisance.detach().requires_grad_(True)
        (fn(gen.factors(content, leaf)) * weights).sum().backward()
        _sync(device)
        return leaf.grad

    grad = benchmark(run)
    _rate(benchmark, n)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_double_backward(benchmark, device, renderer):
    n = min(_n(device), 4096)
    gen, content, nuisance = _batch(device, n)
    projection = torch.randn(3 * 32 * 32, 64, generator=torch.Generator().manual_seed(0)).to(device) / 55
    fn = RENDERERS[renderer]

    def run():
        out = _penalty_step(fn, gen, content, nuisance, projection)
        _sync(device)
        return out

    penalty = benchmark(run)
    _rate(benchmark, n)
    assert torch.isfinite(penalty)


BLOCKS = [32, 64, 128, 256, 512, 1024, 4096]


@pytest.mark.parametrize("block", BLOCKS)
def test_forward_block(benchmark, block):
    gen, content, nuisance = _batch("cpu", 4096)
    factors = gen.factors(content, nuisance)

    def run():
        with torch.no_grad():
            return render_unchecked(factors, block=block)

    benchmark(run)
    _rate(benchmark, 4096)


@pytest.mark.parametrize("block", BLOCKS)
def test_double_backward_block(benchmark, block):
    gen, content, nuisance = _batch("cpu", 4096)
    projection = torch.randn(3 * 32 * 32, 64, generator=torch.Generator().manual_seed(0)) / 55
    benchmark.pedantic(
        _penalty_step, args=(lambda f: render_unchecked(f, block=block), gen, content, nuisance, projection), rounds=3, iterations=1
    )
    _rate(benchmark, 4096)
