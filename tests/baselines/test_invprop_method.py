"""Invariance Propagation method: config errors, one view per item, bank updates, warm-up, canary, resume, DDP."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from ddp_helpers import quiesce as _quiesce

from spirograph import FactorSpace, Spirograph
from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.config import TrainConfig
from spirograph_baselines.encoders import build_encoder
from spirograph_baselines.loop import Trainer
from spirograph_baselines.methods import StepContext, build_method, get_method
from spirograph_baselines.methods.invprop import InvPropConfig

GEN = Spirograph(resolution=16)
SMALL = {"background_size": 16, "positives": 4, "inv_warmup_epochs": 1}


def _method(n_items=64, **overrides):
    torch.manual_seed(0)
    encoder = build_encoder("convnet", widths=[8, 16])
    return build_method("invprop", encoder, {**SMALL, **overrides}, n_items=n_items)


def _ctx(indices, seed=0, epoch=0):
    g = torch.Generator().manual_seed(seed)
    content = GEN.sample_content(64, seed=0)[indices]
    images, nuisance = GEN.views(content, k=1, generator=g)
    return StepContext(images=images, nuisance=nuisance, content=content, indices=indices, step=0, total_steps=10,
                       epoch=epoch, generator=g, spirograph=GEN)


def _trainer(tmp_path, name="run", *, world_size=1, rank=0, **train):
    settings = dict(encoder="convnet", encoder_kwargs={"widths": [8, 16]}, n_contents=64, batch_size=16, epochs=4,
                    optimizer="sgd", base_lr=0.5, warmup_epochs=1, schedule_unit="step", resolution=16,
                    checkpoint_every=1000, log_every=4)
    settings.update(train)
    cfg = TrainConfig(**settings).validate()
    method_cfg = InvPropConfig.from_overrides(SMALL)
    run_dir = RunDir(tmp_path / name)
    if rank == 0:
        run_dir.prepare({"method": "invprop", "preset": "test", "seed": 0, "world_size": world_size, "train": cfg.to_dict()}, resume=False, overwrite=False)
    return Trainer(method_name="invprop", method_config=method_cfg, train_config=cfg, seed=0, device=torch.device("cpu"),
                   run_dir=run_dir, rank=rank, world_size=world_size, progress=False)


def test_registered_with_one_view_and_no_nuisance_labels():
    cls = get_method("invprop")
    assert cls.views_per_item == 1 and cls.uses_nuisance_labels is False
    assert InvPropConfig().validate().to_dict() == {
        "embed_dim": 128, "temperature": 0.2, "background_size": 4096, "neighbours": 4, "steps": 3, "positives": 20,
        "lam_inv": 0.6, "inv_warmup_epochs": 30, "bank_momentum": 0.5, "bank_seed": 0,
    }


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"positives": 16}, "positives"),
        ({"neighbours": 16}, "neighbours"),
        ({"background_size": 1}, "background_size"),
        ({"lam_inv": -0.1}, "lam_inv"),
        ({"bank_momentum": 1.0}, "bank_momentum"),
        ({"temperature": 0.0}, "temperature"),
        ({"inv_warmup_epochs": -1}, "inv_warmup_epochs"),
        ({"steps": 0}, "steps"),
        ({"backgroud_size": 8}, "did you mean 'background_size'"),
    ],
)
def test_bad_config_raises_naming_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        _method(**overrides)


def test_background_larger_than_the_bank_is_rejected_at_build():
    with pytest.raises(ValueError, match="background_size=16: expected at most the number of training items \\(8\\)"):
        _method(n_items=8)


def test_after_step_writes_the_batch_into_bank_graph_and_factor_record():
    method = _method()
    before = method.bank.vectors.clone()
    idx = torch.tensor([3, 10, 40, 41])
    ctx = _ctx(idx)
    out = method.training_step(ctx)
    v = F.normalize(method.head(method.encoder(ctx.images[0])), dim=1).detach()
    rows = method._pending[2].clone()
    method.after_step(ctx, out)
    expected = F.normalize(0.5 * before[idx] + 0.5 * v, dim=1)
    assert torch.allclose(method.bank.vectors[idx], expected, atol=1e-5)
    others = torch.ones(64, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(method.bank.vectors[others], before[others])
    assert torch.equal(method.bank.graph[idx], rows) and not (rows == idx.unsqueeze(1)).any()
    assert method.item_seen.sum() == 4 and torch.equal(method.item_content[idx], ctx.content)
    assert torch.equal(method.item_nuisance[idx], ctx.nuisance[0])


def test_invariance_term_switches_on_after_the_warm_up(monkeypatch):
    from spirograph_baselines.losses import invprop as losses

    calls = []
    propagate = losses.propagate
    monkeypatch.setattr(losses, "propagate", lambda *a, **k: calls.append(1) or propagate(*a, **k))
    method = _method()
    warm = method.training_step(_ctx(torch.arange(16), epoch=0))
    assert warm["lam_inv"] == 0.0 and warm["loss"].item() == pytest.approx(warm["l_ins"].item())
    # The warm-up never uses L_inv, so it does not propagate or look for hard positives.
    assert calls == [] and "l_inv" not in warm and "pos_found" not in warm
    on = method.training_step(_ctx(torch.arange(16), epoch=1))
    assert on["lam_inv"] == 0.6 and calls == [1] and "pos_found" in on
    assert on["loss"].item() == pytest.approx(on["l_ins"].item() + 0.6 * on["l_inv"].item(), rel=1e-6)


def test_buffers_are_sized_by_the_training_space_and_other_roles_are_refused():
    space = FactorSpace(content=("m", "b", "sigma", "fg_r", "h"))
    torch.manual_seed(0)
    method = build_method("invprop", build_encoder("convnet", widths=[8, 16]), SMALL, n_items=64, space=space)
    assert method.item_content.shape == (64, 5) and method.item_nuisance.shape == (64, 5)
    ctx = _ctx(torch.arange(16))  # rendered from the default roles (4 content, 6 nuisance)
    with pytest.raises(ValueError, match="spirograph.space=.*expected the roles the method was built for"):
        method.training_step(ctx)
    with pytest.raises(ValueError, match="space='dict': expected a FactorSpace"):
        build_method("invprop", build_encoder("convnet", widths=[8]), SMALL, n_items=64, space={})


def test_trainer_renders_one_view_per_item_and_logs_diagnostics(tmp_path):
    trainer = _trainer(tmp_path)
    assert trainer.method.space is trainer.spirograph.space
    ctx = trainer.context(0)
    assert ctx.images.shape == (1, 16, 3, 16, 16) and ctx.nuisance.shape == (1, 16, 6)
    logs = [trainer.train_step() for _ in range(12)]
    assert {"pos_content_dist", "rand_content_dist", "pos_nuisance_dist", "rand_nuisance_dist"} <= set(logs[-1])
    assert logs[-1]["pos_found"] > 0 and logs[-1]["lam_inv"] == 0.6
    assert bool(trainer.method.item_seen.all())


def test_instance_loss_goes_down_when_views_repeat(tmp_path):
    """Canary: with the nuisance pinned the instance task is learnable, so L_ins must fall."""
    trainer = _trainer(tmp_path, epochs=12)
    trainer.spirograph = Spirograph(trainer.spirograph.space.pin("h", 1.5).pin("fg_g", 0.7).pin("fg_b", 0.7)
                                    .pin("bg_r", 0.3).pin("bg_g", 0.3).pin("bg_b", 0.3), resolution=16)
    losses = [trainer.train_step()["l_ins"] for _ in range(48)]
    assert sum(losses[-8:]) / 8 < sum(losses[4:12]) / 8 - 0.3


def test_resume_continues_exactly(tmp_path):
    straight = _trainer(tmp_path, "straight")
    straight.fit()
    first = _trainer(tmp_path, "resumed")
    for _ in range(7):
        first.train_step()
    first.save_checkpoint()
    second = _trainer(tmp_path, "resumed-2")
    second.run_dir = first.run_dir
    second.load_checkpoint()
    second.fit()
    a, b = straight.method.state_dict(), second.method.state_dict()
    for key in ("bank.vectors", "bank.graph", "item_content", "item_seen"):
        assert torch.equal(a[key], b[key]), key
    assert all(torch.equal(a[k], b[k]) for k in a)


def _ddp_worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        from pathlib import Path

        trainer = _trainer(Path(out_dir), "ddp", world_size=world, rank=rank, epochs=2)
        for _ in range(6):
            trainer.train_step()
        method = trainer.method
        torch.save({k: method.state_dict()[k] for k in ("bank.vectors", "bank.graph", "item_content", "item_nuisance", "item_seen")},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        del trainer, method
        _quiesce()
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_keep_identical_banks(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    # Both shards of each of the 6 global batches reached the bank: 6 × 16 items, 64 distinct at most.
    assert int(r0["item_seen"].sum()) == 64


def test_presets_scale_invprop_consistently():
    from spirograph_baselines.presets import get_preset

    cls = get_method("invprop")
    paper = cls.Config.from_overrides(get_preset("paper").method_settings(cls))
    assert (paper.temperature, paper.background_size, paper.neighbours, paper.steps, paper.positives) == (0.2, 4096, 4, 3, 20)
    assert (paper.lam_inv, paper.inv_warmup_epochs, paper.bank_momentum) == (0.6, 30, 0.5)
    for name in ("paper", "cpu-quick"):
        preset = get_preset(name)
        cfg = cls.Config.from_overrides(preset.method_settings(cls))
        train = preset.train_settings(cls)
        assert cfg.background_size <= train.n_contents and cfg.inv_warmup_epochs < train.epochs
    quick = get_preset("cpu-quick").train_settings(cls)
    assert (quick.n_contents, quick.epochs) == (5000, 40)
    assert get_preset("cpu-quick").train_settings(get_method("simclr")).n_contents == 20_000
