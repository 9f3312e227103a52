"""The HTML leaderboard: self-contained, escaped, the shared columns; checked in a real headless Chromium."""

from __future__ import annotations

import copy
import html
import html.parser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from spirograph.cli import main
from spirograph.harness import ScoreResult
from spirograph.harness.escape import plain_text
from spirograph.harness.groups import generator_of
from spirograph.harness.leaderboard import COLUMNS, load_results, rank, shipped_entries
from spirograph.harness.leaderboard_html import TITLE, render_html, write_html

EVIL_SCRIPT = "<script>alert(1)</script>"
EVIL_TITLE = "<script>document.title='pwned'</script>"
EVIL_IMG = "<img src=x onerror=\"document.title='pwned'\">"
EVIL_MARKDOWN = "1 | injected | cell\n\n# Heading"


class _Page(html.parser.HTMLParser):
    """What a test needs of a page: title, script elements, leaderboard table rows (cell texts), links, images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title, self.scripts, self.rows, self.links, self.images, self.headers = "", 0, [], [], [], []
        self._in_title = self._in_cell = self._in_body = self._in_th = self._in_svg = self._in_board = False
        self._cell: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title" and not self._in_svg:
            self._in_title = True
        elif tag == "svg":
            self._in_svg = True
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self._in_board = "board" in (attrs.get("class") or "").split()
        elif tag == "tbody" and self._in_board:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._in_cell, self._cell = True, []
        elif tag == "th" and self._in_board and attrs.get("data-key"):
            self.headers.append(attrs.get("data-key"))
        elif tag == "a":
            self.links.append(attrs.get("href"))
        elif tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag == "svg":
            self._in_svg = False
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._in_board = False
        elif tag == "td" and self._in_cell:
            self.rows[-1].append("".join(self._cell))
            self._in_cell = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._in_cell:
            self._cell.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def entries() -> tuple[list[ScoreResult], list[Path]]:
    """The shipped entries plus hostile copies (names and disclosures that try to inject)."""
    # Spirograph's references: one group, so the page has one table (other generators' form groups of their own).
    paths = [p for p in shipped_entries() if generator_of(ScoreResult.load(p))[0] == "spirograph"]
    shipped = load_results(paths)
    hostile = []
    for index, name in enumerate((EVIL_SCRIPT, EVIL_TITLE, EVIL_IMG, EVIL_MARKDOWN)):
        data = copy.deepcopy(shipped[index % len(shipped)].to_dict())
        data["name"] = name
        data["disclosures"]["training"] = EVIL_MARKDOWN + " [x](javascript:alert(1)) \x1b[31mred"
        data["metrics"]["linear"]["mean_r2"]["value"] -= 0.001 * (index + 1)  # distinct ranks
        low, high = data["metrics"]["linear"]["mean_r2"]["ci"]
        data["metrics"]["linear"]["mean_r2"]["ci"] = [low - 0.01, high]
        # validate=False: the validator refuses a name with a line break at load, but a renderer
        # must stay safe for any result object it is handed.
        hostile.append(ScoreResult(data, validate=False))
    return shipped + hostile, paths + [paths[i % len(paths)] for i in range(4)]


def test_page_is_self_contained_and_escaped(entries, tmp_path):
    results, paths = entries
    page = render_html(results, sources=paths, base=tmp_path, figure=False)
    parsed = parse(page)
    assert parsed.title == TITLE and parsed.scripts == 1
    assert parsed.headers == [c.key for c in COLUMNS]
    assert [row[1] for row in parsed.rows] == [plain_text(r.name) for r, _ in rank(results)]
    # Nothing is fetched at view time: no external URL, a policy that forbids every fetch.
    assert "default-src 'none'" in page and not re.search(r"(src|href)=\"(https?:|//)", page)
    for name in (EVIL_SCRIPT, EVIL_TITLE, EVIL_IMG):
        assert name not in page and html.escape(name, quote=True) in page
    assert not re.search(r"href=\"\s*javascript:", page, re.I)
    files = [link for link in parsed.links if not link.startswith("#")]
    assert files and all(link.startswith("./") and ":" not in link for link in files)
    # Every in-page link (entry names, close links) leads to an element of the page.
    ids = set(re.findall(r' id="([^"]+)"', page))
    anchors = [link[1:] for link in parsed.links if link.startswith("#")]
    assert len(anchors) >= 3 * len(results) and set(anchors) <= ids
    assert "\x1b" not in page and "\n\n# Heading" not in page


def test_bidirectional_controls_are_neutralised(entries):
    """U+200E, U+200F, U+061C, the embeddings/overrides and the isolates never reach the page or the markdown."""
    from spirograph.harness.escape import BIDI_CONTROLS
    from spirograph.harness.leaderboard import render_markdown

    assert {"\u200e", "\u200f", "\u061c", "\u202a", "\u202e", "\u2066", "\u2069"} <= set(BIDI_CONTROLS)
    data = copy.deepcopy(entries[0][1].to_dict())
    text = "gpj." + "".join(BIDI_CONTROLS) + "exe"
    data["name"] = "bidi " + text
    data["disclosures"]["training"] = text
    data["command"] = "spirograph score " + text
    hostile = ScoreResult(data, validate=False)  # the validator refuses such a name; a renderer must still be safe
    page = render_html([hostile, entries[0][0]], figure=False)
    table = render_markdown([hostile, entries[0][0]])
    for char in BIDI_CONTROLS:
        assert char not in page and char not in table
    assert "bidi gpj." in page and "bidi gpj." in table


def test_sources_must_match_results(entries, tmp_path):
    results, paths = entries
    with pytest.raises(ValueError, match="one per result"):
        render_html(results, sources=paths[:2], figure=False)


def test_command_writes_the_page_and_refuses_its_inputs(capsys, tmp_path):
    source = tmp_path / "in.json"
    data = json.loads(shipped_entries()[0].read_text())
    source.write_text(json.dumps({**data, "name": "mine"}))
    board = tmp_path / "board.html"
    assert main(["leaderboard", str(source), "--references", "--html", str(board), "--out", str(tmp_path / "b.md")]) == 0
    parsed = parse(board.read_text(encoding="utf-8"))
    assert len(parsed.rows) == 4 and parsed.images and parsed.images[0].startswith("data:image/png;base64,")
    assert "./in.json" in parsed.links
    capsys.readouterr()
    before = source.read_bytes()
    for option in ("--out", "--html", "--plot"):
        assert main(["leaderboard", str(source), option, str(source), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not one of the command's inputs (it is the input result file" in err
    assert source.read_bytes() == before
    # A hard link to an input is the input too.
    os.link(source, tmp_path / "alias.json")
    assert main(["leaderboard", str(source), "--out", str(tmp_path / "alias.json"), "--overwrite"]) == 2
    assert main(["leaderboard", str(source), "--html", str(tmp_path / "x.txt")]) == 2
    assert "ending in .html" in capsys.readouterr().err


# -- a real browser ---------------------------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browse(binary: str, profile: Path, url: str, *extra: str) -> str:
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", *extra, url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium package where apt is usable)")
    return binary


def test_page_in_headless_chromium(entries, chromium, tmp_path):
    results, paths = entries
    board = write_html(results, tmp_path / "board.html", sources=paths)
    url = board.resolve().as_uri()
    # As loaded: ranked by mean R², every hostile name shown as text, no script of theirs ran.
    dom = parse(_browse(chromium, tmp_path / "profile", url, "--dump-dom"))
    assert dom.title == TITLE
    assert dom.scripts == 1
    names = [row[1] for row in dom.rows]
    assert names == [plain_text(r.name) for r, _ in rank(results)]
    assert EVIL_SCRIPT in names and EVIL_TITLE in names and EVIL_IMG in names
    assert all(len(row) == len(COLUMNS) for row in dom.rows)
    ranks = [row[0] for row in dom.rows]
    assert ranks[0] == "1" and ranks[1].startswith("2")
    # The page's own script sorts: by mean MSE, ascending, from the address.
    dom = parse(_browse(chromium, tmp_path / "profile", url + "#sort=mean_mse:asc", "--dump-dom"))
    mse = [float(row[3].split()[0]) for row in dom.rows]
    assert mse == sorted(mse) and dom.title == TITLE
    dom = parse(_browse(chromium, tmp_path / "profile", url + "#sort=entry:desc", "--dump-dom"))
    assert [row[1] for row in dom.rows] == sorted((row[1] for row in dom.rows), key=str.lower, reverse=True)
    shot = tmp_path / "board.png"
    _browse(chromium, tmp_path / "profile", url, f"--screenshot={shot}", "--window-size=1500,1400")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# -- layout and the entry detail view, measured in the browser (WebDriver) ---------------------------
from webdriver import Browser, chromedriver  # noqa: E402

LONG_NAME = "InvCLR penalty_target=standardized λ=1e-6 seed 2 (ResNet-18, 50 epochs, LARS)"


@pytest.fixture(scope="module")
def driver() -> str:
    found = chromedriver()
    if found is None:
        pytest.skip("no chromedriver on this machine (.ci/run installs Debian's chromium-driver package where apt is usable)")
    return found


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_column_fits_and_entries_open_in_the_browser(entries, chromium, driver, tmp_path, width):
    results, paths = entries
    long = copy.deepcopy(results[2].to_dict())
    long["name"] = LONG_NAME
    results, paths = [*results, ScoreResult(long)], [*paths, paths[2]]
    board = write_html(results, tmp_path / "board.html", sources=paths)
    with Browser(driver, chromium, tmp_path / "profile") as browser:
        browser.open(board.resolve().as_uri(), width, 900)
        assert browser.run("return document.documentElement.clientWidth;") == width
        # Every header cell (and the caption) lies inside the viewport; nothing scrolls sideways.
        boxes = browser.run("""return Array.from(document.querySelectorAll('table.board th, table.board caption')).map(
            function (e) { var r = e.getBoundingClientRect(); return [e.getAttribute('data-key') || e.tagName, r.left, r.right]; });""")
        assert len(boxes) == len(COLUMNS) + 1
        outside = [(key, left, right) for key, left, right in boxes if left < 0 or right > width]
        assert outside == []
        assert browser.run("return Array.from(document.querySelectorAll('div.scroll')).map(d => d.scrollWidth - d.clientWidth);") == [0]
        assert browser.run("return document.documentElement.scrollWidth;") <= width
        # A click on the third entry's name opens its details on the same page.
        third = browser.run("return document.querySelector('table.board tbody tr:nth-child(3) td.entry').textContent;")
        assert browser.run("return document.querySelector('section.detail:target');") is None
        browser.click("table.board tbody tr:nth-child(3) td.entry a")
        shown = browser.run("""var d = document.querySelector('section.detail:target'); var r = d.getBoundingClientRect();
            return {title: d.querySelector('h3').textContent, display: getComputedStyle(d).display, left: r.left, right: r.right,
                    top: r.top, text: d.textContent, charts: d.querySelectorAll('svg.chart').length,
                    tasks: Array.from(d.querySelectorAll('section.task h4')).map(h => h.textContent)};""")
        assert shown["title"] == third and shown["display"] == "block"
        assert 0 <= shown["left"] < shown["right"] <= width and 0 <= shown["top"] < 900
        assert shown["tasks"] == [t.replace("_", " ") for t in results[0].to_dict()["metrics"]]
        for text in ("per factor", "disclosures", "uses_nuisance_labels", "command", "spirograph score --reference", "95% interval"):
            assert text in shown["text"]
        assert shown["charts"] >= 7  # feature averaging (MSE, R²), four shift curves, label efficiency
        # Escape closes it; nothing was fetched over the network at any point.
        browser.key("\ue00c")
        assert browser.run("return document.querySelector('section.detail:target');") is None
        assert browser.run("return performance.getEntriesByType('resource').map(e => e.name);") == []


def test_the_detail_view_shows_whatever_a_result_holds(entries):
    """New figures appear without code changes: a worst-case curve, a task's diagnostics, a task never heard of."""
    data = copy.deepcopy(entries[0][1].to_dict())
    data["metrics"]["worst_case"] = {
        "area": {"value": 0.5, "ci": [0.4, 0.6]},
        "curve": [{"epsilon": e, "normalized_mse": {"value": 0.3 + e, "ci": [0.2 + e, 0.4 + e]}} for e in (0.05, 0.1, 0.2)],
        "diagnostics": {"raw_area": {"value": 7.0, "ci": [6.0, 8.0]}},
    }
    data["metrics"]["future_task"] = {"score": {"value": -0.25, "ci": [-0.5, 0.0]}, "note": "<b>x</b>"}
    page = render_html([ScoreResult(data, validate=False)], figure=False)
    detail = page[page.index('<section class="detail"'):]
    assert "<title>worst_case.curve: normalized_mse against epsilon</title>" in detail
    assert '<div class="diagnostics"><p class="part">diagnostics' in detail and "never ranked" in detail and "raw area" in detail
    assert "<h4>future task</h4>" in detail and "\u22120.25" in detail and "&lt;b&gt;x&lt;/b&gt;" in detail
