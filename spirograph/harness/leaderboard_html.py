"""The leaderboard as one self-contained static HTML page.

The page holds everything it shows: per group (generator and suite) the ranked table (the columns
of ``leaderboard.COLUMNS``, the same as the markdown table, with abbreviated headers whose full
name and definition show on hover and in the legend), a line per entry linking its result file,
the curves figure as an embedded PNG, and a detail view per entry (``entry_detail``: every figure
its result file holds, its curves, disclosures and command) that opens when its name is clicked.
The table fits common laptop widths (1280 px and up); only a phone-sized screen scrolls it.

It loads nothing at view time: its Content-Security-Policy forbids every fetch except ``data:``
images and allows only the page's own inline style and script, by hash. The detail views need no
script (they open on ``:target``); the script sorts a table when a header is clicked (and applies
``#sort=<column>:<asc|desc>`` from the address, so a sorted view can be linked) and closes an
open detail view on Escape.

Every string from a result file is escaped (``escape.html_text``); the policy is a second wall
should an escape ever be missed: an injected script would not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from .._version import __version__
from .entry_detail import detail_view
from .escape import html_text
from .groups import Group, group_results
from .leaderboard import COLUMNS, DEFINITIONS, MISSING, Cell, caption, group_title, ranked_rows, setting_line, skipped_notes
from .result import ScoreResult, write_text_atomic

TITLE = "Spirograph leaderboard"

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1880px; padding: 0 1.2em; color: #1d1d1f; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.1em; }
div.scroll { overflow-x: auto; }
table.board { border-collapse: collapse; margin: 0.5em 0; }
table.board caption { caption-side: top; text-align: left; padding: 0.3em 0 0.5em; color: #444; }
table.board th, table.board td { border-bottom: 1px solid #ddd; padding: 0.3em 0.4em; vertical-align: top; }
table.board th { background: #f3f3f5; text-align: left; font-size: 0.88em; line-height: 1.25; }
table.board th[data-type="number"] { text-align: right; }
table.board th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; text-align: inherit; color: inherit; }
table.board th[aria-sort="ascending"] button::after { content: " \\25B2"; }
table.board th[aria-sort="descending"] button::after { content: " \\25BC"; }
table.board td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.board td.entry { font-weight: 600; overflow-wrap: anywhere; min-width: 7em; max-width: 16em; }
table.board td .ci { display: block; font-size: 0.78em; color: #666; font-weight: normal; }
table.board tbody tr:nth-child(odd) { background: #fafafb; }
.skipped { color: #8a5a00; } .missing { color: #999; }
a { color: #0b57b0; }
ul.entries li { margin: 0.25em 0; overflow-wrap: anywhere; }
.muted { color: #555; } .small { font-size: 0.88em; } code { font-size: 0.92em; overflow-wrap: anywhere; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl.definitions dt { font-weight: 600; margin-top: 0.4em; }
section.detail { display: none; }
section.detail:target { display: block; position: fixed; top: 2vh; bottom: 2vh; left: 3vw; right: 3vw; z-index: 10; overflow: auto;
  background: #fff; border: 1px solid #bbb; border-radius: 6px; box-shadow: 0 0 0 100vmax rgba(0, 0, 0, 0.35); padding: 0.5em 1.5em 1.5em; }
section.detail p.close { position: sticky; top: 0; text-align: right; margin: 0; padding: 0.4em 0; background: #fff; }
section.detail dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
section.detail dl.facts dt { font-weight: 600; } section.detail dl.facts dd { margin: 0; overflow-wrap: anywhere; }
section.task { border-top: 1px solid #e4e4e8; margin-top: 0.8em; }
section.task h4 { margin: 0.6em 0 0.3em; font-size: 1.02em; }
table.figures { border-collapse: collapse; margin: 0.3em 0 0.6em; font-size: 0.92em; }
table.figures th, table.figures td { padding: 0.15em 0.6em; border-bottom: 1px solid #eee; text-align: left; }
table.figures td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.figures .ci { color: #666; font-size: 0.9em; }
p.part, details.part summary { font-weight: 600; margin: 0.4em 0 0.2em; } details.part { margin-left: 0.6em; }
div.diagnostics { border-left: 3px solid #ddd; padding-left: 0.7em; margin: 0.5em 0; }
div.curve { margin: 0.4em 0 0.8em; } p.curve-name { font-weight: 600; margin: 0.2em 0; }
div.charts { display: flex; flex-wrap: wrap; gap: 1em; }
""".strip()

