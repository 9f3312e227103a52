"""Escaping of user-provided strings for every output format of the leaderboard.

Entry names, disclosure keys and values, suite names and any other string read from a result file
are untrusted: a result file is data from a stranger. Each renderer passes every such string
through exactly one of these functions; the functions first reduce it to one line of visible text
(``plain_text``) and then escape what the target format would interpret.
"""

from __future__ import annotations

import html
import re
from typing import Any

# CSI / OSC / other ESC sequences of terminals (ECMA-48), removed whole so no fragment survives.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")
# C0 and C1 controls, DEL, the Unicode line/paragraph separators, and every bidirectional control:
# the marks (U+200E LRM, U+200F RLM, U+061C ALM), embeddings and overrides (U+202A-U+202E) and
# isolates (U+2066-U+2069), which can make a cell read differently from what it holds.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
BIDI_CONTROLS = "\u061c\u200e\u200f" + "".join(map(chr, range(0x202A, 0x202F))) + "".join(map(chr, range(0x2066, 0x206A)))
"""Every bidirectional control character; ``plain_text`` turns each into a space."""
_SPACES = re.compile(r"\s+")
# Every character markdown (CommonMark + GFM tables) could read as syntax inside a table cell.
# CommonMark lets any ASCII punctuation be backslash-escaped, so escaping these is always safe.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~&$:])")
# GFM's extended autolinks need "www." or a scheme's ":" (escaped above); break the first.
_WWW = re.compile(r"(?i)\b(www)\.")
MAX_TEXT = 200
"""Longest text shown for one user string (longer ones are cut with an ellipsis)."""


def plain_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """One line of visible text: ANSI sequences removed, controls and line breaks as spaces, trimmed.

    Args:
        value: any value (``str()`` of non-strings; ``None`` becomes an empty string).
        limit: at most this many characters are kept (``…`` marks a cut).
    """
    text = "" if value is None else str(value)
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def markdown_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """``plain_text`` with every markdown-active character backslash-escaped (safe in a table cell).

    Links (``[x](javascript:...)``, ``<javascript:...>``), inline HTML, emphasis, code spans, cell
    separators and headings all need one of the escaped characters, so none can form.
    """
    return _WWW.sub(r"\1\\.", _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(value, limit=limit)))


def html_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    """``plain_text`` escaped for HTML element content and quoted attribute values."""
    return html.escape(plain_text(value, limit=limit), quote=True)


__all__ = ["BIDI_CONTROLS", "MAX_TEXT", "html_text", "markdown_text", "plain_text"]
