"""load_encoder rebuilds a run's encoder from config.json and encoder.pt."""

import json

import pytest
import torch

from spirograph_baselines import load_encoder
from spirograph_baselines.encoders import build_encoder


def _fake_run(tmp_path, **kwargs):
    torch.manual_seed(0)
    encoder = build_encoder("convnet", widths=[8, 16, 32], **kwargs)
    (tmp_path / "config.json").write_text(json.dumps({"train": {"encoder": "convnet", "encoder_kwargs": {"widths": [8, 16, 32], **kwargs}}}))
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    return encoder


def test_round_trip(tmp_path):
    original = _fake_run(tmp_path).eval()
    loaded = load_encoder(tmp_path)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert not loaded.training
    assert torch.equal(original(images), loaded(images))


def test_bad_run_directories(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        load_encoder(tmp_path)
    _fake_run(tmp_path)
    (tmp_path / "encoder.pt").unlink()
    with pytest.raises(ValueError, match="finished run"):
        load_encoder(tmp_path)
    (tmp_path / "encoder.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="encoder.pt"):
        load_encoder(tmp_path)


def test_damaged_weights_are_refused(tmp_path, flip_inside_tensor):
    _fake_run(tmp_path)
    flip_inside_tensor(tmp_path / "encoder.pt")
    with pytest.raises(ValueError, match=r"encoder\.pt.*expected an intact torch file; it is corrupted \(member '.*' does not match its CRC-32"):
        load_encoder(tmp_path)


@pytest.mark.parametrize("run_dir", [5, None, b"run"])
def test_run_dir_must_be_a_path(run_dir):
    with pytest.raises(ValueError, match=r"^run_dir=.*: expected a spirograph-train run directory path"):
        load_encoder(run_dir)
