"""Leaderboard rendering from the shipped reference entries and from synthetic results."""

from __future__ import annotations

import copy
import json

import pytest
from harness_helpers import set_mean_r2

from spirograph.harness import ScoreResult
from spirograph.harness.groups import generator_of
from spirograph.harness.leaderboard import load_results, rank, render_markdown, shipped_entries
from spirograph.harness.plots import plot_leaderboard
from spirograph.harness.result import TASK_NAMES


@pytest.fixture(scope="module")
def shipped() -> list[ScoreResult]:
    # Spirograph's references (the other generators' are tested with their generator).
    return [r for r in load_results(shipped_entries()) if generator_of(r)[0] == "spirograph"]


def test_shipped_entries_are_real_runs(shipped):
    assert sorted(r.name for r in shipped) == ["oracle", "pixels", "random-convnet"]
    for result in shipped:
        data = result.to_dict()
        expected = f"spirograph score --reference {result.name} --suite quick --out spirograph/harness/entries/{result.name}.json"
        assert data["command"] in (expected, expected + " --overwrite")  # re-scored over the file of the version before
        assert (data["suite"]["name"], data["suite"]["version"], data["schema_version"]) == ("quick", 4, 3)
        assert data["tasks"] == list(TASK_NAMES)
        assert data["timings"]["total_s"] > 0


def test_shipped_ranking(shipped):
    by_name = {r.name: r for r in shipped}
    assert by_name["oracle"].metric("linear.mean_r2") >= 0.999
    order = [r.name for r, _ in rank(shipped)]
    assert order[0] == "oracle"
    table = render_markdown(shipped)
    assert "## Suite quick (version 4)" in table
    assert "Ranked by the mean content R² of the linear task" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "entry" not in line]
    assert [row.split("|")[2].strip() for row in rows] == order
    assert rows[0].startswith("| 1 | oracle | 1.0000")


def _variant(result: ScoreResult, name: str, r2: float, ci: list[float], suite: str | None = None) -> ScoreResult:
    data = copy.deepcopy(result.to_dict())
    data["name"] = name
    set_mean_r2(data, r2, ci)
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
    assert "## Custom suite other (version 4)" in table and "| 1 | d |" in table  # not registered: shown apart


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


# -- columns, caption, skipped tasks, escaping ------------------------------------------------------
import re  # noqa: E402

from spirograph.harness.leaderboard import COLUMNS, MISSING, SKIPPED, caption  # noqa: E402

_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


def _rows(table: str) -> list[list[str]]:
    """The data rows of a markdown table, split on unescaped cell separators."""
    rows = []
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| rank"):
            rows.append([cell.strip() for cell in _UNESCAPED_BAR.split(line)[1:-1]])
    return rows


def _with(result: ScoreResult, **changes) -> ScoreResult:
    data = copy.deepcopy(result.to_dict())
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return ScoreResult(data, validate=False)


def test_columns_are_the_shared_definition(shipped):
    table = render_markdown(shipped)
    header = next(line for line in table.splitlines() if line.startswith("| rank"))
    suite = shipped[0].to_dict()["suite"]
    assert [h.strip() for h in header.split("|")[1:-1]] == [c.header(suite) for c in COLUMNS]
    assert [c.key for c in COLUMNS] == [
        "rank", "entry", "mean_r2", "mean_mse", "averaged_mse", "robustness", "whitened_cv", "probe_share",
        "sensitivity", "worst_case", "dim", "parameters", "nuisance_labels", "test_passes",
    ]
    for row in _rows(table):
        assert len(row) == len(COLUMNS)
    # The shipped entries hold every headline invariance, sensitivity and worst-case number.
    by_name = {row[1]: row for row in _rows(table)}
    pixels = next(r for r in shipped if r.name == "pixels")
    assert by_name["pixels"][6:10] == [
        f"{pixels.metric(path):.3g}" if pixels.to_dict()["schema_version"] >= 3 else MISSING
        for path in ("invariance.whitened_conditional_variance", "invariance.probe_nuisance_share.mean",
                     "sensitivity.nuisance_to_content", "worst_case.area")
    ]
    assert by_name["pixels"][10:] == ["3,072", "0", "no", "1"]


def test_new_metrics_skipped_tasks_and_caption(shipped):
    base = shipped[1]
    metric = {"value": 0.25, "ci": [0.2, 0.3]}
    entry = _with(
        base,
        name="new",
        schema_version=3,
        metrics__invariance__whitened_conditional_variance=metric,
        metrics__invariance__probe_nuisance_share__mean={"value": 0.125, "ci": [0.1, 0.15]},
        metrics__worst_case={"area": {"value": 0.5, "ci": [0.4, 0.6]}},
        metrics__sensitivity={"skipped": "the encoder is not differentiable (returned features without a graph)"},
        suite__name="custom",  # a quick block with other sizes is no longer quick: a custom suite
        suite__n_invariance_test=500,
        suite__n_worst_case=200,
    )
    table = render_markdown([entry])
    row = _rows(table)[0]
    assert row[6:10] == ["0.25", "0.125", SKIPPED, "0.5"]
    assert "Skipped tasks:" in table and "new, sensitivity: the encoder is not differentiable" in table
    text = caption(entry.to_dict()["suite"])
    assert text.startswith("Ranked by the mean content R² of the linear task")
    assert "whitened cond. variance and probe nuisance share and sensitivity nuisance/content: 500 test contents" in text
    assert "worst-case area: 200 test contents" in text
    suite = entry.to_dict()["suite"]
    del suite["n_sensitivity"]
    assert "sensitivity" not in caption(suite)  # a size missing from the suite record is omitted, not guessed


