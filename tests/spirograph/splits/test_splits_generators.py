"""Split files record their generator: written, verified, read and resumed per generator; older files are Spirograph's."""

import json

import h5py
import numpy as np
import pytest
import torch

from spirograph.cli import main as cli
from spirograph.splits import SpirographH5, SpirographRendered, digests, generate, metadata, partial_path, verify
from spirograph.splits import reader as reader_module
from spirograph.splits.reader import SplitFileError, info, open_split_file, split_meta

# sha256 of the datasets of this small file as spirograph-bench 0.2 wrote them (seed 3, R = 16, two shifts):
# the generator registry must not move a single Spirograph bit.
RELEASED = {
    "train": "sha256:2e49c67fa51fa90cddebd8191fbecc4e40b9297ec231d58e7edf43c654bb51f0",
    "test": "sha256:2b271cfc594ab677d2e48ef2b21b69581ce5d40f7ab829569ea3fb5fcec9b340",
    "shift/bg_mean+0.2": "sha256:41f9dc3865d543b205096697d157919b37883b2ffa94d73ebbf620779bb3e739",
    "shift/h_width-0.3": "sha256:58409221766bfd98cefcb0ad2ffbcddef7b3c160e8e29e34ed5f679cf866b589",
}
RELEASED_TRAIN_FACTORS = (
    "sha256:d7e41bcfcd4d4f95df5bd04deb5db26fc3383113f23882a63fbe3c5474ad85d9",
    "sha256:e7f204f707a5f87e28d98559c65927bdd0b80fb033b5f07767ad61408099e3c9",
)


def _small(path, **kw):
    return generate(path, seed=3, train=40, test=20, resolution=16, progress=False, **kw)


def test_spirograph_datasets_are_those_of_0_2_and_the_file_names_its_generator(tmp_path):
    out = _small(tmp_path / "s.h5", shifts="bg_mean:0.2,h_width:-0.3")
    with h5py.File(out) as f:
        assert {s: f[s].attrs["checksum_images"] for s in RELEASED} == RELEASED
        assert (f["train"].attrs["checksum_content"], f["train"].attrs["checksum_nuisance"]) == RELEASED_TRAIN_FACTORS
        assert (f.attrs["generator"], int(f.attrs["generator_version"]), int(f.attrs["format_version"])) == ("spirograph", 1, 3)
        assert f["test"].attrs["generator"] == "spirograph"
        meta = split_meta(f, "test")
    assert (meta.generator, meta.generator_version) == ("spirograph", 1)
    assert "generator spirograph (version 1)" in info(out)


def test_a_file_without_generator_attributes_reads_as_spirograph(tmp_path):
    """Formats 1-2 (0.1/0.2) have no generator attributes: they are Spirograph's."""
    out = _small(tmp_path / "old.h5")
    with h5py.File(out, "r+") as f:  # as format 2 left it: no generator, no metadata digests, S32 chunk digests
        f.attrs["format_version"] = 2
        for group in (f, f["train"], f["test"]):
            del group.attrs["generator"], group.attrs["generator_version"], group.attrs["metadata_sha256"]
        for split in ("train", "test"):
            table = f[split]["chunk_digests"][()]
            del f[split]["chunk_digests"]
            old = np.array([(r["start"], r["stop"], r["sha256"].tobytes()) for r in table], dtype=digests.RECORD_V2)
            f[split].create_dataset("chunk_digests", data=old, maxshape=(None,))
    with open_split_file(out) as f:
        assert split_meta(f, "train").generator == "spirograph"
    assert verify(out).ok
    assert SpirographH5(out, "test")[0][0].shape == (3, 16, 16)


def test_an_older_reader_refuses_a_format_3_file_in_one_line_naming_the_format(tmp_path, monkeypatch):
    out = _small(tmp_path / "new.h5")
    monkeypatch.setattr(reader_module, "FORMAT_VERSION", 2)  # what 0.2's reader knows
    with pytest.raises(SplitFileError, match=r"has format version 3; this package reads versions 1\.\.2$"):
        open_split_file(out)


