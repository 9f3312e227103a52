"""Invariance Propagation losses against a plain loop-and-set reference on small tensors."""

import math

import pytest
import torch
import torch.nn.functional as F

from spirograph_baselines.losses import invprop


def _problem(seed, batch=6, size=40, dim=8, k=3, self_rows=5):
    g = torch.Generator().manual_seed(seed)
    v = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=1)
    bank = F.normalize(torch.randn(size, dim, generator=g, dtype=torch.float64), dim=1)
    index = torch.randperm(size, generator=g)[:batch]
    graph = torch.randint(0, size, (size, k), generator=g)
    graph[:self_rows] = torch.arange(self_rows).unsqueeze(1)  # a few rows still "unknown" (self loops)
    return v, bank, index, graph


def _reference(v, bank, index, graph, *, m, tau, k, steps, p):
    """One anchor at a time with Python lists and sets, straight from PROTOCOL.md §8."""
    ins, inv, rows, hards = [], [], [], []
    for b in range(v.shape[0]):
        i = int(index[b])
        s = [float(v[b] @ bank[j]) for j in range(bank.shape[0])]
        bg = sorted(range(len(s)), key=lambda j: -s[j])[:m]
        ins.append(-math.log(math.exp(s[i] / tau) / sum(math.exp(s[j] / tau) for j in bg)))
        rows.append([j for j in bg[: k + 1] if j != i][:k])
        found, frontier = set(), [i]
        for _ in range(steps):
            frontier = [int(n) for f in frontier for n in graph[f]]
            found.update(frontier)
        found.discard(i)
        hard = sorted(found, key=lambda j: s[j])[:p]
        hards.append(hard)
        if hard:
            num = sum(math.exp(s[j] / tau) for j in hard)
            den = sum(math.exp(s[j] / tau) for j in bg if j != i)
            inv.append(-math.log(num / den))
    return sum(ins) / len(ins), (sum(inv) / len(inv) if inv else 0.0), rows, hards


@pytest.mark.parametrize("seed, m, k, steps, p", [(0, 10, 3, 3, 5), (1, 16, 2, 2, 4), (2, 40, 3, 1, 2), (3, 6, 3, 3, 5), (4, 12, 1, 3, 3)])
def test_step_losses_match_reference(seed, m, k, steps, p):
    v, bank, index, graph = _problem(seed, k=k)
    tau = 0.2
    out = invprop.invprop_losses(v, index, bank, graph, background_size=m, temperature=tau, neighbours=k, steps=steps, positives=p)
    ref_ins, ref_inv, ref_rows, ref_hard = _reference(v, bank, index, graph, m=m, tau=tau, k=k, steps=steps, p=p)
    assert out.instance.item() == pytest.approx(ref_ins, rel=1e-10)
    assert out.invariance.item() == pytest.approx(ref_inv, rel=1e-10, abs=1e-12)
    assert out.neighbours.tolist() == ref_rows
    for b, hard in enumerate(ref_hard):
        assert out.positives[b][out.valid[b]].tolist() == hard


def test_losses_are_non_negative_and_differentiable():
    v, bank, index, graph = _problem(5)
    v.requires_grad_(True)
    out = invprop.invprop_losses(v, index, bank, graph, background_size=8, neighbours=3, steps=3, positives=7)
    assert out.instance.item() >= 0 and out.invariance.item() >= 0
    (out.instance + 0.6 * out.invariance).backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


def test_warm_up_step_skips_invariance():
    v, bank, index, graph = _problem(6)
    out = invprop.invprop_losses(v, index, bank, graph, background_size=8, neighbours=3, invariance=False, positives=3)
    assert out.invariance is None and out.positives is None and out.neighbours.shape == (6, 3)


def test_invariance_is_zero_but_attached_when_no_anchor_has_positives():
    v, bank, index, graph = _problem(7)
    graph = torch.arange(bank.shape[0]).unsqueeze(1).repeat(1, 3)  # every row unknown
    v.requires_grad_(True)
    out = invprop.invprop_losses(v, index, bank, graph, background_size=8, neighbours=3, positives=3)
    assert not out.valid.any()
    assert out.invariance.item() == 0.0
    out.invariance.backward()
    assert torch.equal(v.grad, torch.zeros_like(v))


@pytest.mark.parametrize("rank_of_self, expected", [(0, [1, 2, 3]), (1, [1, 2, 3]), (None, [1, 2, 3])])
def test_nearest_neighbours_drop_self_wherever_it_ranks(rank_of_self, expected):
    sim = torch.full((1, 10), -1.0)
    sim[0, [1, 2, 3, 4]] = torch.tensor([0.9, 0.8, 0.7, 0.6])
    if rank_of_self is not None:
        sim[0, 5] = [1.0, 0.85][rank_of_self]
    assert invprop.nearest_neighbours(sim, torch.tensor([5]), k=3).tolist() == [expected]


def test_propagate_follows_graph_breadth_first():
    graph = torch.tensor([[1, 2], [3, 0], [0, 0], [3, 3]])
    hops = invprop.propagate(graph, torch.tensor([0]), steps=2)
    assert hops.tolist() == [[1, 2, 3, 0, 0, 0]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"background_size": 41}, "background_size"),
        ({"background_size": 1}, "background_size"),
        ({"positives": 10, "background_size": 10}, "positives"),
        ({"neighbours": 10, "background_size": 10, "positives": 2}, "neighbours"),
        ({"steps": 0}, "steps"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_bad_settings_raise_naming_the_argument(kwargs, match):
    v, bank, index, graph = _problem(8)
    settings = {"background_size": 10, "neighbours": 3, "positives": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        invprop.invprop_losses(v, index, bank, graph, **settings)


def test_bad_index_and_graph_shapes_raise():
    v, bank, index, graph = _problem(9)
    with pytest.raises(ValueError, match="index"):
        invprop.invprop_losses(v, index[:-1], bank, graph, background_size=10, neighbours=3, positives=3)
    with pytest.raises(ValueError, match="graph.shape"):
        invprop.invprop_losses(v, index, bank, graph[:-1], background_size=10, neighbours=3, positives=3)
    with pytest.raises(ValueError, match="embeddings.shape"):
        invprop.similarities(v[:, :3], bank)
