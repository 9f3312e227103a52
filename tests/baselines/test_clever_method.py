"""CLeVER and clever-nuisance methods: config errors, the loss composition, a canary, the split probes, a CLI run."""

import json

import pytest
import torch
import torch.nn.functional as F
from ddp_helpers import quiesce as _quiesce
from torch import nn

from spirograph import Spirograph
from spirograph_baselines.encoders import build_encoder
from spirograph_baselines.losses.nt_xent import nt_xent
from spirograph_baselines.methods import StepContext, build_method, get_method
from spirograph_baselines.methods.clever import split_probes
from spirograph_baselines.train import main

GEN = Spirograph(resolution=16)


def _method(name="clever", **overrides):
    torch.manual_seed(0)
    encoder = build_encoder("convnet", widths=[8, 16])
    return build_method(name, encoder, overrides, n_items=64)


def _ctx(n=16, seed=0, epoch=0):
    g = torch.Generator().manual_seed(seed)
    content = GEN.sample_content(n, seed=seed)
    images, nuisance = GEN.views(content, k=2, generator=g)
    return StepContext(images=images, nuisance=nuisance, content=content, indices=torch.arange(n), step=0, total_steps=10,
                       epoch=epoch, generator=g, spirograph=GEN)


def test_registry_and_disclosures():
    assert get_method("clever").uses_nuisance_labels is False
    assert get_method("clever-nuisance").uses_nuisance_labels is True
    assert _method().disclosures()["uses_nuisance_labels"] is False
    assert _method("clever-nuisance").disclosures()["config"]["nuisance_weight"] == 1.0


def test_published_method_has_no_nuisance_setting():
    with pytest.raises(ValueError, match="unknown CLeVERConfig field 'nuisance_weight'"):
        _method("clever", nuisance_weight=1.0)