def test_a_file_of_a_generator_this_package_lacks_is_refused_in_one_line(tmp_path):
    out = _small(tmp_path / "alien.h5")
    with h5py.File(out, "r+") as f:
        f.attrs["generator"] = "teapots"
        f.attrs["metadata_sha256"] = metadata.root_digest(f)  # as if written so: the generator is what is refused
    with pytest.raises(SplitFileError, match=r"was written by generator 'teapots' \(version 1\), which this package does not have"):
        info(out)


def test_another_generator_writes_verifies_and_reads_back(tmp_path, toy):
    out = generate(tmp_path / "toy.h5", seed=1, train=12, test=6, generator="toy", resolution=12, shifts="all",
                   options={"softness": 0.2}, progress=False)
    assert verify(out).ok
    with open_split_file(out) as f:
        meta = split_meta(f, "shift/bg_mean+0.2")
        assert (meta.generator, meta.render_options) == ("toy", {"resolution": 12, "softness": 0.2})
        assert json.loads(f.attrs["space"])["generator"] == "toy"
    text = info(out)
    assert "generator toy (version 1)" in text and "softness 0.2" in text and "n_points" not in text
    stored = SpirographH5(out, "test", target="both")
    rendered = SpirographRendered(1, "test", n=6, generator="toy", resolution=12, options={"softness": 0.2}, dtype="uint8", target="both")
    for i in range(6):
        assert torch.equal(stored[i][0], rendered[i][0]) and torch.equal(stored[i][1][0], rendered[i][1][0])
    assert "generator 'toy'" in repr(stored)


def test_resuming_a_partial_file_with_another_generator_is_refused_and_keeps_it(tmp_path, toy):
    out = tmp_path / "p.h5"

    def interrupt(split, done, n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(out, seed=1, train=12, test=6, resolution=12, chunk_size=4, progress=False, on_chunk=interrupt)
    before = partial_path(out).read_bytes()
    with pytest.raises(ValueError, match=r"different settings \(they differ in: generator, .*space") as info_:
        generate(out, seed=1, train=12, test=6, generator="toy", resolution=12, chunk_size=4, progress=False, resume=True)
    assert "\n" not in str(info_.value)
    assert partial_path(out).read_bytes() == before and not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--generator", "spirogrph"], "unknown generator 'spirogrph'; did you mean 'spirograph'?"),
        (["--generator", "toy", "--normalize", "image"], "unknown render option 'normalize' available in generator 'toy': resolution, softness"),
        (["--generator", "toy", "--shifts", "h_mean"], "unknown shift 'h_mean'"),
        (["--generator", "toy", "--content", "m"], "unknown factor 'm' available in generator 'toy'"),
        (["--option", "tau"], "--option='tau': expected NAME=VALUE"),
        (["--option", "tau=1"], "unknown render option 'tau' available in generator 'spirograph'"),
    ],
)
def test_generate_bad_generator_input_is_one_line_and_writes_nothing(tmp_path, capsys, toy, argv, message):
    out = tmp_path / "x.h5"
    assert cli(["generate", str(out), "--train", "4", "--test", "2", "--seed", "0", "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0].replace("; available", " available")  # either wording of unknown_name
    assert list(tmp_path.iterdir()) == []


def test_generators_command_lists_every_generator(capsys, toy):
    assert cli(["generators"]) == 0
    text = capsys.readouterr().out
    assert "spirograph (version 1)" in text and "toy (version 1)" in text
    assert "sigma  content   U[0.25, 1] > 0" in text
    assert cli(["generators", "toy", "--json"]) == 0
    (described,) = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in described["factors"]] == ["radius", "x", "fg_r", "fg_g", "bg_r"]
    assert cli(["generators", "toys"]) == 2
    assert "unknown generator 'toys'; did you mean 'toy'?" in capsys.readouterr().err
