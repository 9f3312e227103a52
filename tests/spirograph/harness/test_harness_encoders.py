"""The encoder contract: every bad encoder gets one clear error before any result exists."""

from __future__ import annotations

import textwrap

import pytest
import torch
from harness_helpers import SmallNet, tiny_suite
from torch import nn

from spirograph.harness import EncoderError, score
from spirograph.harness.encoders import RandomConvNet, load_encoder, load_weights, parameter_count, reference_encoder


def raises(images):
    raise RuntimeError("boom")


def flat(images):
    return images.mean(dim=(1, 2, 3))


def three_d(images):
    return images[:, :, 0]


def drops_a_row(images):
    return images.flatten(1)[1:, :4]


def not_finite(images):
    out = images.flatten(1)[:, :4].clone()
    out[0, 0] = float("nan")
    return out


def numpy_output(images):
    return images.flatten(1).numpy()


def integer_output(images):
    return torch.ones(images.shape[0], 2, dtype=torch.long)


def empty_features(images):
    return torch.ones(images.shape[0], 0)


_GENERATOR = torch.Generator().manual_seed(0)


def random_each_call(images):
    # Dropout at test time: different features for the same images.
    mask = (torch.rand(images.shape[0], 8, generator=_GENERATOR) > 0.5).float()
    return images.flatten(1)[:, :8] * mask


_BN = nn.BatchNorm1d(8).train()


def batch_norm_in_train_mode(images):
    return _BN(images.flatten(1)[:, :8])


@pytest.mark.parametrize(
    "encoder, message",
    [
        (raises, "the encoder raised RuntimeError on the check batch: boom"),
        (flat, "expected 2-D features"),
        (three_d, "expected 2-D features"),
        (drops_a_row, "rows for a batch of 16"),
        (not_finite, "non-finite features"),
        (numpy_output, "returned ndarray"),
        (integer_output, "expected floating features"),
        (empty_features, "at least one feature"),
        (random_each_call, "different features for the same images on two calls"),
        (batch_norm_in_train_mode, "depend on the other images in its batch"),
    ],
)
def test_bad_encoders_are_rejected(encoder, message):
    with pytest.raises(EncoderError, match=message):
        score(encoder, suite=tiny_suite(), tasks=["linear"], progress=False)


def test_encoder_failing_mid_run_names_the_batch():
    calls = {"n": 0}

    def fails_later(images):
        calls["n"] += 1
        if calls["n"] > 3:
            raise ValueError("out of memory")
        return images.flatten(1)[:, :4]

    with pytest.raises(EncoderError, match=r"items 0\.\.199 of train draw 0: out of memory"):
        score(fails_later, suite=tiny_suite(), tasks=["linear"], progress=False)


def test_not_callable():
    with pytest.raises(ValueError, match="encoder='int': expected a callable"):
        score(3, suite=tiny_suite(), progress=False)


def test_references():
    assert parameter_count(reference_encoder("pixels")) == 0
    assert parameter_count(reference_encoder("random-convnet")) == 3 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 128 * 9 + 128
    a, b = RandomConvNet(seed=0), RandomConvNet(seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="unknown reference encoder 'pixel'; did you mean 'pixels'?"):
        reference_encoder("pixel")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_encoders_for_tests.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def build():
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 5))

        def broken():
            raise KeyError("missing config")

        def not_an_encoder():
            return 42

        NOT_CALLABLE = 1
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_encoders_for_tests"


def test_load_encoder(user_module, tmp_path):
    encoder = load_encoder(f"{user_module}:build")
    weights = tmp_path / "w.pt"
    torch.save(encoder.state_dict(), weights)
    loaded = load_encoder(f"{user_module}:build", weights)
    assert all(torch.equal(p, q) for p, q in zip(encoder.parameters(), loaded.parameters()))
    torch.save({"state_dict": encoder.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    load_encoder(f"{user_module}:build", tmp_path / "ckpt.pt")


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("no_colon", ValueError, "expected MODULE:CALLABLE"),
        ("a:b:c", ValueError, "expected MODULE:CALLABLE"),
        ("no_such_module_xyz:build", ValueError, "an importable module"),
        ("{m}:biuld", ValueError, "has no callable 'biuld'; did you mean 'build'\\? callables defined in it: broken, build, not_an_encoder$"),
        ("{m}:nn", ValueError, "has no callable 'nn' \\(nn is a module\\); callables defined in it: broken, build, not_an_encoder$"),
        ("{m}:broken", EncoderError, "raised KeyError"),
        ("{m}:not_an_encoder", ValueError, "returning a callable encoder"),
        ("{m}:NOT_CALLABLE", ValueError, "has no callable 'NOT_CALLABLE' \\(NOT_CALLABLE is a int\\)"),
    ],
)
def test_load_encoder_errors(user_module, spec, error, message):
    with pytest.raises(error, match=message):
        load_encoder(spec.format(m=user_module))


def test_weights_errors(user_module, tmp_path):
    encoder = load_encoder(f"{user_module}:build")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_weights(encoder, tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(OSError, match="does not load with torch.load"):
        load_weights(encoder, tmp_path / "garbage.pt")
    torch.save(SmallNet().state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="a state dict matching the encoder"):
        load_weights(encoder, tmp_path / "other.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holding a state dict"):
        load_weights(encoder, tmp_path / "list.pt")
    with pytest.raises(ValueError, match="only for an nn.Module"):
        load_weights(lambda x: x, tmp_path / "other.pt")


def test_load_encoder_from_a_file(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "layers_for_file_test.py").write_text("from torch import nn\nWIDTH = 7\n")
    (folder / "my_encoder.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from layers_for_file_test import WIDTH  # a neighbour of the file, found as python FILE.py would

        def build():
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, WIDTH))
    """))
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    encoder = load_encoder(f"{folder / 'my_encoder.py'}:build")
    assert encoder[1].out_features == 7
    monkeypatch.chdir(tmp_path)
    assert load_encoder("models/my_encoder.py:build")[1].out_features == 7
    with pytest.raises(ValueError, match="has no callable 'biuld'; did you mean 'build'\\? callables defined in it: build$"):
        load_encoder("models/my_encoder.py:biuld")
    with pytest.raises(ValueError, match="an existing Python file"):
        load_encoder("models/missing.py:build")
    with pytest.raises(ValueError, match="ending in .py"):
        load_encoder("models/my_encoder.txt:build")
    # A module name that is a file of the current folder, which the command's import path lacks: say so.
    monkeypatch.chdir(folder)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".", str(folder))])
    with pytest.raises(ValueError, match="'my_encoder.py' is in the current folder.*pass --encoder my_encoder.py:build"):
        load_encoder("my_encoder:build")
