"""Leaderboard rendering from the shipped reference entries and from synthetic results."""

from __future__ import annotations

import copy
import json

import pytest

from spirograph.harness import ScoreResult
from spirograph.harness.leaderboard import load_results, rank, render_markdown, shipped_entries
from spirograph.harness.plots import plot_leaderboard


@pytest.fixture(scope="module")
def shipped() -> list[ScoreResult]:
    return load_results(shipped_entries())


def test_shipped_entries_are_real_runs(shipped):
    assert sorted(r.name for r in shipped) == ["oracle", "pixels", "random-convnet"]
    for result in shipped:
        data = result.to_dict()
        assert data["command"] == f"spirograph score --reference {result.name} --suite quick --out spirograph/harness/entries/{result.name}.json"
        assert data["suite"]["name"] == "quick"
        assert len(data["tasks"]) == 6
        assert data["timings"]["total_s"] > 0


def test_shipped_ranking(shipped):
    by_name = {r.name: r for r in shipped}
    assert by_name["oracle"].metric("linear.mean_r2") >= 0.999
    order = [r.name for r, _ in rank(shipped)]
    assert order[0] == "oracle"
    table = render_markdown(shipped)
    assert "## Suite `quick` (version 1)" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "entry" not in line]
    assert [row.split("|")[2].strip() for row in rows] == order
    assert rows[0].startswith("| 1 | oracle | 1.0000")


def _variant(result: ScoreResult, name: str, r2: float, ci: list[float], suite: str | None = None) -> ScoreResult:
    data = copy.deepcopy(result.to_dict())
    data["name"] = name
    data["metrics"]["linear"]["mean_r2"] = {"value": r2, "ci": ci}
    if suite:
        data["suite"]["name"] = suite
    return ScoreResult(data)


def test_overlapping_intervals_are_marked(shipped):
    base = shipped[0]
    entries = [
        _variant(base, "a", 0.90, [0.88, 0.92]),
        _variant(base, "b", 0.89, [0.87, 0.91]),
        _variant(base, "c", 0.70, [0.68, 0.72]),
        _variant(base, "d", 0.50, [0.40, 0.60], suite="other"),
    ]
    ranked = rank(entries[:3])
    assert [(r.name, tie) for r, tie in ranked] == [("a", None), ("b", 1), ("c", None)]
    table = render_markdown(entries)
    assert "| 2 (≈ 1) | b |" in table
    assert "not distinguishable" in table
    assert "## Suite `other` (version 1)" in table and "| 1 | d |" in table


def test_plot(shipped, tmp_path):
    path = plot_leaderboard(shipped, tmp_path / "board.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        plot_leaderboard(shipped, path)
    with pytest.raises(ValueError, match="ending in one of"):
        plot_leaderboard(shipped, tmp_path / "board.gif")


def test_load_results_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        load_results([])
    with pytest.raises(FileNotFoundError):
        load_results([tmp_path / "none.json"])
    (tmp_path / "x.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ValueError, match="x.json"):
        load_results([tmp_path / "x.json"])