INJECTIONS = [
    "1 | injected | cell\n\n# Heading",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1)) <javascript:alert(1)>",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07 \u202eevil",
    "**bold** _it_ `code` ~~x~~ ![img](x.png) www.example.com",
]


def test_older_schemas_show_no_headline_invariance_numbers(shipped):
    # Schema 2 stored a shrunk whitened variance and raw-unit sensitivities under the same names.
    old = _with(shipped[1], name="old", schema_version=2)
    assert _rows(render_markdown([old]))[0][6:10] == [MISSING] * 4


@pytest.mark.parametrize("text", INJECTIONS)
def test_markdown_escapes_names_and_disclosures(shipped, text):
    entry = _with(shipped[1], name=text, disclosures__uses_nuisance_labels=text, disclosures__test_time_passes=text)
    table = render_markdown([entry, shipped[0]])
    rows = _rows(table)
    assert len(rows) == 2 and all(len(row) == len(COLUMNS) for row in rows)
    evil = next(row for row in rows if row[1] != "oracle")
    # Every markdown-active character arrives backslash-escaped; controls and ANSI are gone.
    for cell in (evil[1], evil[-2], evil[-1]):
        assert "\n" not in cell and "\x1b" not in cell and "\u202e" not in cell
        assert not re.search(r"(?<!\\)[|<>\[\]`*_~#!]", cell)
    assert [line for line in table.splitlines() if line.startswith("#")] == ["# Spirograph leaderboard",
                                                                             "## Suite quick (version 4) · generator spirograph (version 1)"]
    assert not re.search(r"(?<!\\)<", table) and "javascript:" not in table and "www.example" not in table


def test_markdown_escapes_suite_names(shipped):
    entry = _with(shipped[0], suite__name="q\n# H <b>x</b>")
    table = render_markdown([entry])
    assert "## Custom suite q \\# H \\<b\\>x\\</b\\> (version 4) · generator spirograph (version 1)" in table


# -- the figure ---------------------------------------------------------------------------------
from spirograph.harness.plots import REFERENCE_COLOURS, entry_colour, entry_styles, leaderboard_figure  # noqa: E402


def _line_colours(figure) -> dict[str, set[str]]:
    colours: dict[str, set[str]] = {}
    for ax in figure.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                colours.setdefault(line.get_label(), set()).add(line.get_color())
    return colours


def test_figure_colours_are_per_entry_and_stable(shipped):
    forward = leaderboard_figure(shipped)
    backward = leaderboard_figure(list(reversed(shipped)))
    assert _line_colours(forward) == _line_colours(backward)
    for name, colours in _line_colours(forward).items():
        assert colours == {entry_colour(name)}
    assert entry_colour("pixels") == REFERENCE_COLOURS["pixels"]
    assert entry_colour("my-method") == entry_colour("my-method") != ""
    # Entries that share a colour keep it and differ by line style instead.
    names = [f"entry-{i}" for i in range(12)]
    styles = entry_styles(names)
    assert all(styles[n][0] == entry_colour(n) for n in names)
    assert len({entry_colour(n) for n in names}) < len(names)  # this set has colour collisions...
    assert len(set(styles.values())) == len(names)  # ...told apart by line style


def test_figure_caption_names_suite_items_and_markers(shipped):
    figure = leaderboard_figure(shipped)
    caption = figure.subfigs[0]._suptitle.get_text().replace("\n", " ")
    assert caption.startswith("Suite quick (version 4) · generator spirograph (version 1).")
    assert "shaded bands: 95% bootstrap intervals" in caption
    assert "5,000 / 2,000 contents" in caption and "its M = 1 point is the diamond" in caption
    assert "hollow circles: at most as many labels as features" in caption and "R² falling with more labels: pixels" in caption
    titles = [ax.get_title() for ax in figure.axes]
    assert "(probe fitted on 5,000, tested on 2,000 contents)" in titles[0]
    assert all("2,000 / 1,000 contents per level" in t for t in titles[1:5])
    assert "(tested on 2,000 contents)" in titles[5]
    # Pixels at 500 labels (R² −3.76) is drawn on the axis floor as a hollow triangle.
    floor = [line for line in figure.axes[5].get_lines() if line.get_marker() == "v"]
    assert len(floor) == 1 and floor[0].get_markerfacecolor() == "white"


def test_figure_one_block_per_suite(shipped):
    other = ScoreResult({**shipped[0].to_dict(), "suite": {**shipped[0].to_dict()["suite"], "name": "other"}})
    figure = leaderboard_figure([*shipped, other])
    # Registered suites first, then custom ones (a suite not registered is shown apart).
    assert [sub._suptitle.get_text().split(" · ")[0] for sub in figure.subfigs] == ["Suite quick (version 4)", "Custom suite other (version 4)"]


def test_nothing_is_ranked_or_shown_in_a_column_from_diagnostics(shipped):
    """A task's ``diagnostics`` are for reading only: with every figure moved there, no column has a value."""
    from spirograph.harness.leaderboard import MISSING, ranked_rows

    data = copy.deepcopy(next(r for r in shipped if r.name == "pixels").to_dict())
    data["metrics"] = {task: {"diagnostics": node} for task, node in data["metrics"].items()}
    entry = ScoreResult(data, validate=False)
    (row,) = ranked_rows([entry])
    assert row.rank is None and row.tie is None
    suite = data["suite"]
    metric_columns = [c for c in COLUMNS if c.key not in ("rank", "entry", "dim", "parameters", "nuisance_labels", "test_passes")]
    assert [c.cell(row, suite).text for c in metric_columns] == [MISSING] * len(metric_columns)
