"""The leaderboard: ranked tables rendered from result files (markdown here, HTML in ``leaderboard_html``).

Entries are grouped by generator and suite, each with its version (``groups.py``): scores from
different groups are not comparable and never ranked together. Within a group, entries are ranked by the mean content R² of the ``linear`` task; the
paper's mean MSE stands beside it. An entry whose R² interval overlaps that of a better-ranked
entry is marked "not distinguishable" from it (overlapping 95% intervals: a conservative check,
as the entries were scored on the same items but bootstrapped separately).

``COLUMNS`` is the one definition of the table's columns: every renderer walks it, so the markdown
and the HTML tables always show the same cells. Cells hold plain text; each renderer escapes it
for its format (``escape.py``), as every string in a result file is untrusted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from .escape import markdown_text, plain_text
from .groups import Group, generator_of, group_results, load_results
from .result import ResultError, ScoreResult, write_text_atomic

MISSING = "—"
"""Cell text of a metric the entry's result file does not hold (task not run, older schema)."""
SKIPPED = "skipped"
"""Cell text of a task that could not run for the entry (the reason is listed under the table)."""
RANKED_BY = "linear.mean_r2"
"""The metric the leaderboard ranks by (higher is better)."""
EXPECTED_DISCLOSURES = ("uses_nuisance_labels", "test_time_passes")
"""The disclosures the table has a column for (a result without one shows ``MISSING`` there)."""


def shipped_entries() -> list[Path]:
    """Paths of the reference entries shipped with the package (oracle, pixels, random ConvNet per suite)."""
    folder = Path(str(resources.files("spirograph.harness") / "entries"))
    return sorted(folder.rglob("*.json"))


