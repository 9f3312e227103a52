"""Spirograph: sampling, rendering, chunking and contrastive views."""

import pytest
import torch

import spirograph
from spirograph import FactorSpace, Spirograph


def test_items_match_functional_render():
    gen = Spirograph()
    images, content, nuisance = gen.items(32, seed=4, stream="test")
    factors = gen.space.sample(32, seed=4, stream="test")
    assert torch.equal(images, spirograph.render(factors))
    assert torch.equal(content[:, 0], factors["m"]) and torch.equal(nuisance[:, 0], factors["h"])


def test_chunked_render_equals_single_call():
    gen = Spirograph()
    content, nuisance = gen.sample(300, seed=1)
    whole = gen.render(content, nuisance, chunk_size=None)
    chunked = gen.render(content, nuisance, chunk_size=64)
    assert torch.allclose(whole, chunked, atol=1e-6, rtol=0)


def test_items_independent_of_split_points():
    gen = Spirograph()
    a, _, _ = gen.items(100, seed=9, stream="train")
    b = torch.cat([gen.items(25, seed=9, stream="train", start=s)[0] for s in range(0, 100, 25)])
    assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_views_share_content_differ_in_nuisance():
    gen = Spirograph(dtype=torch.float64)
    content = gen.sample_content(6, seed=0)
    g = torch.Generator().manual_seed(0)
    images, nuisance = gen.views(content, k=3, generator=g)
    assert images.shape == (3, 6, 3, 32, 32) and nuisance.shape == (3, 6, 6)
    assert not torch.equal(nuisance[0], nuisance[1])
    for j in range(3):
        assert torch.allclose(images[j], gen.render(content, nuisance[j]))


def test_seeded_views_are_reproducible():
    gen = Spirograph()
    content = gen.sample_content(5, seed=0)
    a, na = gen.views(content, seed=3, stream="eval", start=10)
    b, nb = gen.views(content, seed=3, stream="eval", start=10)
    assert torch.equal(a, b) and torch.equal(na, nb)


def test_views_gradient_with_respect_to_nuisance_and_double_backward():
    gen = Spirograph(dtype=torch.float64)
    content = gen.sample_content(4, seed=0)
    images, nuisance = gen.views(content, k=1, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert nuisance.requires_grad and nuisance.is_leaf
    score = (images ** 2).sum()
    (grad,) = torch.autograd.grad(score, nuisance, create_graph=True)
    assert grad.shape == (1, 4, 6) and grad.abs().sum() > 0
    grad.pow(2).sum().backward()
    assert nuisance.grad is not None and torch.isfinite(nuisance.grad).all()


def test_custom_roles_change_columns():
    gen = Spirograph(FactorSpace().with_roles(["m", "h", "bg_r"]))
    content, nuisance = gen.sample(10, seed=0)
    assert content.shape == (10, 3) and nuisance.shape == (10, 7)
    assert gen.render(content, nuisance).shape == (10, 3, 32, 32)


def test_float64_and_resolution_options():
    gen = Spirograph(resolution=16, n_points=20, normalize="image", dtype=torch.float64)
    images, _, _ = gen.items(3, seed=0)
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.float64


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda g: g.render(torch.zeros(3, 5), torch.zeros(3, 6)), "content.shape"),
        (lambda g: g.render(torch.ones(3, 4), torch.ones(2, 6)), "rows like content"),
        (lambda g: g.render(torch.ones(3, 4, dtype=torch.int64), torch.ones(3, 6)), "floating"),
        (lambda g: g.render(torch.tensor([[2.0, 0.0, 0.5, 0.5]]), torch.ones(1, 6)), "b > 0"),
        (lambda g: g.views(torch.ones(2, 4), k=0, seed=0), "k=0"),
        (lambda g: g.views(torch.ones(2, 4)), "exactly one of seed and generator"),
        (lambda g: g.sample_nuisance(3), "exactly one of seed and generator"),
    ],
)
def test_bad_calls_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(Spirograph())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(space="default"), "FactorSpace"),
        (dict(dtype=torch.float16), "dtype"),
        (dict(resolution=1), "resolution"),
        (dict(normalize="col"), "normalize"),
        (dict(device="gpu7"), "device"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Spirograph(**kwargs)


@pytest.mark.gpu
def test_cuda_matches_cpu_and_sampling_is_device_independent():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cpu, gpu = Spirograph(), Spirograph(device="cuda")
    c_cpu, n_cpu = cpu.sample(512, seed=2)
    c_gpu, n_gpu = gpu.sample(512, seed=2)
    assert torch.equal(c_cpu, c_gpu.cpu()) and torch.equal(n_cpu, n_gpu.cpu())
    assert torch.allclose(cpu.render(c_cpu, n_cpu), gpu.render(c_gpu, n_gpu).cpu(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunk_size", [None, 7, 64, 10_000])
def test_render_casts_inputs_to_the_generators_dtype_whatever_the_chunking(chunk_size):
    gen = Spirograph(dtype=torch.float64)
    content, nuisance = Spirograph().sample(100, seed=5)  # float32 columns
    images = gen.render(content, nuisance, chunk_size=chunk_size)
    assert images.dtype == torch.float64
    assert torch.equal(images, gen.render(content.double(), nuisance.double(), chunk_size=None))
    assert Spirograph().render(content.double(), nuisance.double(), chunk_size=chunk_size).dtype == torch.float32


@pytest.mark.parametrize("column,value", [(0, float("nan")), (3, float("inf")), (1, -float("inf"))])
def test_views_and_render_refuse_non_finite_content(column, value):
    gen = Spirograph()
    content, nuisance = gen.sample(64, seed=1)
    content[5, column] = value
    name = gen.content_names[column]
    with pytest.raises(ValueError, match=rf"content\[:, {column}\]=.*non-finite values \(NaN or inf\) in column '{name}'"):
        gen.views(content, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=rf"content\[:, {column}\]"):
        gen.views(content, seed=0)
    with pytest.raises(ValueError, match=rf"content\[:, {column}\]"):
        gen.render(content, nuisance)


def test_render_refuses_non_finite_nuisance_and_names_the_column():
    gen = Spirograph()
    content, nuisance = gen.sample(8, seed=1)
    nuisance[2, 4] = float("nan")
    with pytest.raises(ValueError, match=r"nuisance\[:, 4\]=.*'bg_g'"):
        gen.render(content, nuisance)


def test_render_rejects_a_bad_chunk_size():
    gen = Spirograph()
    content, nuisance = gen.sample(4, seed=1)
    with pytest.raises(ValueError, match="chunk_size=0"):
        gen.render(content, nuisance, chunk_size=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # raised inside torch.func
def test_render_supports_forward_mode():
    # torch.func.jvp must not reach the in-place, out= path meant for renders nothing differentiates.
    gen = Spirograph(dtype=torch.float64)
    content, nuisance = gen.sample(20, seed=2)
    tangent = torch.randn(nuisance.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    images, forward = torch.func.jvp(lambda n: gen.render(content, n, validate=False), (nuisance,), (tangent,))
    _, reverse = torch.autograd.functional.jvp(lambda n: gen.render(content, n, validate=False), (nuisance,), (tangent,))
    assert torch.allclose(images, gen.render(content, nuisance), rtol=0, atol=1e-12)
    assert torch.allclose(forward, reverse, rtol=1e-10, atol=1e-10)
