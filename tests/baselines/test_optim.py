"""LARS against its formula; the paper's cosine-ramp schedule and the warm-up + cosine schedule."""

import math

import pytest
import torch

from spirograph_baselines.optim import LARS, WARMUP_START, build_schedule, cosine_ramp, warmup_cosine


def test_lars_step_matches_formula():
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    grads = [torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    p = torch.nn.Parameter(p0.clone())
    opt = LARS([p], lr=0.7, momentum=0.9, weight_decay=1e-2, trust_coefficient=1e-3)
    ref, buf = p0.clone(), None
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
        ratio = 1e-3 * ref.norm() / (grad.norm() + 1e-2 * ref.norm())
        d = (grad + 1e-2 * ref) * ratio
        buf = d if buf is None else 0.9 * buf + d
        ref = ref - 0.7 * buf
        assert torch.allclose(p.detach(), ref, atol=1e-14)


def test_lars_zero_parameter_uses_unit_ratio():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = LARS([p], lr=1.0, momentum=0.0)
    p.grad = torch.ones(3)
    opt.step()
    assert torch.equal(p.detach(), -torch.ones(3))


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(lr=1.0, momentum=1.0), dict(lr=1.0, trust_coefficient=0.0)])
def test_lars_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        LARS([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_warmup_then_cosine_to_zero():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = warmup_cosine(opt, warmup=4, total=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(2.0 * WARMUP_START)
    assert lrs[2] == pytest.approx(2.0 * (WARMUP_START + (1 - WARMUP_START) * 0.5))
    for u in range(4, 10):
        assert lrs[u] == pytest.approx(1.0 * (1 + math.cos(math.pi * (u - 4) / 6)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def _lrs(schedule, units, lr=3.0, **kwargs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = schedule(opt, **kwargs)
    lrs = []
    for _ in range(units):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_ramp_is_the_original_formula_at_every_epoch():
    # The original code: lr_e = base·min(½(1 + cos(π e/T)), (e + 1)/10), T = 50, base 3.0.
    lrs = _lrs(cosine_ramp, 50, warmup=10, total=50)
    for e, lr in enumerate(lrs):
        assert lr == pytest.approx(3.0 * min(0.5 * (1 + math.cos(math.pi * e / 50)), (e + 1) / 10), rel=1e-12, abs=1e-15)
    assert lrs[0] == pytest.approx(0.3) and lrs[9] == pytest.approx(3.0 * 0.5 * (1 + math.cos(math.pi * 9 / 50)))
    # Lower mid-run than the warm-up-then-cosine schedule (which starts its cosine after epoch 10).
    assert lrs[30] < 0.75 * _lrs(warmup_cosine, 50, warmup=10, total=50)[30]


def test_cosine_ramp_without_warmup_is_the_cosine():
    lrs = _lrs(cosine_ramp, 8, lr=1.0, warmup=0, total=8)
    assert lrs == pytest.approx([0.5 * (1 + math.cos(math.pi * u / 8)) for u in range(8)], rel=1e-12)


@pytest.mark.parametrize("schedule", [warmup_cosine, cosine_ramp])
def test_schedule_rejects_warmup_longer_than_run(schedule):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup"):
        schedule(opt, warmup=5, total=5)


def test_unknown_schedule_is_one_clear_error():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="lr_schedule='cosine': expected one of 'cosine-ramp', 'warmup-cosine'"):
        build_schedule("cosine", opt, warmup=1, total=5)
