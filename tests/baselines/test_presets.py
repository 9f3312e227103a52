"""Presets: `paper` is exactly PROTOCOL.md §2/§3 (the original code); `cpu-quick` keeps its chosen settings."""

import math

import pytest
import torch

from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.config import TrainConfig
from spirograph_baselines.loop import Trainer
from spirograph_baselines.methods import get_method
from spirograph_baselines.optim import WARMUP_START, build_schedule
from spirograph_baselines.presets import available_presets, get_preset


def test_paper_preset_is_the_spec():
    preset = get_preset("paper")
    train = preset.train_settings(get_method("simclr"))
    assert (train.encoder, train.n_contents, train.batch_size, train.epochs) == ("resnet18", 100_000, 512, 50)
    assert (train.optimizer, train.lr, train.momentum, train.weight_decay, train.trust_coefficient) == ("lars", 3.0, 0.9, 1e-6, 1e-3)
    assert (train.warmup_epochs, train.schedule_unit, train.resolution, train.normalize) == (10, "epoch", 32, "row")
    assert train.schedule_units() == (10, 50) and train.lr_schedule == "cosine-ramp"
    # No dropped partial batch: 195 batches of 512 and one of 160 per epoch, as the original's DataLoader.
    assert not train.drop_last and train.steps_per_epoch == 196 and train.total_steps == 9800
    assert [train.batch_size_at(s) for s in (0, 194, 195, 196)] == [512, 512, 160, 512]
    assert TrainConfig.from_overrides(train, {"max_steps": 1960}).total_steps == 1960  # the epoch-10 comparison
    for name in ("simclr", "invclr", "clever"):
        cls = get_method(name)
        assert cls.Config.from_overrides(preset.method_settings(cls)).view_passes == "per-view"
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


# cpu-quick's settings as chosen on validation contents (RESULTS.md): unchanged by the paper-fidelity settings.
CPU_QUICK_SIMCLR = {
    "encoder": "convnet", "encoder_kwargs": {"widths": [32, 64, 128], "norm": "group"}, "n_contents": 20000, "data_seed": 0,
    "batch_size": 256, "drop_last": True, "epochs": 16, "max_steps": None, "optimizer": "lars", "base_lr": 1.5, "momentum": 0.9,
    "weight_decay": 1e-6, "trust_coefficient": 1e-3, "warmup_epochs": 1, "lr_schedule": "warmup-cosine", "schedule_unit": "step",
    "generator": "spirograph", "resolution": 32, "normalize": "row", "render": {}, "checkpoint_every": 100, "log_every": 10,
}


def test_cpu_quick_keeps_its_chosen_settings_and_per_step_lr():
    preset = get_preset("cpu-quick")
    for name in ("simclr", "invclr", "clever", "clever-nuisance"):
        cls = get_method(name)
        train = preset.train_settings(cls)
        assert train.to_dict() == CPU_QUICK_SIMCLR
        assert cls.Config.from_overrides(preset.method_settings(cls)).view_passes == "joint"
    assert train.steps_per_epoch == 78  # 20,000 / 256, the last 32 items of each epoch's order dropped
    # Per step: linear warm-up from 0.001·lr over the first epoch (78 steps), then cosine to 0 over the rest.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=train.lr)
    warmup, total = train.schedule_units()
    assert (warmup, total) == (78, 1248)
    sched = build_schedule(train.lr_schedule, opt, warmup=warmup, total=total)
    for step in range(total):
        if step < 78:
            expected = 1.5 * (WARMUP_START + (1 - WARMUP_START) * step / 78)
        else:
            expected = 1.5 * 0.5 * (1 + math.cos(math.pi * (step - 78) / (1248 - 78)))
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        opt.step()
        sched.step()
    invprop = preset.train_settings(get_method("invprop"))
    assert (invprop.n_contents, invprop.epochs, invprop.steps_per_epoch, invprop.total_steps) == (5000, 40, 19, 760)


def test_paper_trainer_runs_partial_batches_and_the_per_epoch_schedule(tmp_path):
    # The paper preset shrunk: 10 contents in batches of 4 (4, 4, 2), 12 epochs with a 3-epoch ramp.
    paper = get_preset("paper")
    cfg = TrainConfig.from_overrides(
        paper.train_settings(get_method("simclr")),
        {"encoder": "convnet", "encoder_kwargs": {"widths": [4], "norm": "batch"}, "n_contents": 10, "batch_size": 4,
         "epochs": 12, "warmup_epochs": 3, "resolution": 8},
    )
    method_cfg = get_method("simclr").Config.from_overrides(paper.method_settings(get_method("simclr")))
    trainer = Trainer(method_name="simclr", method_config=method_cfg, train_config=cfg, seed=0, device=torch.device("cpu"),
                      run_dir=RunDir(tmp_path / "run"), progress=False)
    assert cfg.total_steps == 36
    seen = []
    for step in range(cfg.total_steps):
        epoch = step // 3
        batch = trainer.batch_indices(step)
        seen.append(batch)
        assert batch.shape[0] == (2 if step % 3 == 2 else 4)
        if step % 3 == 2:  # every epoch visits every content once
            assert sorted(torch.cat(seen[-3:]).tolist()) == list(range(10))
        lr = trainer.train_step()["lr"]
        assert lr == pytest.approx(cfg.lr * min(0.5 * (1 + math.cos(math.pi * epoch / 12)), (epoch + 1) / 3), rel=1e-12)


@pytest.mark.parametrize(
    "overrides, world, message",
    [
        ({}, 3, "batch_size=512: expected a multiple of the number of processes (3)"),
        ({"n_contents": 1002}, 4, "drop_last=False: expected true, or n_contents with a last partial batch (490 items)"),
        ({"n_contents": 1025, "batch_size": 512}, 1, "drop_last=False: expected true when n_contents mod batch_size is 1"),
    ],
)
def test_batches_that_do_not_shard_are_one_clear_error(overrides, world, message):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_overrides(get_preset("paper").train, overrides).check_world_size(world)
    assert message in str(err.value)
    TrainConfig.from_overrides(get_preset("paper").train, {"n_contents": 1000}).check_world_size(8)  # 488 = 8·61


def test_unknown_preset_suggests_name():
    assert {"paper", "cpu-quick"} <= set(available_presets())
    with pytest.raises(ValueError, match="did you mean 'paper'"):
        get_preset("papr")