@pytest.mark.parametrize(
    "name, overrides, match",
    [
        ("clever", {"ir_fraction": 1.0}, "ir_fraction"),
        ("clever", {"ir_fraction": "0.8"}, "ir_fraction"),
        ("clever", {"temperature": 0}, "temperature"),
        ("clever", {"orth_weight": -1}, "orth_weight"),
        ("clever", {"preg_weight": float("inf")}, "preg_weight"),
        ("clever", {"proj_dim": 0}, "proj_dim"),
        ("clever", {"probe_train": 0}, "probe_train/probe_test"),
        ("clever", {"probe_train": 1, "probe_test": 1}, "probe_train"),
        ("clever", {"probe_ridge": 0}, "probe_ridge"),
        ("clever", {"ir_fraxtion": 0.5}, "did you mean 'ir_fraction'"),
        ("clever-nuisance", {"nuisance_weight": 0}, "nuisance_weight"),
    ],
)
def test_bad_config_raises_naming_the_field(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        _method(name, **overrides)


def test_split_that_would_leave_a_part_empty_raises():
    encoder = build_encoder("convnet", widths=[4, 4])  # out_dim 4: ⌊0.1·4⌋ = 0 channels for z_IR
    with pytest.raises(ValueError, match="ir_fraction"):
        build_method("clever", encoder, {"ir_fraction": 0.1}, n_items=4)


@pytest.mark.parametrize("view_passes", ["per-view", "joint"])
def test_training_step_equals_reference_composition(view_passes):
    method = _method(view_passes=view_passes)
    ctx = _ctx()
    out = method.training_step(ctx)
    assert method.encoder.out_dim == 16
    if view_passes == "joint":  # one call: BatchNorm statistics over both views' 32 items
        h = method.encoder(ctx.images.reshape(32, 3, 16, 16))
        z_ir, z_ef = h[:, :12], h[:, 12:]
        p_ir, p_ef = method.ir_head(z_ir).reshape(2, 16, -1), method.ef_head(z_ef).reshape(2, 16, -1)
    else:  # one call per view, encoder and heads alike
        h = [method.encoder(ctx.images[v]) for v in range(2)]
        p_ir = torch.stack([method.ir_head(hv[:, :12]) for hv in h])
        p_ef = torch.stack([method.ef_head(hv[:, 12:]) for hv in h])
    l_cl = nt_xent(p_ir[0], p_ir[1], 0.5)
    l_orth = F.cosine_similarity(p_ef[0], p_ef[1], dim=1).mean().abs()
    norm = lambda m: sum(p.pow(2).sum() for p in m.parameters())
    l_preg = (norm(method.ir_head) - norm(method.ef_head)).abs()
    expected = l_cl + l_orth + 0.001 * l_preg
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["orth"].item() == pytest.approx(l_orth.item(), rel=1e-5)


@pytest.mark.parametrize("name, term", [("clever", "nt_xent"), ("clever-nuisance", "nuisance_mse")])
def test_loss_goes_down_on_a_fixed_batch(name, term):
    method = _method(name)
    ctx = _ctx(n=16)
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    history = []
    for _ in range(20):
        out = method.training_step(ctx)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        history.append((out["loss"].item(), float(out[term])))
    first, last = history[:3], history[-3:]
    assert sum(l for l, _ in last) < 0.9 * sum(l for l, _ in first)
    assert sum(t for _, t in last) < sum(t for _, t in first)


class _ColourEncoder(nn.Module):
    """z_IR: 8 constant channels; z_EF: the mean colour of each image (it carries the nuisance)."""

    out_dim = 11

    def forward(self, images):
        return torch.cat([torch.zeros(images.shape[0], 8), images.mean(dim=(2, 3))], dim=1)


def test_split_probes_read_the_right_channels():
    report = split_probes(_ColourEncoder(), GEN, ir_fraction=0.8, n_train=400, n_test=200, seed=3)
    assert set(report) == {f"probe/{p}/{t}_{m}" for p in ("ir", "ef", "concat") for t in ("content", "nuisance") for m in ("mse", "r2")}
    assert abs(report["probe/ir/content_r2"]) < 0.05 and abs(report["probe/ir/nuisance_r2"]) < 0.05
    assert report["probe/ef/nuisance_r2"] > 0.3
    assert report["probe/concat/nuisance_r2"] == pytest.approx(report["probe/ef/nuisance_r2"], abs=1e-6)


def test_split_probes_are_the_harness_probe():
    from spirograph.harness.probes import fit_ridge

    encoder = _ColourEncoder()
    report = split_probes(encoder, GEN, ir_fraction=0.8, n_train=300, n_test=100, seed=3)
    (train_c, train_a), (test_c, test_a) = (GEN.sample(n, seed=3, stream=f"clever-probe/{s}") for s, n in (("train", 300), ("test", 100)))
    train_h, test_h = encoder(GEN.render(train_c, train_a)).double(), encoder(GEN.render(test_c, test_a)).double()
    for target, (y, y_test) in (("content", (train_c, test_c)), ("nuisance", (train_a, test_a))):
        mse = (fit_ridge(train_h, y.double(), 1e-8).predict(test_h) - y_test.double()).pow(2).mean(0)
        assert report[f"probe/concat/{target}_mse"] == pytest.approx(float(mse.mean()), rel=1e-9)


def test_nuisance_head_is_sized_by_the_training_space():
    from spirograph import FactorSpace

    torch.manual_seed(0)
    space = FactorSpace(content=("m", "b", "sigma", "fg_r", "h"))
    method = build_method("clever-nuisance", build_encoder("convnet", widths=[8, 16]), {}, n_items=64, space=space)
    assert method.nuisance_head.out_features == 5
    assert _method("clever-nuisance").nuisance_head.out_features == 6
    with pytest.raises(ValueError, match="spirograph.space"):
        method.training_step(_ctx())  # views of the default roles: refused, not resized


def test_split_probes_reject_bad_sizes():
    with pytest.raises(ValueError, match="n_train"):
        split_probes(_ColourEncoder(), GEN, n_train=1, n_test=5)


def test_cli_run_writes_the_split_probe_report(tmp_path):
    out = tmp_path / "run"
    args = ["--method", "clever", "--preset", "cpu-quick", "--out", str(out), "--suite", "none", "--threads", "1", "--no-progress",
            "--set", "n_contents=64", "--set", "batch_size=16", "--set", "epochs=2", "--set", "resolution=16",
            "--set", 'encoder_kwargs={"widths": [8, 16]}', "--set", "probe_train=64", "--set", "probe_test=32"]
    assert main(args) == 0
    report = json.loads((out / "method_report.json").read_text())
    assert all(torch.isfinite(torch.tensor(v)) for v in report.values()) and len(report) == 12
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert {"nt_xent", "orth", "preg"} <= set(json.loads(lines[-1]))
    assert main(args) == 2  # the run directory is never clobbered without --overwrite


def _ddp_setup():
    from spirograph_baselines.encoders import ConvNet

    gen = Spirograph(resolution=16, n_points=16, dtype=torch.float64)
    content = gen.sample_content(8, seed=3)
    images, nuisance = gen.views(content, seed=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)  # an initialisation whose two shards differ in mean EF cosine
        # No BatchNorm anywhere, so a shard's forward pass equals the union batch's.
        method = build_method("clever", ConvNet((4, 10), norm="none"), {"head_batch_norm": False, "probe_train": 0, "probe_test": 0}, n_items=8)
    return method.double(), gen, images, nuisance, content


def _ddp_gradient(method, gen, images, nuisance, content, wrap=False):
    ctx = StepContext(images=images, nuisance=nuisance, content=content, indices=torch.arange(content.shape[0]), step=0,
                      total_steps=1, epoch=0, generator=torch.Generator().manual_seed(0), spirograph=gen)
    model = torch.nn.parallel.DistributedDataParallel(method) if wrap else method
    out = model(ctx)
    out["loss"].backward()
    return torch.cat([p.grad.flatten() for p in method.parameters()]), out["orth"]


def _ddp_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        method, gen, images, nuisance, content = _ddp_setup()
        shard = slice(4 * rank, 4 * rank + 4)
        torch.save(_ddp_gradient(method, gen, images[:, shard], nuisance[:, shard], content[shard], wrap=True), f"{out_dir}/grad{rank}.pt")
        _quiesce()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_match_single_process_union_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    expected, orth = _ddp_gradient(*_ddp_setup())
    method, gen, images, nuisance, content = _ddp_setup()
    _, shard_orth = _ddp_gradient(method, gen, images[:, :4], nuisance[:, :4], content[:4])
    assert abs(shard_orth - orth) > 1e-6  # so the check below sees whether L_Orth is taken over the union
    for rank in range(2):
        got, got_orth = torch.load(tmp_path / f"grad{rank}.pt")
        assert torch.allclose(got, expected, rtol=1e-9, atol=1e-12), (got - expected).abs().max()
        assert got_orth.item() == pytest.approx(orth.item(), rel=1e-12)


def test_cpu_quick_trains_clever_like_simclr():
    from spirograph_baselines.presets import get_preset

    preset = get_preset("cpu-quick")
    simclr = preset.train_settings(get_method("simclr")).to_dict()
    for name in ("clever", "clever-nuisance"):
        assert preset.train_settings(get_method(name)).to_dict() == simclr
        cfg = get_method(name).Config.from_overrides(preset.method_settings(get_method(name)))
        assert (cfg.temperature, cfg.proj_dim, cfg.orth_weight, cfg.preg_weight, cfg.ir_fraction) == (0.5, 128, 1.0, 0.001, 0.8)
