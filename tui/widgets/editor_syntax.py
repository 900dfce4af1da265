"""Highlighting for the editor without tree-sitter: spans per line, from slmdeck's own parsers.

A Modelfile is highlighted from the nodes of :mod:`tui.core.modelfile` (the same parser that
validates it, so colours and diagnostics never disagree); ``inference_model.json`` by a small
tokenizer that tells keys from values and marks ``{Content}`` placeholders. Diagnostics become
spans too, so that the editor can underline them.

Spans are ``(start, end, name)`` in characters of one line (``end`` exclusive), keyed by the 0-based
line. Pure Python; nothing here imports Textual.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tui.core.diagnostics import Diagnostic

if TYPE_CHECKING:
    from tui.core.modelfile import Modelfile

Span = tuple[int, int, str]
LineSpans = dict[int, list[Span]]

STYLE_NAMES = (
    "keyword",
    "unknown",
    "name",
    "string",
    "number",
    "literal",
    "comment",
    "action",
    "placeholder",
    "key",
    "error",
    "warning",
    "info",
)
"""Every span name used here (the editor maps each to a component class)."""

_NEWLINE = re.compile(r"\r\n|\r|\n")
_COMMENT = re.compile(r"#[^\r\n]*")
_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_NUMBER_VALUE = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_BOOL_VALUE = re.compile(r"\s*(?:true|false|True|False|TRUE|FALSE)\s*")
_PLACEHOLDER = "{Content}"
_JSON_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\\r\n]|\\.)*"?)'
    r"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<literal>\b(?:true|false|null)\b)"
)
_KEY_AFTER = re.compile(r"[ \t\r\n]*:")


class _Lines:
    """Maps offsets of a text to (line, column) and splits ranges at line breaks."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        self.ends: list[int] = []
        for m in _NEWLINE.finditer(text):
            self.ends.append(m.start())
            self.starts.append(m.end())
        self.ends.append(len(text))

    def add(self, out: LineSpans, start: int, end: int, name: str) -> None:
        """Add a span over offsets ``start..end`` (it may cross lines)."""
        if end <= start:
            return
        line = bisect.bisect_right(self.starts, start) - 1
        while line < len(self.starts) and self.starts[line] < end:
            lo = max(start, self.starts[line])
            hi = min(end, self.ends[line])
            if hi > lo:
                out[line].append((lo - self.starts[line], hi - self.starts[line], name))
            line += 1


def modelfile_spans(text: str, parsed: Modelfile | None = None) -> LineSpans:
    """Highlight spans of a Modelfile: keywords, names, values, template actions, comments.

    ``parsed`` is ``parse(text)`` when the caller has it already (the editor parses once).
    """
    from tui.core.modelfile import Instruction, Trivia, parse

    lines = _Lines(text)
    out: LineSpans = defaultdict(list)
    for node in (parsed or parse(text)).nodes:
        if isinstance(node, Trivia):
            for m in _COMMENT.finditer(node.text):
                lines.add(out, node.start + m.start(), node.start + m.end(), "comment")
            continue
        if not isinstance(node, Instruction):
            continue
        kw_end = node.start + len(node.keyword_raw)
        lines.add(out, node.start, kw_end, "keyword" if node.known else "unknown")
        if node.name is not None and node.name_start is not None:
            lines.add(out, node.name_start, node.name_start + len(node.name), "name")
        value_text = text[node.value_start : node.end]
        if not value_text.strip():
            continue
        if node.keyword == "PARAMETER" and not node.quote:
            if _NUMBER_VALUE.fullmatch(value_text):
                lines.add(out, node.value_start, node.end, "number")
                continue
            if _BOOL_VALUE.fullmatch(value_text):
                lines.add(out, node.value_start, node.end, "literal")
                continue
        lines.add(out, node.value_start, node.end, "name" if node.keyword == "FROM" else "string")
        if node.keyword == "TEMPLATE":
            for m in _ACTION.finditer(value_text):
                lines.add(out, node.value_start + m.start(), node.value_start + m.end(), "action")
    return out


def json_spans(text: str) -> LineSpans:
    """Highlight spans of JSON: keys, strings, numbers, literals and ``{Content}``."""
    lines = _Lines(text)
    out: LineSpans = defaultdict(list)
    for m in _JSON_TOKEN.finditer(text):
        kind = m.lastgroup or ""
        start, end = m.span()
        if kind == "string":
            is_key = _KEY_AFTER.match(text, end) is not None
            lines.add(out, start, end, "key" if is_key else "string")
            if not is_key:
                at = text.find(_PLACEHOLDER, start, end)
                while at >= 0:
                    lines.add(out, at, at + len(_PLACEHOLDER), "placeholder")
                    at = text.find(_PLACEHOLDER, at + len(_PLACEHOLDER), end)
        else:
            lines.add(out, start, end, kind)
    return out


def spans_for(kind: str, text: str) -> LineSpans:
    """Highlight spans for a document of ``kind`` (``modelfile`` or ``inference-model``)."""
    return json_spans(text) if kind == "inference-model" else modelfile_spans(text)


_TOKEN = re.compile(r"\S+")


def diagnostic_spans(lines: Sequence[str], diagnostics: Iterable[Diagnostic]) -> LineSpans:
    """Underline spans for ``diagnostics`` over the document's ``lines``.

    A diagnostic with no end covers the word at its start (one character at least); one past the
    end of its line covers the line's last character, so it stays visible.
    """
    out: LineSpans = defaultdict(list)
    count = len(lines)
    for d in diagnostics:
        first = min(max(d.line - 1, 0), max(count - 1, 0))
        if count == 0:
            break
        if d.end_line is not None and d.end_col is not None and d.end_line > d.line:
            last = min(d.end_line - 1, count - 1)
            out[first].append((d.col - 1, len(lines[first]), d.severity))
            for row in range(first + 1, last):
                out[row].append((0, len(lines[row]), d.severity))
            out[last].append((0, max(d.end_col - 1, 0), d.severity))
            continue
        line = lines[first]
        start = min(max(d.col - 1, 0), len(line))
        if d.end_col is not None and d.end_line in (None, d.line) and d.end_col - 1 > start:
            end = min(d.end_col - 1, len(line))
        else:
            word = _TOKEN.match(line, start)
            end = word.end() if word else start + 1
        if start >= len(line) and line:
            start, end = len(line) - 1, len(line)
        out[first].append((start, max(end, start + 1), d.severity))
    return out


_RANK = {"error": 0, "warning": 1, "info": 2}


def gutter_marks(diagnostics: Iterable[Diagnostic], line_count: int) -> dict[int, str]:
    """The worst severity on each 0-based line that has a diagnostic."""
    marks: dict[int, str] = {}
    for d in diagnostics:
        row = min(max(d.line - 1, 0), max(line_count - 1, 0))
        if row not in marks or _RANK[d.severity] < _RANK[marks[row]]:
            marks[row] = d.severity
    return marks
