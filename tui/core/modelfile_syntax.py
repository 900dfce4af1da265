"""The Modelfile scanner: a lossless syntax tree with Ollama's own diagnostics, and value quoting.

The scanner follows Ollama's own parser (``parser/parser.go``, ``api/types.go`` at v0.33) rule for
rule, so that what this module accepts is what ``ollama create`` accepts:

- An instruction is a keyword (ASCII letters, case-insensitive) followed by one space or tab, then
  its value. ``PARAMETER`` and ``MESSAGE`` take a name (``[A-Za-z0-9_]+`` / letters) first.
- A value runs to the end of its line, trimmed. One that starts with ``\"\"\"`` or ``"`` goes on over
  as many lines as it takes until a line ends with the closing quote; the quotes are then removed.
  Nothing inside a value is special: ``#`` there is text, and ``"a" b`` is a bare value.
- ``#`` starts a comment only where an instruction could start (line start, after blanks).
- A ``\\r``, ``\\n`` or ``\\r\\n`` ends a line. A leading byte-order mark is skipped. Ollama silently
  drops characters that are not printable (controls other than tab/CR/LF, zero-width marks): so do
  the decoded values here, while the tree keeps them.

``parse`` never raises: it returns a :class:`Modelfile` whose nodes cover every character of the
input, so ``serialize(parse(text)) == text`` for any text, plus the diagnostics Ollama's parser
would report. After the first error Ollama stops; this scanner resumes at the next line so that the
editor can show every problem at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from tui.core.diagnostics import Diagnostic, DiagnosticError, LineIndex

KEYWORDS: tuple[str, ...] = (
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "draft",
    "renderer",
    "parser",
    "parameter",
    "message",
    "requires",
)
"""Every instruction Ollama's parser accepts, in the order its error message lists them."""

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
"""Ollama's own text for an unknown instruction (``errInvalidCommand``)."""

INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
"""Ollama's own text for a bad ``MESSAGE`` role (``errInvalidMessageRole``)."""

MESSAGE_ROLES = ("system", "user", "assistant")

_WS = " \t\r\n"
TRIPLE = '"""'
QUOTE = '"'