def references_for(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The shipped reference entries that belong to a group of the results at ``paths`` (all of them if none).

    A leaderboard shows one set of reference entries per group: the references scored on the same
    generator and suite as the entries, never a table of references alone. A reference given among
    ``paths`` already is not added again.

    Raises:
        As ``load_results`` for ``paths``.
    """
    shipped = shipped_entries()
    if not paths:
        return shipped
    wanted = {(generator_of(r), r.suite) for r in load_results(paths)}
    given = {(s.st_dev, s.st_ino) for s in map(os.stat, paths)}
    chosen = []
    for path in shipped:
        reference = ScoreResult.load(path)
        status = os.stat(path)
        if (generator_of(reference), reference.suite) in wanted and (status.st_dev, status.st_ino) not in given:
            chosen.append(path)
    return chosen


# -- cells ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One table cell: plain ``text``, a ``sort`` key, an optional ``note`` (e.g. why a task was skipped).

    ``user`` marks text taken from the result file's strings (names, disclosures): markdown
    escapes it fully; the harness's own text (numbers, intervals, "yes") only loses control
    characters. HTML escapes every cell. ``compact`` and ``detail`` are the narrow form a page
    shows (e.g. ``0.358`` over its interval ``[0.350, 0.365]`` in small print; ``11.2M`` for
    11,173,962, the full ``text`` on hover); markdown always shows ``text``.
    """

    text: str
    sort: float | str | None = None
    note: str | None = None
    user: bool = False
    compact: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Row:
    """One ranked entry of a suite table: its result, 1-based rank (None if unranked) and tie."""

    result: ScoreResult
    rank: int | None
    tie: int | None


def skipped_reason(result: ScoreResult, path: str) -> str | None:
    """The reason recorded for the task of metric ``path`` if that task was skipped, else ``None``."""
    task = path.split(".", 1)[0]
    node = result.to_dict()["metrics"].get(task)
    if isinstance(node, dict) and set(node) == {"skipped"}:
        return str(node["skipped"])
    return None


def _value(result: ScoreResult, path: str) -> float | None:
    try:
        return result.metric(path)
    except ValueError:
        return None


def _fmt(value: float, kind: str) -> str:
    return f"{value:.4f}" if kind == "r2" else f"{value:.3g}"


def metric_cell(result: ScoreResult, path: str, kind: str = "mse", with_ci: bool = False) -> Cell:
    """The cell of metric ``path``: value (and interval), ``skipped`` with its reason, or ``—``."""
    reason = skipped_reason(result, path)
    if reason is not None:
        return Cell(SKIPPED, None, reason)
    value = _value(result, path)
    if value is None:
        return Cell(MISSING, None)
    text = _fmt(value, kind)
    if not with_ci:
        return Cell(text, value)
    low, high = result.interval(path)
    interval = f"[{_fmt(low, kind)}, {_fmt(high, kind)}]"
    return Cell(f"{text} {interval}", value, compact=text, detail=interval)


HEADLINE_SCHEMA = 3
"""The result schema from which the invariance, sensitivity and worst-case columns hold their current
definitions; an older result's numbers of the same name measured something else and show as missing."""


def _headline_cell(result: ScoreResult, path: str) -> Cell:
    if result.to_dict()["schema_version"] < HEADLINE_SCHEMA:
        return Cell(MISSING, None)
    return metric_cell(result, path)


def _disclosure(result: ScoreResult, key: str) -> Cell:
    value = result.to_dict()["disclosures"].get(key)
    if value is None:
        return Cell(MISSING, None)
    if isinstance(value, bool):
        return Cell("yes" if value else "no", int(value))
    if isinstance(value, (int, float)):
        return Cell(f"{value:g}", float(value))
    return Cell(str(value), str(value), user=True)


def _rank_cell(row: Row) -> Cell:
    if row.rank is None:
        return Cell(MISSING, None)
    return Cell(f"{row.rank} (≈ {row.tie})" if row.tie else str(row.rank), row.rank)


def _parameters(result: ScoreResult) -> Cell:
    count = result.to_dict()["encoder"]["parameters"]
    return Cell(MISSING, None) if count is None else Cell(f"{count:,}", count, compact=compact_count(count))


def compact_count(count: int) -> str:
    """A count in at most four significant characters: 950, 12.3k, 11.2M, 1.5G."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(count) >= size:
            return f"{count / size:.3g}{suffix}"
    return str(count)


def largest_m(suite: dict[str, Any]) -> int:
    """The largest number M of averaged nuisance draws of a suite record."""
    draws = suite.get("averaging_draws") or [30]
    return max(int(m) for m in draws)


def _count(value: Any) -> str:
    # Only integers are shown: the caption is built from the (untrusted) suite record of a file.
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


@dataclass(frozen=True)
class Column:
    """One leaderboard column.

    Attributes:
        key: stable identifier (HTML ``data-key``, tests).
        header: the header text for a suite record.
        cell: the cell of one row, given the suite record.
        numeric: right-aligned and sorted as numbers.
        items: what the column is computed on, for the table caption (``None``: not stated).
        short: the abbreviated header a page shows (the full ``header`` on hover and in its legend).
    """

    key: str
    header: Callable[[dict], str]
    cell: Callable[[Row, dict], Cell]
    numeric: bool = True
    items: Callable[[dict], str | None] = lambda suite: None
    short: Callable[[dict], str] | None = None

    def abbreviation(self, suite: dict) -> str:
        """The short header (the full one where none is set)."""
        return (self.short or self.header)(suite)


def _items_linear(s: dict) -> str | None:
    if "n_train" not in s or "n_test" not in s:
        return None
    return f"{_count(s['n_train'])} probe-training / {_count(s['n_test'])} test contents, one nuisance draw each"


def _items_averaging(s: dict) -> str | None:
    if "n_averaging_train" not in s or "n_averaging_test" not in s:
        return None
    return f"{_count(s['n_averaging_train'])} / {_count(s['n_averaging_test'])} contents, each under {largest_m(s)} nuisance draws"


def _items_robustness(s: dict) -> str | None:
    if "n_robustness_train" not in s or "n_robustness_test" not in s:
        return None
    return f"{_count(s['n_robustness_train'])} / {_count(s['n_robustness_test'])} contents per shift level"


def _items_of(key: str) -> Callable[[dict], str | None]:
    def items(s: dict) -> str | None:
        return f"{_count(s[key])} test contents" if s.get(key) is not None else None

    return items


COLUMNS: tuple[Column, ...] = (
    Column("rank", lambda s: "rank", lambda row, s: _rank_cell(row), short=lambda s: "#"),
    Column("entry", lambda s: "entry", lambda row, s: Cell(row.result.name, row.result.name, user=True), numeric=False),
    Column("mean_r2", lambda s: "mean R² (linear) [95% CI]", lambda row, s: metric_cell(row.result, "linear.mean_r2", "r2", True),
           items=_items_linear, short=lambda s: "mean R²"),
    Column("mean_mse", lambda s: "mean MSE (paper) [95% CI]", lambda row, s: metric_cell(row.result, "linear.mean_mse", "mse", True),
           items=_items_linear, short=lambda s: "mean MSE"),
    Column("averaged_mse", lambda s: f"mean MSE, M={largest_m(s)}",
           lambda row, s: metric_cell(row.result, f"feature_averaging.M{largest_m(s)}.mean_mse"), items=_items_averaging,
           short=lambda s: f"MSE M={largest_m(s)}"),
    Column("robustness", lambda s: "robustness", lambda row, s: metric_cell(row.result, "robustness.summary"), items=_items_robustness,
           short=lambda s: "shift"),
    Column("whitened_cv", lambda s: "whitened cond. variance",
           lambda row, s: _headline_cell(row.result, "invariance.whitened_conditional_variance"), items=_items_of("n_invariance_test"),
           short=lambda s: "whit. CV"),
    Column("probe_share", lambda s: "probe nuisance share",
           lambda row, s: _headline_cell(row.result, "invariance.probe_nuisance_share.mean"), items=_items_of("n_invariance_test"),
           short=lambda s: "probe share"),
    Column("sensitivity", lambda s: "sensitivity nuisance/content",
           lambda row, s: _headline_cell(row.result, "sensitivity.nuisance_to_content"), items=_items_of("n_sensitivity"),
           short=lambda s: "sens."),
    Column("worst_case", lambda s: "worst-case area", lambda row, s: _headline_cell(row.result, "worst_case.area"),
           items=_items_of("n_worst_case"), short=lambda s: "worst"),
    Column("dim", lambda s: "D", lambda row, s: Cell(_count(row.result.to_dict()["encoder"]["feature_dim"]), row.result.to_dict()["encoder"]["feature_dim"])),
    Column("parameters", lambda s: "parameters", lambda row, s: _parameters(row.result), short=lambda s: "params"),
    Column("nuisance_labels", lambda s: "nuisance labels", lambda row, s: _disclosure(row.result, "uses_nuisance_labels"), numeric=False,
           short=lambda s: "nuis. labels"),
    Column("test_passes", lambda s: "test passes", lambda row, s: _disclosure(row.result, "test_time_passes"), short=lambda s: "passes"),
)
"""The leaderboard's columns, in order; shared by every renderer."""

DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("mean_r2", "mean R² (linear) [95% CI]", "the ranking: mean over the content factors of the R² of a linear probe on the frozen "
     "features, one nuisance draw per image, with its 95% bootstrap interval over the test contents"),
    ("mean_mse", "mean MSE (paper) [95% CI]", "the paper's metric: mean over the content factors of the same probe's test MSE (raw "
     "units, so dominated by the factors of largest spread)"),
    ("averaged_mse", "mean MSE, M=…", "the same probe fitted and tested on features averaged over M nuisance draws per content (PROTOCOL.md §4)"),
    ("robustness", "robustness", "mean relative increase of the mean MSE over the nuisance shifts of PROTOCOL.md §1 (0 = unaffected)"),
    ("whitened_cv", "whitened cond. variance", "the share of each whitened feature direction's variance that re-drawing the nuisance "
     "of a fixed content moves, averaged over directions (0 = none, 1 = all), whitening by the total covariance without "
     "shrinkage: unchanged by every invertible affine map of h (what a linear probe cannot see). The result files also "
     "hold, under the task's `diagnostics`, numbers never shown or ranked here: the relative conditional variance (moved "
     "by a per-dimension rescaling), the whitened one shrunk towards the diagonal (moved by a rotation), the normalised "
     "one and the paper's proxy (moved by an offset); PROTOCOL.md §5"),
    ("probe_share", "probe nuisance share", "share of the variance of a least-squares content probe's predictions (fitted on the "
     "whitened features) that comes from re-drawing the nuisance (0 = none); unchanged by every invertible affine map of h"),
    ("sensitivity", "sensitivity nuisance/content", "exact derivatives of the whitened features with respect to each factor through "
     "renderer and encoder, times the factor's prior spread: mean over nuisance factors / mean over content factors "
     "(0 = invariant); unchanged by every invertible affine map of h (the raw-unit ones, moved by a per-dimension "
     "rescaling, are the task's `diagnostics`)"),
    ("worst_case", "worst-case area", "mean over neighbourhood sizes ε in [0, ε_max] (the suite's last ε: 0.25 from quick "
     "version 4, 1 before) of the frozen content probe's error (squared, over each target's prior variance) under the "
     "worst nuisance within ε × (prior range) of each item's own draw"),
    ("dim", "D", "the number of features the encoder returns"),
    ("parameters", "parameters", "the encoder's parameter count (an `nn.Module`'s parameters; — for other callables)"),
    ("nuisance_labels", "nuisance labels", "disclosed by the entrant: whether training read the nuisance factors; a method that "
     "differentiates the renderer with respect to the nuisance (InvCLR's gradient penalty) or regresses it "
     "(CLeVER's nuisance head) reads them, so it says yes"),
    ("test_passes", "test passes", "disclosed by the entrant: encoder passes per test image (more than 1: test-time augmentation or averaging)"),
)
"""``(column key, term, definition)`` of every column but rank and entry (PROTOCOL.md §5 and SCHEMA.md define every number)."""


