"""Method registry, config validation and loss-goes-down canaries for simclr and invclr."""

import json
import math

import pytest
import torch

from spirograph import Spirograph
from spirograph_baselines import train
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.methods import StepContext, available_methods, build_method, get_method
from spirograph_baselines.methods.invclr import InvCLRConfig
from spirograph_baselines.methods.simclr import SimCLRConfig


def test_registry_lists_methods_and_suggests_names():
    assert {"simclr", "invclr"} <= set(available_methods())
    with pytest.raises(ValueError, match="did you mean 'simclr'"):
        get_method("simclrr")


@pytest.mark.parametrize(
    "config, field",
    [
        (lambda: SimCLRConfig(temperature=0), "temperature"),
        (lambda: SimCLRConfig(temperature=-1.0), "temperature"),
        (lambda: SimCLRConfig(proj_dim=0), "proj_dim"),
        (lambda: InvCLRConfig(lam=-0.1), "lam"),
        (lambda: InvCLRConfig(lam=float("nan")), "lam"),
        (lambda: InvCLRConfig(clamp=0), "clamp"),
        (lambda: InvCLRConfig(n_prior=0), "n_prior"),
        (lambda: InvCLRConfig(lam_warmup=1.0), "lam_warmup"),
        (lambda: InvCLRConfig(penalty_items=-1), "penalty_items"),
        (lambda: InvCLRConfig(penalty_target="standardised"), "penalty_target='standardised': expected one of 'normalized', 'raw', 'standardized'"),
        (lambda: InvCLRConfig(penalty_target=True), "penalty_target"),
        (lambda: InvCLRConfig(penalty_target="standardized", penalty_items=1), "penalty_items=1"),
    ],
)
def test_config_rejects_bad_values(config, field):
    with pytest.raises(ValueError, match=field):
        config().validate()


def test_unknown_override_suggests_field():
    with pytest.raises(ValueError, match="did you mean 'lam'"):
        InvCLRConfig.from_overrides({"lamb": 0.1})


def test_removed_penalty_normalize_names_its_replacement():
    with pytest.raises(ValueError, match="penalty_normalize=False: expected penalty_target instead"):
        InvCLRConfig.from_overrides({"penalty_normalize": False})
    assert InvCLRConfig.from_overrides({}).penalty_target == "normalized"  # the paper


def test_penalty_target_from_the_command_line(tmp_path, capsys):
    tiny = [
        "--method", "invclr", "--preset", "cpu-quick", "--suite", "none", "--no-progress", "--threads", "1",
        "--set", 'encoder_kwargs={"widths": [8], "norm": "group"}', "--set", "n_contents=32", "--set", "batch_size=16",
        "--set", "epochs=2", "--set", "warmup_epochs=0", "--set", "resolution=16", "--set", "n_prior=4", "--set", "log_every=1",
    ]
    out = tmp_path / "run"
    assert train.main(["--out", str(out), *tiny, "--set", "penalty_target=standardized", "--set", "penalty_items=8"]) == 0
    assert json.loads((out / "config.json").read_text())["method_config"]["penalty_target"] == "standardized"
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(logs) == 4 and all(math.isfinite(line["penalty"]) and line["penalty"] > 0 for line in logs)
    assert train.main(["--out", str(tmp_path / "bad"), *tiny, "--set", "penalty_target=std"]) == 2
    assert "penalty_target='std': expected one of" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()


def test_lambda_warmup_is_linear_then_flat():
    method = build_method("invclr", ConvNet((4,)), {"lam": 0.2, "lam_warmup": 0.5}, n_items=8)
    assert method.lam_at(0.0) == 0.0
    assert method.lam_at(0.25) == pytest.approx(0.1)
    assert method.lam_at(0.9) == pytest.approx(0.2)


def _train_fixed_batch(name, overrides, steps=25):
    gen = Spirograph(resolution=16, n_points=20)
    content = gen.sample_content(16, seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method(name, ConvNet((8, 16)), overrides, n_items=16)
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        # The same views every step: the loss of a fixed batch must go down.
        views = torch.Generator().manual_seed(0)
        images, nuisance = gen.views(content, generator=views, requires_grad=method.needs_nuisance_grad)
        ctx = StepContext(images, nuisance, content, torch.arange(16), step, steps, 0, torch.Generator().manual_seed(1), gen)
        out = method.training_step(ctx)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out)
    return losses


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_view_passes_per_view_calls_the_network_once_per_view(norm):
    gen = Spirograph(resolution=16, n_points=20)
    images, _ = gen.views(gen.sample_content(8, seed=0), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    per_view = build_method("simclr", ConvNet((4, 8), norm=norm), {}, n_items=8)
    joint = build_method("simclr", ConvNet((4, 8), norm=norm), {"view_passes": "joint"}, n_items=8)
    joint.load_state_dict(per_view.state_dict())
    h, z = per_view.encode_views(images)
    for v in range(2):  # the original code: net(x1), net(x2), then the head on each
        assert torch.equal(h[v], per_view.encoder(images[v])) and torch.equal(z[v], per_view.head(per_view.encoder(images[v])))
    _, z_joint = joint.encode_views(images)
    # The head's BatchNorm (and the encoder's, with norm="batch") sees 8 items per view, or 16 jointly.
    assert z_joint.shape == z.shape and not torch.allclose(z_joint, z, atol=1e-4)
    with pytest.raises(ValueError, match="view_passes='both': expected one of 'per-view', 'joint'"):
        SimCLRConfig(view_passes="both").validate()


def test_simclr_loss_goes_down():
    logs = _train_fixed_batch("simclr", {})
    assert logs[-1]["loss"].item() < 0.8 * logs[0]["loss"].item()


@pytest.mark.parametrize("penalty_items, target", [(0, "normalized"), (6, "normalized"), (0, "standardized"), (6, "standardized")])
def test_invclr_loss_and_penalty_go_down(penalty_items, target):
    logs = _train_fixed_batch("invclr", {"lam": 1.0, "n_prior": 8, "penalty_items": penalty_items, "penalty_target": target})
    first, last = logs[0], logs[-1]
    assert torch.isfinite(first["penalty"]) and first["penalty"] > 0
    assert last["loss"].item() < 0.8 * first["loss"].item()
    assert last["penalty"].item() < first["penalty"].item()


def test_invclr_without_penalty_weight_equals_simclr():
    simclr = _train_fixed_batch("simclr", {}, steps=3)
    invclr = _train_fixed_batch("invclr", {"lam": 0.0, "n_prior": 2}, steps=3)
    for a, b in zip(simclr, invclr):
        assert a["loss"].item() == pytest.approx(b["loss"].item(), rel=1e-5)
