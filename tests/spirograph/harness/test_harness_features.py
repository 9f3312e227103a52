"""Feature computation: per-item seeding, caching of prefixes, averaging over draws, kept draws."""

from __future__ import annotations

import pytest
import torch
from harness_helpers import SmallNet, tiny_suite

from spirograph import Spirograph
from spirograph.harness.features import DrawAverager, FeatureSource


def source(batch_size=200, **kw):
    return FeatureSource(SmallNet().eval(), tiny_suite(batch_size=batch_size, **kw), device="cpu")


def test_items_follow_the_core_streams():
    src = source()
    gen = Spirograph()
    content, nuisance = gen.sample(50, seed=7, stream="train")
    torch.testing.assert_close(src.content("train", 50), content)
    nuisance_0 = gen.sample_nuisance(50, seed=7, stream="train/nuisance/0")
    torch.testing.assert_close(src.nuisance("train", 50), nuisance_0)
    images = gen.render(content, nuisance_0)
    with torch.no_grad():
        expected = src.encoder(images)
    torch.testing.assert_close(src.features("train", 50), expected, atol=1e-5, rtol=1e-5)


def test_prefix_requests_reuse_and_extend_the_cache():
    src = source(batch_size=64)
    first = src.features("test", 100)
    assert src.images_encoded == 100
    assert torch.equal(src.features("test", 60), first[:60])
    assert src.images_encoded == 100
    longer = src.features("test", 150)
    assert src.images_encoded == 150
    torch.testing.assert_close(longer[:100], first)


def test_batch_size_does_not_change_items():
    a = source(batch_size=200).features("train", 120)
    b = source(batch_size=7).features("train", 120)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_shift_keeps_content_and_moves_nuisance():
    src = source()
    shifted = src.spirograph(("h", "mean", 0.3))
    base = src.nuisance("test", 20)
    moved = src.nuisance("test", 20, shift=("h", "mean", 0.3))
    h = list(shifted.nuisance_names).index("h")
    torch.testing.assert_close(moved[:, h], base[:, h] + 0.3)
    others = [i for i in range(base.shape[1]) if i != h]
    torch.testing.assert_close(moved[:, others], base[:, others])


def test_draw_averager_averages_and_keeps_the_draws():
    src = source()
    averager = DrawAverager(src, "test", 30, keep=12)
    draws = torch.stack([src.features("test", 30, draw=j, cache=False) for j in range(4)])  # (M, n, D)
    torch.testing.assert_close(averager.advance_to(1), draws[0])
    torch.testing.assert_close(averager.advance_to(2), draws[:2].mean(0))
    torch.testing.assert_close(averager.advance_to(4), draws.mean(0))
    torch.testing.assert_close(averager.kept(), draws[:, :12].transpose(0, 1))
    with pytest.raises(ValueError, match="keeps no per-draw features"):
        DrawAverager(src, "test", 20).kept()
    with pytest.raises(ValueError, match="keep=40"):
        DrawAverager(src, "test", 20, keep=40)


def test_float64_features_stay_float64_and_the_cache_is_not_modified():
    src = FeatureSource(SmallNet().double().eval(), tiny_suite(), device="cpu")
    src.encoder.forward = (lambda net: (lambda images: net(images.double())))(src.encoder.forward)
    first = src.features("test", 20).clone()
    assert first.dtype == torch.float64
    averager = DrawAverager(src, "test", 20)
    assert averager.advance_to(3).dtype == torch.float64
    assert torch.equal(src.features("test", 20), first)


def test_draw_averager_streams_in_order():
    src = source()
    averager = DrawAverager(src, "test", 20)
    two = averager.advance_to(2)
    torch.testing.assert_close(two, (src.features("test", 20, draw=0) + src.features("test", 20, draw=1, cache=False)) / 2)
    assert averager.advance_to(2) is not None and averager.draws == 2
    with pytest.raises(ValueError, match="m=1: expected at least 2"):
        averager.advance_to(1)