# -- ranking and grouping -------------------------------------------------------------------------
def rank(results: Sequence[ScoreResult]) -> list[tuple[ScoreResult, int | None]]:
    """Sort one suite's entries by mean content R² (best first) and find indistinguishable ones.

    Returns:
        ``(result, tie)`` pairs in rank order; ``tie`` is the 1-based rank of the best-ranked
        entry whose R² interval overlaps this one's (``None`` if none does, or if the entry has no
        ``linear`` score). Entries without a ``linear`` score come last, by name.
    """
    scored = [r for r in results if _value(r, RANKED_BY) is not None]
    unscored = [r for r in results if _value(r, RANKED_BY) is None]
    scored.sort(key=lambda r: (-r.metric(RANKED_BY), r.metric("linear.mean_mse"), r.name))
    out: list[tuple[ScoreResult, int | None]] = []
    for i, result in enumerate(scored):
        low, high = result.interval(RANKED_BY)
        tie = None
        for j in range(i):
            other_low, other_high = scored[j].interval(RANKED_BY)
            if low <= other_high and other_low <= high:
                tie = j + 1
                break
        out.append((result, tie))
    return out + [(r, None) for r in sorted(unscored, key=lambda r: r.name)]


def ranked_rows(results: Sequence[ScoreResult]) -> list[Row]:
    """``rank`` as rows: ranked entries get their 1-based rank, unranked ones ``None``."""
    rows = []
    for position, (result, tie) in enumerate(rank(results), start=1):
        rows.append(Row(result, position if _value(result, RANKED_BY) is not None else None, tie))
    return rows


