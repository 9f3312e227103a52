"""Which entries a leaderboard ranks together: paths, duplicates, suites checked against the registry, groups."""

from __future__ import annotations

import copy
import json
import os

import pytest

from spirograph.cli import main
from spirograph.harness import ScoreResult
from spirograph.harness.groups import DEFAULT_GENERATOR, generator_of, group_results, load_results
from spirograph.harness.leaderboard import render_markdown, shipped_entries
from spirograph.harness.plots import group_panels, leaderboard_figure
from spirograph.harness.result import ResultError


@pytest.fixture(scope="module")
def pixels() -> dict:
    return next(r for r in load_results(shipped_entries()) if r.name == "pixels").to_dict()


def _write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def _one_line_error(capsys, *argv) -> str:
    assert main(["leaderboard", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


# -- paths -------------------------------------------------------------------------------------------
def test_paths_that_are_not_files_say_what_they_are(tmp_path, capsys):
    assert "is a directory; expected a file" in _one_line_error(capsys, str(tmp_path))
    assert "'/dev/zero' is a character device, not a regular file" in _one_line_error(capsys, "/dev/zero")
    os.mkfifo(tmp_path / "pipe.json")
    assert "is a FIFO (named pipe), not a regular file" in _one_line_error(capsys, str(tmp_path / "pipe.json"))
    assert "does not exist" in _one_line_error(capsys, str(tmp_path / "missing.json"))
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    assert "does not exist (a symbolic link to nothing)" in _one_line_error(capsys, str(tmp_path / "dangling.json"))


def test_the_same_file_twice_is_refused(pixels, tmp_path, capsys):
    a = _write(tmp_path / "a.json", pixels)
    assert f"result file {a!r} is given twice: each entry is ranked once" in _one_line_error(capsys, a, a)
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    err = _one_line_error(capsys, a, str(tmp_path / "b.json"))
    assert f"is the same file as {a!r}" in err
    # A copy under another file name is the same entry: two entries of one group with one name.
    c = _write(tmp_path / "c.json", pixels)
    assert "two entries named 'pixels' in suite quick (version 4)" in _one_line_error(capsys, a, c)
    assert "--name NAME" in _one_line_error(capsys, a, c)


def test_references_join_only_their_own_group_and_are_not_added_twice(pixels, tmp_path, capsys):
    mine = _write(tmp_path / "mine.json", {**pixels, "name": "mine"})
    assert main(["leaderboard", mine, "--references"]) == 0
    table = capsys.readouterr().out
    assert table.count("## ") == 1 and all(f"| {name} |" in table for name in ("mine", "oracle", "pixels", "random-convnet"))
    shipped_pixels = str(next(p for p in shipped_entries() if p.name == "pixels.json"))
    assert main(["leaderboard", shipped_pixels, "--references"]) == 0  # pixels named and implied: listed once
    assert capsys.readouterr().out.count("| pixels |") == 1
    custom = _write(tmp_path / "custom.json", {**pixels, "name": "mine", "suite": {**pixels["suite"], "name": "my-suite"}})
    assert main(["leaderboard", custom, "--references"]) == 0  # no reference was scored on a custom suite
    table = capsys.readouterr().out
    assert "## Custom suite my-suite" in table and "oracle" not in table


# -- suites ------------------------------------------------------------------------------------------
def test_a_suite_block_must_be_the_registered_one(pixels, tmp_path, capsys):
    """The reported case: a quick version-2 file that scored 1 test item is not ranked beside real quick entries."""
    data = copy.deepcopy(pixels)
    data["name"] = "tiny"
    data["suite"]["n_test"] = 1
    path = _write(tmp_path / "tiny.json", data)
    err = _one_line_error(capsys, path, "--references")
    assert path in err and "expected the registered settings of suite 'quick' version 4; differs in n_test=1 (registered: 2000)" in err
    data["suite"]["n_test"] = 2000
    data["suite"]["version"] = 7
    err = _one_line_error(capsys, _write(tmp_path / "v7.json", data))
    assert "suite 'quick' has no registered version 7" in err
    # The wording of a description is not a setting: an edited one is still quick.
    data["suite"]["version"] = 4
    data["suite"]["description"] = "my words"
    assert main(["leaderboard", _write(tmp_path / "words.json", data)]) == 0
    assert "## Suite quick (version 4)" in capsys.readouterr().out


def test_a_custom_suite_is_shown_apart(pixels):
    custom = copy.deepcopy(pixels)
    custom["suite"]["name"] = "mine"
    other = copy.deepcopy(custom)
    other["name"] = "other settings"
    other["suite"]["n_test"] = 1000  # same name and version, other settings: not comparable either
    groups = group_results([ScoreResult(pixels), ScoreResult(custom), ScoreResult(other)])
    described = [(g.registered, g.suite, [r.name for r in g.members]) for g in groups]
    # Registered first; the two custom groups are ordered by a digest of their settings.
    assert described[0] == (True, ("quick", 4), ["pixels"])
    assert sorted(described[1:]) == [(False, ("mine", 4), ["other settings"]), (False, ("mine", 4), ["pixels"])]
    table = render_markdown([ScoreResult(custom)])
    assert "## Custom suite mine (version 4) · generator spirograph (version 1)" in table
    assert "Not a registered suite (a suite defined by its user)" in table


# -- generators ----------------------------------------------------------------------------------------
def _generator(data: dict, name: str, version: int) -> ScoreResult:
    return ScoreResult({**copy.deepcopy(data), "generator": name, "generator_version": version}, validate=False)


def test_entries_of_different_generators_are_never_ranked_together(pixels):
    plain = ScoreResult(pixels)
    assert generator_of(plain) == DEFAULT_GENERATOR == ("spirograph", 1)  # no generator field: Spirograph 1
    explicit = _generator({**pixels, "name": "explicit"}, "spirograph", 1)
    # A suite sprites has not registered (its own quick is version 1): ranked as a custom suite.
    sprites = _generator({**pixels, "name": "sprite entry", "suite": {**pixels["suite"], "name": "mine"}}, "sprites", 1)
    newer = _generator({**pixels, "name": "newer"}, "spirograph", 2)
    groups = group_results([plain, sprites, explicit, newer])
    assert [(g.generator, [r.name for r in g.members]) for g in groups] == [
        (("spirograph", 1), ["pixels", "explicit"]), (("spirograph", 2), ["newer"]), (("sprites", 1), ["sprite entry"])]
    table = render_markdown([plain, sprites, explicit])
    headings = [line for line in table.splitlines() if line.startswith("## ")]
    assert headings == ["## Suite quick (version 4) · generator spirograph (version 1)",
                        "## Custom suite mine (version 4) · generator sprites (version 1)"]
    # Each table ranks its own entries from 1.
    assert "| 1 | explicit |" in table and "| 2 (≈ 1) | pixels |" in table and "| 1 | sprite entry |" in table


def test_render_options_are_whatever_the_result_records(pixels):
    data = {**copy.deepcopy(pixels), "render": {"resolution": 64, "palette": "dark <b>", "antialias": True}}
    data["suite"] = {**data["suite"], "name": "mine"}  # not one of sprites' registered suites
    table = render_markdown([_generator(data, "sprites", 1)])
    assert "rendering resolution=64, palette=dark \\<b\\>, antialias=True." in table
    assert "normalize" not in table.split("| rank")[0]


def test_plot_grid_is_sized_from_the_groups_own_shift_families(pixels):
    data = copy.deepcopy(pixels)
    curve = data["metrics"]["robustness"]["h_mean"]
    families = {f"family_{i}": {"target": f"factor{i}", "shift": "mean", "levels": [0.0, 0.1]} for i in range(6)}
    data["suite"]["robustness"] = families
    data["metrics"]["robustness"] = {"unshifted": data["metrics"]["robustness"]["unshifted"],
                                     "summary": data["metrics"]["robustness"]["summary"], **{f: copy.deepcopy(curve) for f in families}}
    six = _generator(data, "other-generator", 1)
    panels = group_panels(group_results([six])[0])
    titles = [p.title.split("\n")[0] for p in panels]
    # The shipped entries (schema 3) also hold a worst-case curve: its panel comes last.
    assert titles == ["feature averaging: nuisance draws M", *(f"factor{i} mean shift Δμ" for i in range(6)),
                      "label efficiency: probe-training labels", "worst case: neighbourhood size ε"]
    figure = leaderboard_figure([six])
    drawn = [ax for ax in figure.axes if ax.axison]
    assert len(drawn) == 9 and len(figure.axes) == 9  # 3 rows of 3
    assert [ax.get_title().split("\n")[0] for ax in drawn] == titles
    # A Spirograph group keeps its seven panels in three rows beside it.
    both = leaderboard_figure([six, ScoreResult(pixels)])
    assert [len(sub.axes) for sub in both.subfigs] == [9, 9]


def test_curves_a_figure_has_no_words_for_get_a_panel_and_diagnostics_do_not(pixels):
    data = copy.deepcopy(pixels)
    data["metrics"]["worst_case"]["curve"] = [
        {"epsilon": e, "mean_mse": {"value": 0.1 + e, "ci": [0.05 + e, 0.2 + e]}} for e in (0.0, 0.1, 0.2)]
    data["metrics"]["invariance"]["diagnostics"] = {"curve": [{"k": 1, "mean_mse": {"value": 1.0, "ci": [1.0, 1.0]}}]}
    panels = group_panels(group_results([ScoreResult(data, validate=False)])[0])
    assert [(p.curve, p.axis, p.value) for p in panels[-1:]] == [("worst_case.curve", "epsilon", "mean_mse")]
    assert not any("diagnostics" in p.curve for p in panels)


def test_load_results_refuses_a_contradicting_suite_from_python(pixels, tmp_path):
    data = copy.deepcopy(pixels)
    data["suite"]["seed"] = 1
    with pytest.raises(ResultError, match=r"bad.json: result.suite: .* differs in seed=1 \(registered: 20210503\)"):
        load_results([_write(tmp_path / "bad.json", data)])