_SCRIPT = """
(function () {
  "use strict";
  function keyOf(cell, numeric) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null || raw === "") { return null; }
    if (numeric) { var value = parseFloat(raw); return isNaN(value) ? null : value; }
    return raw.toLowerCase();
  }
  function sortTable(table, index, ascending) {
    var header = table.tHead.rows[0].cells[index];
    var numeric = header.getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = keyOf(a.cells[index], numeric), y = keyOf(b.cells[index], numeric);
      if (x === null && y === null) { return a.getAttribute("data-order") - b.getAttribute("data-order"); }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      if (order === 0) { return a.getAttribute("data-order") - b.getAttribute("data-order"); }
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  function columnIndex(table, key) {
    var cells = table.tHead.rows[0].cells;
    for (var i = 0; i < cells.length; i++) { if (cells[i].getAttribute("data-key") === key) { return i; } }
    return -1;
  }
  var tables = document.querySelectorAll("table.board");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, index) {
      var button = cell.querySelector("button");
      button.addEventListener("click", function () {
        var ascending = cell.getAttribute("aria-sort") !== "ascending";
        sortTable(table, index, ascending);
        history.replaceState(null, "", "#sort=" + cell.getAttribute("data-key") + ":" + (ascending ? "asc" : "desc"));
      });
    });
  });
  var match = /^#sort=([a-z_0-9]+):(asc|desc)$/.exec(location.hash);
  if (match) {
    Array.prototype.forEach.call(tables, function (table) {
      var index = columnIndex(table, match[1]);
      if (index >= 0) { sortTable(table, index, match[2] === "asc"); }
    });
  }
  document.addEventListener("keydown", function (event) {
    var open = document.querySelector("section.detail:target");
    if (event.key === "Escape" && open) { location.hash = open.getAttribute("data-back"); }
  });
})();
""".strip()


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; img-src data:; style-src {_hash(_STYLE)}; script-src {_hash(_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)
"""The page's policy: no fetches at all, ``data:`` images, and only its own style and script."""


def _our_markup(text: str) -> str:
    """The harness's own definition text as HTML: escaped, with `code` spans and **bold** kept."""
    escaped = html.escape(text, quote=True)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _link(source: str | os.PathLike, base: Path | None) -> str:
    """A relative, percent-encoded link to a result file (no scheme can appear: ':' is encoded)."""
    path = Path(source).resolve()
    if base is None:
        return path.as_uri()
    return "./" + quote(Path(os.path.relpath(path, base.resolve())).as_posix(), safe="/")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _group_id(group: Group, index: int) -> str:
    return f"group-{index}-" + _slug(f"{group.generator[0]}-v{group.generator[1]}-{group.suite[0]}-v{group.suite[1]}")


def _definition(key: str) -> tuple[str, str] | None:
    return next(((term, text) for k, term, text in DEFINITIONS if k == key), None)


def _plain_markup(text: str) -> str:
    """The harness's own definition text as plain text (for a hover title): code and bold marks dropped."""
    return re.sub(r"\*\*([^*]+)\*\*", r"\1", re.sub(r"`([^`]+)`", r"\1", text))


def _header_cell(column, suite: dict) -> str:
    kind = "number" if column.numeric else "text"
    full = column.header(suite)
    definition = _definition(column.key)
    hover = full + (f": {_plain_markup(definition[1])}" if definition else "")
    return (f'<th scope="col" data-key="{column.key}" data-type="{kind}" title="{html.escape(hover, quote=True)}">'
            f'<button type="button" aria-label="{html.escape(full, quote=True)}">{html.escape(column.abbreviation(suite))}</button></th>')


def _cell(column, cell: Cell, anchor: str) -> str:
    classes = ["num" if column.numeric else "text"]
    if column.key == "entry":
        classes.append("entry")
    if cell.text == MISSING:
        classes.append("missing")
    sort = "" if cell.sort is None else html_text(cell.sort if isinstance(cell.sort, str) else repr(float(cell.sort)), limit=10_000)
    title = ""
    if cell.note:
        classes.append("skipped")
        title = f' title="skipped: {html_text(cell.note, limit=500)}"'
    elif cell.compact is not None and cell.detail is None and cell.compact != cell.text:
        title = f' title="{html_text(cell.text)}"'
    shown = html_text(cell.compact if cell.compact is not None else cell.text)
    if column.key == "entry":
        shown = f'<a href="#{anchor}" title="details of {html_text(cell.text)}">{shown}</a>'
    if cell.detail is not None:
        shown += f' <span class="ci">{html_text(cell.detail)}</span>'
    return f'<td class="{" ".join(classes)}" data-sort="{sort}"{title}>{shown}</td>'


def _table(group: Group, table_id: str, anchors: dict[int, str]) -> list[str]:
    suite = group.record
    out = ['<div class="scroll">', f'<table class="board" id="{table_id}">',
           f"<caption>{html.escape(caption(suite))} {setting_line(group, html_text)}</caption>", "<thead><tr>"]
    out += [_header_cell(column, suite) for column in COLUMNS]
    out += ["</tr></thead>", "<tbody>"]
    for order, row in enumerate(ranked_rows(group.members)):
        out.append(f'<tr data-order="{order}">')
        out += [_cell(column, column.cell(row, suite), anchors[id(row.result)]) for column in COLUMNS]
        out.append("</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return out


def _source(result: ScoreResult, sources: dict[int, str | os.PathLike], base: Path | None) -> str:
    source = sources.get(id(result))
    if source is None:
        return '<span class="muted">(no file)</span>'
    return f'<a href="{html.escape(_link(source, base), quote=True)}">{html_text(Path(source).name)}</a>'


def _entries(group: Group, anchors: dict[int, str], sources: dict[int, str | os.PathLike], base: Path | None) -> list[str]:
    out = ['<ul class="entries">']
    for row in ranked_rows(group.members):
        result = row.result
        out.append(f'<li><a href="#{anchors[id(result)]}"><strong>{html_text(result.name)}</strong></a>: result file '
                   f"{_source(result, sources, base)}</li>")
    out.append("</ul>")
    return out


def render_html(
    results: Sequence[ScoreResult],
    *,
    sources: Sequence[str | os.PathLike] | None = None,
    base: str | os.PathLike | None = None,
    figure: bool = True,
) -> str:
    """The leaderboard page for ``results``: one ranked table, entry list, figure and detail views per group.

    Args:
        results: the entries.
        sources: the result file of each entry (same order), linked from its line; ``None``: no links.
        base: the folder the page will be saved in; links are relative to it (absolute
            ``file:`` links when ``None``).
        figure: embed the curves figure of each group (``plots.leaderboard_figure``) as a PNG.

    Returns:
        The page as text (UTF-8 when saved).

    Raises:
        ValueError: no results, ``sources`` of a different length, two entries of one group with one
            name, or a figure matplotlib cannot draw.
        ResultError: a result whose suite block contradicts its registered suite.
    """
    groups = group_results(results)
    if sources is not None and len(sources) != len(results):
        raise ValueError(f"sources has {len(sources)} paths for {len(results)} results: expected one per result")
    by_id = {id(r): s for r, s in zip(results, sources)} if sources is not None else {}
    base_path = Path(base) if base is not None else None
    body = [
        f"<h1>{TITLE}</h1>",
        f'<p class="muted">{len(results)} entries in {len(groups)} group{"s" if len(groups) != 1 else ""} (generator and suite); '
        f"rendered by spirograph-bench {html.escape(__version__)}. Each table ranks by the mean content R² of the linear task "
        "(best first); click a column header to sort by it, an entry's name for everything its result file holds. "
        "Scores of different groups are not comparable.</p>",
    ]
    any_tie = False
    for index, group in enumerate(groups):
        section = _group_id(group, index)
        rows = ranked_rows(group.members)
        anchors = {id(row.result): f"{section}-entry-{order}" for order, row in enumerate(rows)}
        any_tie = any_tie or any(row.tie for row in rows)
        heading = group_title(group, html_text)
        body += [f'<section id="{section}">', f"<h2>{heading}</h2>"]
        body += _table(group, f"{section}-table", anchors)
        notes = skipped_notes(group.members)
        if notes:
            body.append('<p class="skipped">Skipped tasks: ' + "; ".join(
                f"{html_text(entry)}, {html_text(task)}: {html_text(reason, limit=500)}" for entry, task, reason in notes) + ".</p>")
        body += ["<h3>Entries</h3>", *_entries(group, anchors, by_id, base_path)]
        if figure:
            from .plots import figure_bytes

            png = base64.b64encode(figure_bytes(group.members, "png")).decode("ascii")
            body += ["<figure>", f'<img alt="curves of {heading}: feature averaging, shifts, label efficiency" '
                     f'src="data:image/png;base64,{png}">',
                     "<figcaption>Curves per entry with 95% bootstrap bands; the caption inside the figure names "
                     "the items each panel uses.</figcaption>", "</figure>"]
        for row in rows:
            anchor = anchors[id(row.result)]
            view = detail_view(row.result, anchor=anchor, back=section, rank=row.rank, group=heading,
                               source=_source(row.result, by_id, base_path))
            body.append(view.replace('<section class="detail"', f'<section class="detail" data-back="{section}"', 1))
        body.append("</section>")
    definitions = [f"<dt>{MISSING}</dt><dd>not in the result file (task not run, or an older schema)</dd>"]
    if any_tie:
        definitions.append("<dt>n (≈ k)</dt><dd>not distinguishable from the entry ranked k: their 95% bootstrap "
                           "intervals of mean R² overlap</dd>")
    shorts = {c.key: c.abbreviation(groups[0].record) for c in COLUMNS}
    for key, term, text in DEFINITIONS:
        short = f" ({html.escape(shorts[key])})" if key in shorts and shorts[key] != term else ""
        definitions.append(f"<dt>{html.escape(term)}{short}</dt><dd>{_our_markup(text)}</dd>")
    body += ['<section id="definitions">', "<h2>Columns</h2>", '<dl class="definitions">', *definitions, "</dl>",
             "<p class=\"muted\">PROTOCOL.md §5 and SCHEMA.md define every number.</p>", "</section>"]
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{TITLE}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
    ]
    return "\n".join(head + body + [f"<script>{_SCRIPT}</script>", "</body>", "</html>", ""])


def write_html(
    results: Sequence[ScoreResult],
    path: str | os.PathLike,
    *,
    sources: Sequence[str | os.PathLike] | None = None,
    overwrite: bool = False,
    figure: bool = True,
) -> Path:
    """Render the page with links relative to ``path``'s folder and write it atomically.

    Raises:
        ValueError: as ``render_html``.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: the folder is missing or not writable.
    """
    path = Path(path)
    page = render_html(results, sources=sources, base=path.parent if str(path.parent) else Path("."), figure=figure)
    return write_text_atomic(path, page, overwrite=overwrite)


__all__ = ["CONTENT_SECURITY_POLICY", "TITLE", "render_html", "write_html"]