def caption(suite: dict[str, Any]) -> str:
    """The table caption: what the ranking uses and which items each column is computed on (plain text)."""
    parts: dict[str, list[str]] = {}
    for column in COLUMNS:
        items = column.items(suite)
        if items is not None:
            parts.setdefault(items, []).append(column.header(suite))
    used = "; ".join(f"{' and '.join(headers)}: {items}" for items, headers in parts.items())
    text = "Ranked by the mean content R² of the linear task (best first)."
    return f"{text} Items per column: {used}." if used else text


def group_title(group: Group, escape: Callable[[Any], str]) -> str:
    """The heading of a group, e.g. ``Suite quick (version 2) · generator spirograph (version 1)``; ``escape`` is
    applied to the strings taken from the result files."""
    kind = "Custom suite" if not group.registered else "Suite"
    return (f"{kind} {escape(group.suite[0])} (version {int(group.suite[1])}) · generator {escape(group.generator[0])} "
            f"(version {int(group.generator[1])})")


def render_options(group: Group) -> dict[str, Any]:
    """The render options the group's results record (whatever the generator's options are)."""
    options = group.members[0].to_dict().get("render")
    return dict(options) if isinstance(options, dict) else {}


def setting_line(group: Group, escape: Callable[[Any], str]) -> str:
    """One sentence: the suite's seed, the render options recorded, and whether the suite is a registered one."""
    options = ", ".join(f"{escape(key)}={escape(value)}" for key, value in render_options(group).items())
    text = f"Seed {escape(group.record.get('seed', '?'))}; rendering {options or 'options not recorded'}."
    if not group.registered:
        text += (" Not a registered suite (a suite defined by its user): these entries are ranked only among "
                 "themselves, never against a registered suite's.")
    return text


