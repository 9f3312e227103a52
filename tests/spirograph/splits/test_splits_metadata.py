"""Metadata that verify can vouch for: every edit of what a file says about its data is caught.

Each edit below passed ``verify`` before (0.2), and ``info`` then showed wrong metadata or crashed.
Now ``verify`` fails, ``info``, ``show`` and the torch Dataset refuse the file in one line, and
``--resume`` refuses a partial file edited the same way.
"""

from __future__ import annotations

import json
import shutil

import h5py
import pytest

import spirograph.cli as cli
from spirograph.splits import SpirographH5, SplitFileError, generate, partial_path, verify

KWARGS = dict(seed=3, train=8, test=8, shifts="bg_mean:0.1", chunk_size=4, progress=False)
GEN = ["--train", "8", "--test", "8", "--seed", "3", "--shifts", "bg_mean:0.1", "--chunk-size", "4", "--quiet"]
SHIFT = "shift/bg_mean+0.1"


def _drop_test(f):
    f.attrs["splits"] = json.dumps([n for n in json.loads(f.attrs["splits"]) if n != "test"])


def _swap_content_names(f):
    names = json.loads(f["train"].attrs["content_names"])
    f["train"].attrs["content_names"] = json.dumps([names[1], names[0], *names[2:]])


EDITS = {
    "the root's list of splits without test": (_drop_test, "train"),
    "a shift split's level 0.1 -> 0.2": (lambda f: f[SHIFT].attrs.__setitem__("shift_level", 0.2), SHIFT),
    "the root seed": (lambda f: f.attrs.__setitem__("seed", 4), "train"),
    "swapped content_names": (_swap_content_names, "train"),
    "a shift_family added to /train": (lambda f: f["train"].attrs.__setitem__("shift_family", "bg_mean"), "train"),
    "a range of the split's space": (
        lambda f: f["train"].attrs.__setitem__("space", f["train"].attrs["space"].replace("0.6", "0.7", 1)),
        "train",
    ),
    "a range of a shift split's space": (
        lambda f: f[SHIFT].attrs.__setitem__("space", f[SHIFT].attrs["space"].replace('"m": [2.0, 5.0]', '"m": [2.0, 5.5]')),
        SHIFT,
    ),
    "a range of the file's space": (lambda f: f.attrs.__setitem__("space", f.attrs["space"].replace('"m": [2.0, 5.0]', '"m": [2.0, 5.5]')), "test"),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("metadata") / "m.h5"
    generate(path, **KWARGS)
    return path


def _edited(written, tmp_path, edit, version=None):
    path = tmp_path / "edited.h5"
    shutil.copy(written, path)
    with h5py.File(path, "r+") as f:
        if version is not None:  # as a file of an older format: no metadata digests
            f.attrs["format_version"] = version
            for item in [f, *(f[n] for n in json.loads(f.attrs["splits"]))]:
                del item.attrs["metadata_sha256"]
        edit(f)
    return path


def run(capsys, *argv):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))
        code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_an_unedited_file_is_vouched_for(written, capsys):
    assert verify(written).ok
    assert run(capsys, "info", written)[0] == 0
    assert len(SpirographH5(written, SHIFT)) == 8


@pytest.mark.parametrize("version", [None, 2], ids=["format 3", "format 2"])
@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_an_edited_attribute_fails_verify_and_is_refused_in_one_line(written, tmp_path, capsys, edit, version):
    change, split = EDITS[edit]
    path = _edited(written, tmp_path, change, version)
    report = verify(path, sample=0)
    assert not report.ok
    assert "edited after" in report.problems[0] or "changed after it was written" in report.problems[0], report.problems
    if "range" in edit:
        assert "range of 'bg_r'" in report.problems[0] or "range of 'm'" in report.problems[0] or "do not match their digest" in report.problems[0], report.problems
    code, err = run(capsys, "verify", path)
    assert code == 1 and err.count("\n") == 1 and "FAILED" in err
    for argv in (["info", path], ["show", path, "--split", split, "--out", tmp_path / "grid.png"]):
        code, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1, err
        assert "edited after it was written" in err or "changed after it was written" in err or "leaves out 'test'" in err, err
    assert not (tmp_path / "grid.png").exists()
    with pytest.raises(SplitFileError):
        SpirographH5(path, split)


def test_the_root_digest_names_what_changed(written, tmp_path):
    path = _edited(written, tmp_path, lambda f: f.attrs.__setitem__("seed", 4))
    assert verify(path, sample=0).problems[0] == (
        "the file's attributes (list of splits, seed, settings) were changed after it was written: they do not match their digest"
    )
    path = _edited(written, tmp_path, _drop_test)
    assert verify(path, sample=0).problems[0] == "the file's list of splits leaves out 'test', which it holds (edited after writing?)"


def test_a_removed_digest_is_reported(written, tmp_path):
    path = _edited(written, tmp_path, lambda f: f["test"].attrs.__delitem__("metadata_sha256"))
    problems = verify(path, sample=0).problems
    assert len(problems) == 1 and "split 'test': its attributes have no metadata digest" in problems[0]


def test_a_partial_file_with_edited_metadata_is_not_resumed(tmp_path, capsys):
    out = tmp_path / "r.h5"
    seen = []

    def stop(split, done, n):
        seen.append(split)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(out, on_chunk=stop, **KWARGS)
    with h5py.File(partial_path(out), "r+") as f:
        f[SHIFT].attrs["shift_level"] = 0.2
    code, err = run(capsys, "generate", out, *GEN, "--resume")
    assert code == 2 and err.count("\n") == 1
    assert "cannot be resumed: its attributes (factor names and ranges, seed, shift, ...) were changed after it was written" in err
    assert "pass --overwrite to start over" in err
    assert run(capsys, "generate", out, *GEN, "--resume", "--overwrite")[0] == 0 and verify(out).ok
