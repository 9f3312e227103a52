"""Presets: `paper` is exactly PROTOCOL.md §2/§3; unknown names get a did-you-mean hint."""

import pytest

from spirograph_baselines.methods import get_method
from spirograph_baselines.presets import available_presets, get_preset


def test_paper_preset_is_the_spec():
    preset = get_preset("paper")
    train = preset.train_settings(get_method("simclr"))
    assert (train.encoder, train.n_contents, train.batch_size, train.epochs) == ("resnet18", 100_000, 512, 50)
    assert (train.optimizer, train.lr, train.momentum, train.weight_decay, train.trust_coefficient) == ("lars", 3.0, 0.9, 1e-6, 1e-3)
    assert (train.warmup_epochs, train.schedule_unit, train.resolution, train.normalize) == (10, "epoch", 32, "row")
    assert train.schedule_units() == (10, 50)
    invclr = get_method("invclr").Config.from_overrides(preset.method_settings(get_method("invclr")))
    assert (invclr.temperature, invclr.lam, invclr.clamp, invclr.n_prior, invclr.lam_warmup, invclr.penalty_items) == (0.5, 0.01, 1000.0, 100, 0.0, 0)
    assert (invclr.proj_hidden, invclr.proj_dim, invclr.head_batch_norm) == (None, 128, True)


def test_cpu_quick_validates_for_both_methods():
    preset = get_preset("cpu-quick")
    for name in ("simclr", "invclr"):
        cls = get_method(name)
        train = preset.train_settings(cls)
        cls.Config.from_overrides(preset.method_settings(cls))
        assert train.encoder == "convnet" and train.encoder_kwargs["norm"] == "group" and train.total_steps == 1248


def test_unknown_preset_suggests_name():
    assert {"paper", "cpu-quick"} <= set(available_presets())
    with pytest.raises(ValueError, match="did you mean 'paper'"):
        get_preset("papr")
