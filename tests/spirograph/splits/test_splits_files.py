"""Split files: round trip, determinism across chunking/workers, resume, overwrite rules, verify."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
import torch

from spirograph import FactorSpace, Spirograph
from spirograph.splits import (
    SHIFT_FAMILIES,
    SplitFileError,
    encode,
    generate,
    info,
    load_split,
    open_split_file,
    parse_shifts,
    partial_path,
    shift_split_name,
    split_meta,
    split_spec,
    verify,
)

SHIFTS = "bg_mean:0.2,bg_width:0.1,h_mean:-0.3"
SPLITS = ["train", "test", "shift/bg_mean+0.2", "shift/bg_width+0.1", "shift/h_mean-0.3"]


def _write(path, **kwargs):
    options = dict(seed=5, train=40, test=24, shifts=SHIFTS, chunk_size=16, progress=False)
    options.update(kwargs)
    return generate(path, **options)


def _datasets(path) -> dict:
    """Every dataset's values and checksum attributes, keyed by split."""
    out = {}
    with h5py.File(path, "r") as f:
        for split in json.loads(f.attrs["splits"]):
            group = f[split]
            out[split] = {key: group[key][()] for key in ("images", "content", "nuisance")}
            out[split].update({k: group.attrs[k] for k in group.attrs if k.startswith("checksum_")})
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for split in a:
        for key, value in a[split].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == b[split][key].dtype and value.tobytes() == b[split][key].tobytes(), (split, key)
            else:
                assert value == b[split][key], (split, key)


@pytest.fixture(scope="module")
def split_file(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("h5") / "splits.h5")


def test_round_trip_equals_on_the_fly_rendering(split_file):
    for split in SPLITS:
        spec = split_spec(FactorSpace(), split, 24)
        n = 40 if split == "train" else 24
        images, content, nuisance = Spirograph(spec.space).items(n, seed=5, stream=spec.stream)
        stored_images, stored_content, stored_nuisance = load_split(split_file, split)
        assert torch.equal(stored_content, content) and torch.equal(stored_nuisance, nuisance)
        with h5py.File(split_file, "r") as f:
            raw = f[split]["images"][()]
            dtype = f[split].attrs["dtype"]
        assert np.array_equal(raw, encode(images, dtype))
        # uint8 quantisation error is at most half a level.
        assert (stored_images - images).abs().max() <= (0.5 / 255 + 1e-6 if dtype == "uint8" else 0)


def test_float32_file_is_the_renderer_output_exactly(tmp_path):
    path = _write(tmp_path / "f32.h5", dtype="float32", shifts=None, train=8, test=8)
    images, _, _ = load_split(path, "test")
    assert torch.equal(images, Spirograph().items(8, seed=5, stream="test")[0])