@lru_cache(maxsize=8192)
def _is_print(c: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and ASCII space."""
    o = ord(c)
    if o < 0x80:
        return 0x20 <= o < 0x7F
    return unicodedata.category(c)[0] in "LMNPS"


def _kept(c: str) -> bool:
    """Whether Ollama keeps ``c`` in a value (printable, or tab/space/CR/LF)."""
    return c in _WS or _is_print(c)


# Runs of characters are found by regular expressions and str methods, not by a loop per
# character: a Modelfile may hold a value of megabytes (a 1 MB SYSTEM line), and the editor parses
# the text after each pause in typing. ``str.isprintable`` is Go's ``IsPrint`` as :func:`_is_print`
# has it (not a control, format, surrogate, private-use, unassigned or separator character, the
# ASCII space excepted), for every code point: tests/test_editor_long_lines.py checks it.
_MAY_DROP = r"[^\t\r\n\x20-\x7e]"
"""A character Ollama may drop from a value (blanks and printable ASCII it never drops)."""
_BLANK_OR_MAY_DROP = r"[^\r\n\x21-\x7e]"
_MAY_DROP_RUN = re.compile(_MAY_DROP + "+")
_BLANKS = re.compile(r"[ \t\r\n]+")
_LETTERS = re.compile(r"[A-Za-z]*")
_PARAM_CHARS = re.compile(r"[A-Za-z0-9_]*")
_CLOSING = {
    TRIPLE: re.compile(rf'"{_MAY_DROP}*"{_MAY_DROP}*"{_BLANK_OR_MAY_DROP}*(?=[\r\n])'),
    QUOTE: re.compile(rf'"{_BLANK_OR_MAY_DROP}*(?=[\r\n])'),
}
"""A closing quote ending a line: nothing after it but blanks, nothing inside it but characters
that may be dropped (:func:`_closing_break` checks which are)."""


def _line_end(text: str, i: int) -> int:
    """Offset of the next CR or LF at or after ``i`` (or the end of the text)."""
    end = text.find("\n", i)
    if end < 0:
        end = max(i, len(text))
    cr = text.find("\r", i, end)  # only up to the LF: the scan stays O(text) over all lines
    return end if cr < 0 else cr


def _kept_text(segment: str) -> str:
    """``segment`` without the characters Ollama drops from a value (see :func:`_kept`)."""
    if segment.isprintable() or _all_kept(segment):
        return segment
    return _MAY_DROP_RUN.sub(_kept_run, segment)


def _kept_run(found: re.Match[str]) -> str:
    run = found.group()
    return run if run.isprintable() else "".join(filter(_kept, run))


def _all_kept(chunk: str) -> bool:
    """Whether Ollama keeps every character of ``chunk`` (line breaks included)."""
    return all(run.isprintable() for run in _MAY_DROP_RUN.findall(chunk))


def _unquote(s: str) -> tuple[str, bool]:
    """Ollama's ``unquote``: strip ``\"\"\"`` or ``"`` pairs; (value, closed)."""
    if s[:3] == '"""':
        if len(s) >= 6 and s[-3:] == '"""':
            return s[3:-3], True
        return "", False
    if s[:1] == '"':
        if len(s) >= 2 and s[-1] == '"':
            return s[1:-1], True
        return "", False
    return s, True


# --------------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True, slots=True)
class Trivia:
    """Blank space, line breaks and comments between instructions, kept verbatim."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """Offset just past this node."""
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class Unparsed:
    """A line Ollama's parser rejects before reaching a value (e.g. ``FROM`` with nothing after)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """Offset just past this node."""
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, from its keyword to the end of its value (the line break is trivia).

    Attributes:
        text: The source, exactly as written.
        start: Offset of the keyword in the document.
        keyword: The keyword upper-cased (``FROM``); for an unknown keyword, the word upper-cased.
        keyword_raw: The keyword as written (``from``, ``Parameter``).
        known: Whether Ollama accepts the keyword.
        name: The ``PARAMETER`` name or ``MESSAGE`` role as written, else None.
        name_start: Offset of ``name``.
        value_start: Offset just past the separator before the value.
        value: The value as Ollama reads it (trimmed, unquoted); None when its quote never closes.
        quote: How the value is written: ``""`` (bare), ``'"'`` or ``'\"\"\"'``.
    """

    text: str
    start: int
    keyword: str
    keyword_raw: str
    known: bool
    name: str | None
    name_start: int | None
    value_start: int
    value: str | None
    quote: str

    @property
    def end(self) -> int:
        """Offset just past this node."""
        return self.start + len(self.text)

    @property
    def terminated(self) -> bool:
        """False when the value's opening quote is never closed (the node runs to the end)."""
        return self.value is not None


Node = Trivia | Unparsed | Instruction


@dataclass(frozen=True, slots=True)
class Scan:
    nodes: tuple[Node, ...]
    diagnostics: tuple[Diagnostic, ...]


def _value_quote(stripped: str) -> str:
    if stripped.startswith('"""'):
        return '"""'
    if stripped.startswith('"'):
        return '"'
    return ""


def _scan_value(text: str, i: int) -> tuple[int, str | None, str]:
    """Scan a value from offset ``i``; return (end offset, decoded value or None, quote).

    Ollama tests at each line break whether the value read so far, trimmed, unquotes. Only a
    value whose first line opens a quote and does not close it goes on; each later line then
    passes the test only if it ends (but for blanks) with that quote, so the value ends at the
    first such line (:func:`_closing_break`).
    """
    end = _line_end(text, i)
    kept = _kept_text(text[i:end])
    stripped = kept.strip(_WS)
    if end < len(text) and not _unquote(stripped)[1]:
        close = _closing_break(text, end, _value_quote(stripped))
        kept += _kept_text(text[end:close])
        end = close
        stripped = kept.strip(_WS)
    value, ok = _unquote(stripped)
    return end, (value if ok else None), _value_quote(stripped)


def _closing_break(text: str, start: int, quote: str) -> int:
    """Offset of the first line break after ``start`` that ``quote`` ends the line before (but
    for blanks and dropped characters), or the end of the text."""
    pattern = _CLOSING[quote]
    pos = start
    while (found := pattern.search(text, pos)) is not None:
        # The pattern lets through every character that may be dropped: see which were.
        if _kept_text(found.group()).rstrip(_WS).endswith(quote):
            return found.end()
        pos = found.end()
    return len(text)


def _scan_instruction(
    text: str, start: int, index: LineIndex, diags: list[Diagnostic]
) -> tuple[Node, int]:
    n = len(text)
    i = start
    # The first character is taken whatever it is (Ollama's stateNil -> stateName), then letters.
    head = text[i] if _is_print(text[i]) else ""
    letters = _LETTERS.match(text, i + 1)
    assert letters is not None  # it matches the empty string
    word = head + letters.group()
    i = letters.end()
    lower = word.lower()
    known = lower in KEYWORDS
    if i >= n or text[i] not in " \t":
        end = _line_end(text, i)
        if known and (i >= n or text[i] in "\r\n"):
            msg = f"{word.upper()} needs a value on the same line"
            code = "missing-value"
        elif known:
            msg = f"expected a space after {word.upper()}, found {text[i]!r}"
            code = "syntax"
        else:
            shown = re.match(r"[^ \t\r\n]+", text[start:end])
            msg = f"unknown instruction {shown.group(0) if shown else word!r}: {INVALID_COMMAND}"
            code = "unknown-instruction"
        diags.append(index.diagnostic(start, max(i, start + 1), "error", msg, code))
        return Unparsed(text[start:end], start), end
    keyword_raw = text[start:i]
    if not known:
        diags.append(
            index.diagnostic(
                start,
                i,
                "error",
                f"unknown instruction {keyword_raw!r}: {INVALID_COMMAND}",
                "unknown-instruction",
            )
        )
    i += 1  # the one separator character
    name: str | None = None
    name_start: int | None = None
    if lower in ("parameter", "message"):
        name_start = i
        chars = (_PARAM_CHARS if lower == "parameter" else _LETTERS).match(text, i)
        assert chars is not None  # it matches the empty string
        i = chars.end()
        if i >= n or text[i] not in " \t":
            end = _line_end(text, i)
            got = text[name_start:i]
            if i >= n or text[i] in "\r\n":
                what = "a name and a value" if lower == "parameter" else "a role and a content"
                msg = (
                    f"PARAMETER {got} needs a value (unexpected EOF)"
                    if lower == "parameter" and got
                    else f"MESSAGE {got} needs a content (unexpected EOF)"
                    if got
                    else f"{lower.upper()} needs {what} (unexpected EOF)"
                )
                code = "missing-value"
            else:
                kind = "parameter name" if lower == "parameter" else "message role"
                msg = f"unexpected character {text[i]!r} in {kind} (unexpected EOF)"
                code = "syntax"
            diags.append(index.diagnostic(name_start, max(i, name_start + 1), "error", msg, code))
            return Unparsed(text[start:end], start), end
        name = text[name_start:i]
        if lower == "message" and name not in MESSAGE_ROLES:
            diags.append(index.diagnostic(name_start, i, "error", INVALID_ROLE, "invalid-role"))
        i += 1
    value_start = i
    end, value, quote = _scan_value(text, i)
    if value is None:
        q = quote or '"'
        first = text.find('"', value_start, end)
        if first < 0:
            first = max(value_start, end)
        diags.append(
            index.diagnostic(
                first,
                first + len(q),
                "error",
                f"unexpected EOF: the {q} opened here is never closed",
                "unterminated-string",
            )
        )
    keyword = word.upper() if known else keyword_raw.upper()
    node = Instruction(
        text=text[start:end],
        start=start,
        keyword=keyword,
        keyword_raw=keyword_raw,
        known=known,
        name=name,
        name_start=name_start,
        value_start=value_start,
        value=value,
        quote=quote,
    )
    return node, end


def scan(text: str) -> Scan:
    index = LineIndex(text)
    nodes: list[Node] = []
    diags: list[Diagnostic] = []
    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0
    gap = 0
    while pos < n:
        c = text[pos]
        if c == "#":
            pos = _line_end(text, pos)
            continue
        if c in _WS:
            blanks = _BLANKS.match(text, pos)
            assert blanks is not None  # text[pos] is a blank
            pos = blanks.end()
            continue
        if pos > gap:
            nodes.append(Trivia(text[gap:pos], gap))
        node, pos = _scan_instruction(text, pos, index, diags)
        nodes.append(node)
        gap = pos
    if n > gap:
        nodes.append(Trivia(text[gap:n], gap))
    if not any(isinstance(x, Instruction) and x.keyword == "FROM" for x in nodes):
        diags.append(Diagnostic(1, 1, "error", "no FROM line", "missing-from"))
    return Scan(tuple(nodes), tuple(diags))


# --------------------------------------------------------------------------------------------
# Writing values back


def _decode_standalone(keyword_line: str) -> tuple[int, str | None]:
    end, value, _quote = _scan_value(keyword_line, 0)
    return end, value


def encode_value(value: str, prefer: str = "") -> str:
    """Write ``value`` so that Ollama's parser reads exactly ``value`` back.

    Tries ``prefer`` (the style already used, ``""``/``'"'``/``'\"\"\"'``) first, then bare,
    ``"…"`` and ``\"\"\"…\"\"\"``.

    Raises:
        DiagnosticError: no quoting can carry ``value`` (non-printable characters, which Ollama
            drops, or a ``\"\"\"`` that would close the string early).
    """
    multi = any(c in value for c in '\r\n"')
    order = (TRIPLE, QUOTE, "") if multi else ("", QUOTE, TRIPLE)
    styles = [prefer] + [s for s in order if s != prefer]
    for q in styles:
        candidate = f"{q}{value}{q}"
        if q == "" and (
            value == "" or value != value.strip(_WS) or any(c in "\r\n" for c in value)
        ):
            continue
        end, decoded = _decode_standalone(candidate)
        if end == len(candidate) and decoded == value:
            return candidate
    bad = next((c for c in value if not _kept(c)), None)
    why = (
        f"it holds {bad!r}, which Ollama drops"
        if bad is not None
        else 'a line inside it ends with """, which would close the string early'
    )
    raise DiagnosticError(
        [Diagnostic(1, 1, "error", f"this value cannot be written in a Modelfile: {why}", "value")]
    )
