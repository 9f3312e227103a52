"""The leaderboard as one self-contained static HTML page.

The page holds everything it shows: the ranked table per suite (the columns of
``leaderboard.COLUMNS``, the same as the markdown table), intervals, every disclosure, a line per
entry linking its result file, and the curves figure as an embedded PNG. It loads nothing at view
time: its Content-Security-Policy forbids every fetch except ``data:`` images and allows only the
page's own inline style and script, by hash. That script sorts a table when a header is clicked
(and applies ``#sort=<column>:<asc|desc>`` from the address, so a sorted view can be linked).

Every string from a result file is escaped (``escape.html_text``); the policy is a second wall
should an escape ever be missed: an injected script would not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from .._version import __version__
from .escape import html_text
from .leaderboard import COLUMNS, DEFINITIONS, MISSING, caption, ranked_rows, skipped_notes, suite_groups
from .result import ScoreResult, write_text_atomic

TITLE = "Spirograph leaderboard"

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
div.scroll { overflow-x: auto; }
table.board { border-collapse: collapse; margin: 0.5em 0; }
table.board caption { caption-side: top; text-align: left; padding: 0.3em 0; color: #444; max-width: 1400px; }
table.board th, table.board td { border-bottom: 1px solid #ddd; padding: 0.3em 0.55em; vertical-align: top; }
table.board td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.board td.entry { font-weight: 600; overflow-wrap: break-word; min-width: 9em; max-width: 20em; }
table.board th { background: #f3f3f5; text-align: left; }
table.board th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; text-align: left; }
table.board th[aria-sort="ascending"] button::after { content: " \\25B2"; }
table.board th[aria-sort="descending"] button::after { content: " \\25BC"; }
table.board tbody tr:nth-child(odd) { background: #fafafb; }
.skipped { color: #8a5a00; } .missing { color: #999; }
ul.entries li { margin: 0.25em 0; overflow-wrap: anywhere; }
.muted { color: #555; } code { font-size: 0.92em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl.definitions dt { font-weight: 600; margin-top: 0.4em; }
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


def _disclosed(value: object) -> str:
    """A disclosure value as written on the command line: true/false/null, numbers, text."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def _suite_id(name: str, version: int, index: int) -> str:
    return f"suite-{index}-" + re.sub(r"[^a-z0-9]+", "-", f"{name}-v{version}".lower()).strip("-")


