"""CLeVER losses against plain loop-based references on small tensors."""

import math

import pytest
import torch

from spirograph_baselines.losses import clever


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / max(math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)), 1e-8)


@pytest.mark.parametrize("dim, expected", [(512, (409, 103)), (256, (204, 52)), (10, (8, 2)), (5, (4, 1)), (2, (1, 1))])
def test_split_sizes_floor_of_eight_tenths(dim, expected):
    assert clever.split_sizes(dim) == expected


def test_split_representation_takes_leading_channels_for_ir():
    h = torch.arange(20.0).reshape(2, 10)
    z_ir, z_ef = clever.split_representation(h)
    assert torch.equal(z_ir, h[:, :8]) and torch.equal(z_ef, h[:, 8:])


@pytest.mark.parametrize("bad", [{"dim": 1}, {"dim": 2.0}, {"dim": 10, "ir_fraction": 0.0}, {"dim": 10, "ir_fraction": 1.0}, {"dim": 3, "ir_fraction": 0.2}])
def test_split_sizes_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="dim|ir_fraction"):
        clever.split_sizes(**bad)


def test_split_representation_rejects_non_matrix():
    with pytest.raises(ValueError, match="h.shape"):
        clever.split_representation(torch.zeros(4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orthogonality_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    p1, p2 = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    expected = abs(sum(_cos(a.tolist(), b.tolist()) for a, b in zip(p1, p2)) / 6)
    assert clever.orthogonality_loss(p1, p2).item() == pytest.approx(expected, abs=1e-12)


def test_orthogonality_is_absolute_value_of_mean_not_mean_of_absolute_values():
    p1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p2 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert clever.orthogonality_loss(p1, p2).item() == pytest.approx(0.0)
    assert clever.orthogonality_loss(p1, -p1).item() == pytest.approx(1.0)


def test_orthogonality_without_a_process_group_is_the_local_mean():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    local = clever.orthogonality_loss(a, b, distributed=False)
    assert torch.equal(clever.orthogonality_loss(a, b, distributed=True), local)
    assert torch.equal(local, torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-8).mean().abs())


def test_orthogonality_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="p_second.shape"):
        clever.orthogonality_loss(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="p_second.shape"):
        clever.orthogonality_loss(torch.zeros(0, 4), torch.zeros(0, 4))


def test_parameter_norm_loss_matches_reference_and_balances_heads():
    ir = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2, bias=False)).double()
    ef = torch.nn.Linear(2, 2).double()
    ref_ir = sum(float(x) ** 2 for p in ir.parameters() for x in p.detach().flatten())
    ref_ef = sum(float(x) ** 2 for p in ef.parameters() for x in p.detach().flatten())
    loss = clever.parameter_norm_loss(ir.parameters(), ef.parameters())
    assert loss.item() == pytest.approx(abs(ref_ir - ref_ef), rel=1e-12)
    loss.backward()
    # The gradient shrinks the larger head and grows the smaller one.
    sign = 1.0 if ref_ir > ref_ef else -1.0
    for p in ir.parameters():
        assert torch.allclose(p.grad, sign * 2 * p.detach())
    for p in ef.parameters():
        assert torch.allclose(p.grad, -sign * 2 * p.detach())


def test_parameter_norm_loss_rejects_empty_collections():
    with pytest.raises(ValueError, match="parameters"):
        clever.parameter_norm_loss([], [torch.ones(2)])


def test_objective_weights_terms_as_published():
    total = clever.clever_objective(torch.tensor(2.0), torch.tensor(0.5), torch.tensor(30.0))
    assert total.item() == pytest.approx(2.0 + 1.0 * 0.5 + 0.001 * 30.0)
    total = clever.clever_objective(torch.tensor(2.0), torch.tensor(0.5), torch.tensor(30.0), orth_weight=0.0, preg_weight=0.0)
    assert total.item() == pytest.approx(2.0)


@pytest.mark.parametrize("kwargs, match", [({"orth_weight": -1.0}, "orth_weight"), ({"preg_weight": float("nan")}, "preg_weight")])
def test_objective_rejects_bad_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        clever.clever_objective(torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1.0), **kwargs)


def test_objective_rejects_non_scalar_terms():
    with pytest.raises(ValueError, match="orthogonality"):
        clever.clever_objective(torch.tensor(1.0), torch.ones(3), torch.tensor(1.0))
