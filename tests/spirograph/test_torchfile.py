"""Torch files: damaged bytes are refused before torch.load (which does not check the zip CRCs)."""

import random
import zipfile

import pytest
import torch

from spirograph._torchfile import check_torch_file, save_torch


def flip_bytes(path, offset, count=64):
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _state():
    generator = torch.Generator().manual_seed(0)
    return {"weight": torch.randn(64, 32, generator=generator), "bias": torch.randn(64, generator=generator), "step": 3}


def test_flipped_tensor_bytes_load_silently_without_the_check(tmp_path, flip_inside_tensor):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    flip_inside_tensor(path)
    damaged = torch.load(path, weights_only=True)  # why the check exists: no error, wrong weights
    assert not torch.equal(damaged["weight"], _state()["weight"])
    with pytest.raises(ValueError, match=r"weights='.*w\.pt': expected an intact torch file; it is corrupted \(member 'w/data/0' does not match its CRC-32"):
        check_torch_file(path, argument="weights")


def test_intact_files_pass(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    check_torch_file(path, argument="weights")
    legacy = tmp_path / "legacy.pt"
    torch.save(_state(), legacy, _use_new_zipfile_serialization=False)
    check_torch_file(legacy, argument="weights")  # no checksums in the legacy format: torch.load judges it
    previous = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(_state(), tmp_path / "nocrc.pt")
    finally:
        torch.serialization.set_crc32_options(previous)
    check_torch_file(tmp_path / "nocrc.pt", argument="weights")


def test_truncated_archive_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="it is corrupted \\(its zip structure is broken"):
        check_torch_file(path, argument="checkpoint")


def test_any_damage_is_refused_or_harmless(tmp_path):
    """64 inverted bytes anywhere: the check refuses the file, or what loads is exactly the original."""
    clean = save_torch(_state(), tmp_path / "clean.pt")
    original = clean.read_bytes()
    rng = random.Random(0)
    refused = 0
    for offset in rng.sample(range(len(original)), 150):
        path = tmp_path / "damaged.pt"
        path.write_bytes(original)
        flip_bytes(path, offset)
        try:
            check_torch_file(path, argument="weights")
        except ValueError as err:
            assert "\n" not in str(err)
            refused += 1
            continue
        try:
            loaded = torch.load(path, weights_only=True)
        except Exception:  # torch.load's own refusal is also safe
            continue
        assert loaded["step"] == 3 and all(torch.equal(loaded[k], v) for k, v in _state().items() if k != "step"), offset
    assert refused > 100


def test_saved_bytes_are_reproducible_and_loadable(tmp_path):
    first, second = save_torch(_state(), tmp_path / "a.pt"), save_torch(_state(), tmp_path / "b.pt")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {n.split("/")[0] for n in archive.namelist()} == {"archive"}
    check_torch_file(first, argument="weights")
    assert torch.equal(torch.load(first, weights_only=True)["weight"], _state()["weight"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]


def test_saved_with_crcs_even_when_torch_is_told_not_to(tmp_path, flip_inside_tensor):
    previous = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        path = save_torch(_state(), tmp_path / "a.pt")
        assert torch.serialization.get_crc32_options() is False
    finally:
        torch.serialization.set_crc32_options(previous)
    flip_inside_tensor(path)
    with pytest.raises(ValueError, match="does not match its CRC-32"):
        check_torch_file(path, argument="weights")


def test_load_weights_refuses_a_damaged_file(tmp_path, flip_inside_tensor):
    from spirograph.harness.encoders import load_weights

    module = torch.nn.Linear(32, 64)
    path = tmp_path / "w.pt"
    torch.save({"weight": _state()["weight"], "bias": _state()["bias"]}, path)
    flip_inside_tensor(path)
    with pytest.raises(ValueError, match=r"weights='.*w\.pt': expected an intact torch file; it is corrupted"):
        load_weights(module, path)


def test_score_refuses_damaged_weights_with_one_line(tmp_path, capsys, monkeypatch, flip_inside_tensor):
    from spirograph.cli import main

    monkeypatch.chdir(tmp_path)
    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "w.pt")
    flip_inside_tensor(tmp_path / "w.pt", count=16)
    code = main(["score", "--encoder", "torch.nn:Identity", "--weights", "w.pt", "--out", "r.json", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "it is corrupted" in err
    assert not (tmp_path / "r.json").exists()