def _table(members: Sequence[ScoreResult], suite: dict, table_id: str) -> list[str]:
    out = ['<div class="scroll">', f'<table class="board" id="{table_id}">', f"<caption>{html.escape(caption(suite))}</caption>", "<thead><tr>"]
    for column in COLUMNS:
        kind = "number" if column.numeric else "text"
        out.append(f'<th scope="col" data-key="{column.key}" data-type="{kind}"><button type="button">'
                   f"{html.escape(column.header(suite))}</button></th>")
    out += ["</tr></thead>", "<tbody>"]
    for order, row in enumerate(ranked_rows(members)):
        out.append(f'<tr data-order="{order}">')
        for column in COLUMNS:
            cell = column.cell(row, suite)
            classes = ["num" if column.numeric else "text"]
            if column.key == "entry":
                classes.append("entry")
            if cell.text == MISSING:
                classes.append("missing")
            sort = "" if cell.sort is None else html_text(cell.sort if isinstance(cell.sort, str) else repr(float(cell.sort)), limit=10_000)
            title = f' title="skipped: {html_text(cell.note, limit=500)}"' if cell.note else ""
            if cell.note:
                classes.append("skipped")
            out.append(f'<td class="{" ".join(classes)}" data-sort="{sort}"{title}>{html_text(cell.text)}</td>')
        out.append("</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return out


def _entries(members: Sequence[ScoreResult], sources: dict[int, str | os.PathLike], base: Path | None) -> list[str]:
    out = ['<ul class="entries">']
    for row in ranked_rows(members):
        result = row.result
        data = result.to_dict()
        source = sources.get(id(result))
        link = (f'<a href="{html.escape(_link(source, base), quote=True)}">{html_text(Path(source).name)}</a>'
                if source is not None else '<span class="muted">(no file)</span>')
        disclosures = "; ".join(f"{html_text(key)} = {html_text(_disclosed(value))}" for key, value in data["disclosures"].items()) or "none"
        command = f'; command: <code>{html_text(data.get("command"), limit=1000)}</code>' if data.get("command") else ""
        out.append(f"<li><strong>{html_text(result.name)}</strong>: result file {link}; disclosures: {disclosures}"
                   f"; package {html_text(data.get('package_version'))}, device {html_text(data.get('device'))}{command}</li>")
    out.append("</ul>")
    return out


def render_html(
    results: Sequence[ScoreResult],
    *,
    sources: Sequence[str | os.PathLike] | None = None,
    base: str | os.PathLike | None = None,
    figure: bool = True,
) -> str:
    """The leaderboard page for ``results`` (one ranked table per suite).

    Args:
        results: the entries.
        sources: the result file of each entry (same order), linked from its line; ``None``: no links.
        base: the folder the page will be saved in; links are relative to it (absolute
            ``file:`` links when ``None``).
        figure: embed the curves figure of each suite (``plots.leaderboard_figure``) as a PNG.

    Returns:
        The page as text (UTF-8 when saved).

    Raises:
        ValueError: no results, or ``sources`` of a different length.
    """
    groups = suite_groups(results)
    if sources is not None and len(sources) != len(results):
        raise ValueError(f"sources has {len(sources)} paths for {len(results)} results: expected one per result")
    by_id = {id(r): s for r, s in zip(results, sources)} if sources is not None else {}
    base_path = Path(base) if base is not None else None
    body = [
        f"<h1>{TITLE}</h1>",
        f'<p class="muted">{len(results)} entries in {len(groups)} suite{"s" if len(groups) != 1 else ""}; rendered by '
        f"spirograph-bench {html.escape(__version__)}. Each table ranks by the mean content R² of the linear task "
        "(best first); click a column header to sort by it. Scores of different suites are not comparable.</p>",
    ]
    any_tie = False
    for index, ((name, version), members) in enumerate(groups):
        suite = members[0].to_dict()["suite"]
        section = _suite_id(str(name), version, index)
        any_tie = any_tie or any(row.tie for row in ranked_rows(members))
        body += [f'<section id="{section}">', f"<h2>Suite {html_text(name)} (version {int(version)})</h2>"]
        body += _table(members, suite, f"{section}-table")
        notes = skipped_notes(members)
        if notes:
            body.append('<p class="skipped">Skipped tasks: ' + "; ".join(
                f"{html_text(entry)}, {html_text(task)}: {html_text(reason, limit=500)}" for entry, task, reason in notes) + ".</p>")
        body += ["<h3>Entries</h3>", *_entries(members, by_id, base_path)]
        if figure:
            from .plots import figure_bytes

            png = base64.b64encode(figure_bytes(members, "png")).decode("ascii")
            body += ["<figure>", f'<img alt="curves of suite {html_text(name)}: feature averaging, four nuisance shifts, label '
                     f'efficiency" src="data:image/png;base64,{png}">',
                     "<figcaption>Curves per entry with 95% bootstrap bands; the caption inside the figure names "
                     "the items each panel uses.</figcaption>", "</figure>"]
        body.append("</section>")
    definitions = [f"<dt>{MISSING}</dt><dd>not in the result file (task not run, or an older schema)</dd>"]
    if any_tie:
        definitions.append("<dt>n (≈ k)</dt><dd>not distinguishable from the entry ranked k: their 95% bootstrap "
                           "intervals of mean R² overlap</dd>")
    definitions += [f"<dt>{html.escape(term)}</dt><dd>{_our_markup(text)}</dd>" for term, text in DEFINITIONS]
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