def skipped_notes(results: Sequence[ScoreResult]) -> list[tuple[str, str, str]]:
    """``(entry, task, reason)`` for every task recorded as skipped, in entry order."""
    notes = []
    for result in results:
        for task, node in result.to_dict()["metrics"].items():
            if isinstance(node, dict) and set(node) == {"skipped"}:
                notes.append((result.name, task, str(node["skipped"])))
    return notes


# -- markdown -------------------------------------------------------------------------------------
def _markdown_cell(cell: Cell) -> str:
    return markdown_text(cell.text) if cell.user else plain_text(cell.text)


def render_markdown(results: Sequence[ScoreResult]) -> str:
    """A ranked markdown table per group (generator and suite, ``groups.group_results``), with the columns of ``COLUMNS``.

    Every string taken from a result file (entry names, disclosures, suite names) is escaped
    (``escape.markdown_text``): it shows as text and cannot break a row or form markup.

    Raises:
        ValueError: no results, or two entries of one group with the same name.
        ResultError: a result whose suite block contradicts its registered suite.
    """
    lines = ["# Spirograph leaderboard", ""]
    any_tie, notes = False, []
    for group in group_results(results):
        suite = group.record
        lines += [
            f"## {group_title(group, markdown_text)}",
            "",
            f"{caption(suite)} {setting_line(group, markdown_text)}",
            "",
            "| " + " | ".join(c.header(suite) for c in COLUMNS) + " |",
            "|" + "|".join("---:" if c.numeric else "---" for c in COLUMNS) + "|",
        ]
        for row in ranked_rows(group.members):
            any_tie = any_tie or row.tie is not None
            lines.append("| " + " | ".join(_markdown_cell(c.cell(row, suite)) for c in COLUMNS) + " |")
        lines.append("")
        notes += skipped_notes(group.members)
    if any_tie:
        lines += ["`n (≈ k)`: not distinguishable from the entry ranked k: their 95% bootstrap intervals of mean R² overlap.", ""]
    if notes:
        lines += ["Skipped tasks:", ""]
        lines += [f"- {markdown_text(entry)}, {markdown_text(task)}: {markdown_text(reason)}" for entry, task, reason in notes]
        lines.append("")
    lines += [f"- **{MISSING}**: not in the result file (task not run, or an older schema)."]
    lines += [f"- **{term}**: {text}." for _, term, text in DEFINITIONS]
    lines.append("")
    return "\n".join(lines)


def write_leaderboard(results: Sequence[ScoreResult], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Render ``results`` and write the markdown atomically (refuses an existing file without ``overwrite``)."""
    return write_text_atomic(path, render_markdown(results), overwrite=overwrite)


__all__ = [
    "COLUMNS", "Cell", "Column", "EXPECTED_DISCLOSURES", "Group", "MISSING", "RANKED_BY", "ResultError", "Row", "SKIPPED", "caption", "group_results",
    "group_title", "load_results", "rank", "ranked_rows", "references_for", "render_markdown", "render_options",
    "setting_line", "shipped_entries", "skipped_notes", "write_leaderboard",
]