def test_layout_and_metadata(split_file):
    with h5py.File(split_file, "r") as f:
        assert json.loads(f.attrs["splits"]) == SPLITS
        assert f.attrs["format"] == "spirograph-bench/splits" and bool(f.attrs["complete"])
        train = f["train"]
        assert train["images"].shape == (40, 3, 32, 32) and train["images"].dtype == np.uint8
        assert train["content"].shape == (40, 4) and train["content"].dtype == np.float32
        assert train["nuisance"].shape == (40, 6)
        assert json.loads(train.attrs["content_names"]) == ["m", "b", "sigma", "fg_r"]
        assert json.loads(train.attrs["nuisance_names"]) == ["h", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b"]
        assert train.attrs["content_ranges"].tolist()[0] == [2.0, 5.0]
        assert train.attrs["normalize"] == "row" and int(train.attrs["resolution"]) == 32 and int(train.attrs["seed"]) == 5
        assert all(train.attrs[f"checksum_{k}"].startswith("sha256:") for k in ("images", "content", "nuisance"))
        # uint8 cannot hold the widened background (it leaves [0, 1]): that split is float32.
        assert f["shift/bg_width+0.1"].attrs["dtype"] == "float32"
        assert f["shift/bg_width+0.1"]["images"][()].min() < 0
        assert f["shift/h_mean-0.3"].attrs["shift_family"] == "h_mean"
        assert float(f["shift/h_mean-0.3"].attrs["mean_shift"]) == pytest.approx(-0.3)


def test_shift_splits_share_the_test_content(split_file):
    _, test_content, test_nuisance = load_split(split_file, "test")
    for split in SPLITS[2:]:
        _, content, nuisance = load_split(split_file, split)
        assert torch.equal(content, test_content)
        with open_split_file(split_file) as f:
            space = split_meta(f, split).space
        for col, name in enumerate(space.nuisance):
            assert space[name].low <= nuisance[:, col].min() and nuisance[:, col].max() <= space[name].high
    _, _, h_shift = load_split(split_file, "shift/h_mean-0.3")
    assert torch.allclose(h_shift[:, 0], test_nuisance[:, 0] - 0.3, atol=1e-6)
    assert torch.equal(h_shift[:, 1:], test_nuisance[:, 1:])


def test_identical_across_chunk_sizes_and_workers(tmp_path, split_file):
    reference = _datasets(split_file)
    _assert_same(reference, _datasets(_write(tmp_path / "c7.h5", chunk_size=7)))
    _assert_same(reference, _datasets(_write(tmp_path / "w2.h5", chunk_size=5, workers=2)))


def test_compression_keeps_values_and_checksums(tmp_path, split_file):
    path = _write(tmp_path / "gz.h5", compression="gzip", shifts=None)
    with h5py.File(path, "r") as f:
        assert f["train"]["images"].compression == "gzip" and f["train"]["images"].chunks[0] >= 1
    reference = _datasets(split_file)
    got = _datasets(path)
    for split in got:
        for key in got[split]:
            value = got[split][key]
            assert (value.tobytes() == reference[split][key].tobytes()) if isinstance(value, np.ndarray) else value == reference[split][key]
    assert verify(path).ok


def test_resume_continues_a_partial_file(tmp_path, split_file):
    out = tmp_path / "resumed.h5"

    def interrupt(split, done, n):
        if split == "test" and done >= 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write(out, on_chunk=interrupt)
    assert not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r") as f:
        assert int(f["train"].attrs["n_done"]) == 40 and int(f["test"].attrs["n_done"]) == 16
    with pytest.raises(FileExistsError, match="resume"):
        _write(out)
    with pytest.raises(ValueError, match="different settings"):
        _write(out, resume=True, seed=6)
    assert partial_path(out).exists()
    seen = []
    _write(out, resume=True, chunk_size=3, on_chunk=lambda s, d, n: seen.append((s, d)))
    assert seen[0] == ("test", 19)  # continued after the last complete chunk
    assert out.exists() and not partial_path(out).exists()
    _assert_same(_datasets(split_file), _datasets(out))
    assert verify(out).ok


def test_overwrite_discards_a_partial_file_with_other_settings(tmp_path):
    out = tmp_path / "other.h5"

    def stop(split, done, n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write(out, on_chunk=stop)
    _write(out, seed=6, shifts=None, train=8, test=8, resume=True, overwrite=True)
    assert os.listdir(tmp_path) == ["other.h5"]
    with open_split_file(out) as f:
        assert split_meta(f, "train").seed == 6


def test_error_during_generation_leaves_no_file(tmp_path):
    out = tmp_path / "boom.h5"

    def fail(split, done, n):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        _write(out, on_chunk=fail)
    assert os.listdir(tmp_path) == []


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="overwrite"):
        _write(out)
    assert out.read_bytes() == b"user data" and sorted(os.listdir(tmp_path)) == ["keep.h5"]
    _write(out, overwrite=True, shifts=None, train=4, test=4)
    assert verify(out).ok


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train": 0}, "train=0"),
        ({"test": -3}, "test=-3"),
        ({"seed": -1}, "seed=-1"),
        ({"dtype": "int8"}, "dtype='int8'"),
        ({"shifts": "bg_men"}, "did you mean 'bg_mean'"),
        ({"shifts": "h_mean:x"}, "numeric level"),
        ({"compression": "zstd"}, "compression='zstd'"),
        ({"chunk_size": 0}, "chunk_size=0"),
        ({"workers": 0}, "workers=0"),
        ({"normalize": "rows"}, "normalize='rows'"),
        ({"space": FactorSpace(content=["m", "h"]), "shifts": "h_mean"}, "nuisance factors only"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _write(tmp_path / "bad.h5", **kwargs)
    assert os.listdir(tmp_path) == []


def test_bad_destinations(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _write(tmp_path / "missing" / "x.h5")
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        _write(tmp_path / "adir")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.MonkeyPatch.context() as patch:
        if os.geteuid() == 0:  # root may write anywhere: make the directory look read-only
            patch.setattr(os, "access", lambda path, mode: False)
        with pytest.raises(PermissionError, match="not writable"):
            _write(locked / "x.h5")
    assert os.listdir(locked) == []


def test_verify_passes_and_catches_a_flipped_byte(tmp_path, split_file):
    report = verify(split_file, sample=8)
    assert report.ok and report.rerendered == 8 * len(SPLITS)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(split_file.read_bytes())
    with h5py.File(broken, "r") as f:
        offset = f["test"]["images"].id.get_offset() + 1234
    data = bytearray(broken.read_bytes())
    data[offset] ^= 0x01
    broken.write_bytes(bytes(data))
    problems = verify(broken).problems
    # Byte 1234 of the test images is in item 0 (3,072 bytes per uint8 image): chunk 0..15.
    assert problems == [problems[0], problems[1]]
    assert problems[0] == "test: items 0..15 do not match the digest recorded when they were written"
    assert problems[1].startswith("test/images: checksum mismatch")


def test_verify_catches_images_that_do_not_match_their_factors(tmp_path, split_file):
    """A consistent checksum is not enough: sampled images are re-rendered from their factors."""
    tampered = tmp_path / "tampered.h5"
    tampered.write_bytes(split_file.read_bytes())
    with h5py.File(tampered, "r+") as f:
        images = f["train"]["images"]
        images[:] = images[()][::-1]  # every item now shows another item's image
        from spirograph.splits import digests
        from spirograph.splits.schema import checksum

        f["train"].attrs["checksum_images"] = "sha256:" + checksum(images[()]).hexdigest()
        for k, record in enumerate(digests.records(f["train"])):
            lo, hi = int(record["start"]), int(record["stop"])
            digests.replace(f["train"], k, digests.chunk_digest(digests.read_chunk(f["train"], lo, hi)))
    problems = verify(tampered, sample=4).problems
    assert len(problems) == 1 and "does not match its re-rendered factors" in problems[0]


def test_info_summarises(split_file):
    text = info(split_file)
    assert "seed 5" in text and "normalize row" in text and "dtype uint8" in text
    assert "shift/bg_width+0.1" in text and "float32" in text and "bg_r∈[-0.1, 0.7]" in text


def _not_ours(tmp_path):
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    return {"not an HDF5 file": text, "not a Spirograph split file": foreign}


def test_files_that_are_not_ours_truncated_or_incomplete(tmp_path, split_file):
    cases = _not_ours(tmp_path)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(split_file.read_bytes()[: split_file.stat().st_size // 2])
    cases["truncated or corrupted"] = truncated

    def stop(split, done, n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path / "half.h5", on_chunk=stop)
    cases["incomplete"] = partial_path(tmp_path / "half.h5")
    before = {p: p.read_bytes() for p in cases.values()}
    for match, path in cases.items():
        for action in (verify, info, load_split):
            with pytest.raises(SplitFileError, match=match):
                action(path)
    assert {p: p.read_bytes() for p in cases.values()} == before
    with pytest.raises(FileNotFoundError):
        info(tmp_path / "nope.h5")


def test_unknown_split_suggests(split_file):
    with pytest.raises(ValueError, match="did you mean 'train'"):
        load_split(split_file, "trian")


def test_shift_names_parse_and_round_trip():
    assert shift_split_name("h_mean", -0.3) == "shift/h_mean-0.3"
    assert parse_shifts("none") == [] and parse_shifts(None) == []
    assert parse_shifts("h_mean:0.1,h_mean:0.1") == [("h_mean", 0.1)]
    assert len(parse_shifts("all")) == sum(len(f.split_levels) for f in SHIFT_FAMILIES.values())
    for family, level in parse_shifts("all"):
        name = shift_split_name(family, level)
        assert split_spec(FactorSpace(), name, 3).shift == (family, level)
    with pytest.raises(ValueError, match="split="):
        split_spec(FactorSpace(), "shift/h_mean", 3)


def test_split_meta_spec_keeps_the_shift(split_file):
    with open_split_file(split_file) as f:
        spec = split_meta(f, "shift/h_mean-0.3").spec
        plain = split_meta(f, "test").spec
    assert spec == split_spec(FactorSpace(), "shift/h_mean-0.3", 24)
    assert spec.shift == ("h_mean", -0.3) and spec.describe_shift()["mean_shift"] == pytest.approx(-0.3)
    assert plain.shift is None and plain.describe_shift() == {}


def test_a_generator_registered_at_run_time_renders_with_workers(tmp_path, toy):
    # The workers import it from its module (tests/toy_generator.py) and register it themselves.
    one = generate(tmp_path / "w1.h5", seed=3, train=40, test=20, generator="toy", chunk_size=16)
    two = generate(tmp_path / "w2.h5", seed=3, train=40, test=20, generator="toy", chunk_size=16, workers=2)
    _assert_same(_datasets(one), _datasets(two))


def test_a_generator_workers_cannot_import_is_refused_before_writing(tmp_path, toy):
    from dataclasses import replace

    from spirograph import generators

    local = replace(toy, name="toy_local", render_fn=lambda factors, **options: toy.render_fn(factors, **options))
    generators.register(local)
    try:
        with pytest.raises(ValueError, match=r"^workers=2: expected 1 for generator 'toy_local': a worker process can only import"):
            generate(tmp_path / "x.h5", seed=3, train=40, test=20, generator="toy_local", workers=2)
        assert list(tmp_path.iterdir()) == []
    finally:
        generators._REGISTRY.pop("toy_local", None)
