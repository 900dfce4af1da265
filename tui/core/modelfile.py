"""Ollama Modelfiles: a lossless syntax tree, validation with positions, edits and /api/create fields.

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

import difflib
import math
import re
import struct
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from tui.core.diagnostics import (
    Diagnostic,
    DiagnosticError,
    LineIndex,
    has_errors,
    sort_diagnostics,
)

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

ParamType = Literal["int", "float", "bool", "string", "string_list"]

PARAMETER_TYPES: dict[str, ParamType] = {
    # Runner options (fixed when the model loads).
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "use_mmap": "bool",
    "num_thread": "int",
    "draft_num_predict": "int",
    # Predict options.
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "stop": "string_list",
}
"""PARAMETER names (JSON tags of ``api.Options``, case-sensitive) and the Go type each parses as."""

DEPRECATED_PARAMETERS: tuple[str, ...] = (
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
)
"""Accepted by ``ollama create`` with a warning, then ignored."""

SINGLE_VALUED = ("from", "template", "system", "adapter", "renderer", "parser", "requires")
"""Instructions where a repeat replaces the earlier value (``LICENSE``/``MESSAGE``/``DRAFT`` add)."""

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


def _is_alpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_param_char(c: str) -> bool:
    return _is_alpha(c) or ("0" <= c <= "9") or c == "_"


def _line_end(text: str, i: int) -> int:
    """Offset of the next CR or LF at or after ``i`` (or the end of the text)."""
    n = len(text)
    while i < n and text[i] not in "\r\n":
        i += 1
    return i


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
class _Scan:
    nodes: tuple[Node, ...]
    diagnostics: tuple[Diagnostic, ...]


def _value_quote(stripped: str) -> str:
    if stripped.startswith('"""'):
        return '"""'
    if stripped.startswith('"'):
        return '"'
    return ""


def _scan_value(text: str, i: int) -> tuple[int, str | None, str]:
    """Scan a value from offset ``i``; return (end offset, decoded value or None, quote)."""
    n = len(text)
    buf: list[str] = []
    lead = -1  # index in buf of the first non-blank kept character
    while i < n:
        c = text[i]
        if c in "\r\n":
            if _closed(buf, lead):
                break
            buf.append(c)
        elif _kept(c):
            if lead < 0 and c not in _WS:
                lead = len(buf)
            buf.append(c)
        i += 1
    stripped = "".join(buf).strip(_WS)
    value, ok = _unquote(stripped)
    return i, (value if ok else None), _value_quote(stripped)


def _closed(buf: list[str], lead: int) -> bool:
    """Whether the trimmed buffer unquotes (Ollama's test at each line break)."""
    if lead < 0:
        return True
    end = len(buf)
    while end > lead and buf[end - 1] in _WS:
        end -= 1
    length = end - lead
    if length >= 3 and buf[lead] == buf[lead + 1] == buf[lead + 2] == '"':
        return length >= 6 and buf[end - 1] == buf[end - 2] == buf[end - 3] == '"'
    if buf[lead] == '"':
        return length >= 2 and buf[end - 1] == '"'
    return True


def _scan_instruction(
    text: str, start: int, index: LineIndex, diags: list[Diagnostic]
) -> tuple[Node, int]:
    n = len(text)
    i = start
    # The first character is taken whatever it is (Ollama's stateNil -> stateName), then letters.
    word_chars = [text[i]] if _is_print(text[i]) else []
    i += 1
    while i < n and _is_alpha(text[i]):
        word_chars.append(text[i])
        i += 1
    word = "".join(word_chars)
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
        accept = _is_param_char if lower == "parameter" else _is_alpha
        while i < n and accept(text[i]):
            i += 1
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
        first = value_start
        while first < end and text[first] != '"':
            first += 1
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


def _scan(text: str) -> _Scan:
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
            pos += 1
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
    return _Scan(tuple(nodes), tuple(diags))


# --------------------------------------------------------------------------------------------
# Go's number and bool syntax, as FormatParams uses it

_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:_?[0-9a-fA-F])+(?:\.(?:[0-9a-fA-F]_?)*)?[pP][+-]?[0-9]+"
    r"|[+-]?0[xX]\.[0-9a-fA-F](?:_?[0-9a-fA-F])*[pP][+-]?[0-9]+"
)
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_INT64 = 2**63


def parse_go_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 10, 64)``; None when Go rejects it."""
    if not _GO_INT.fullmatch(s):
        return None
    v = int(s)
    return v if -_INT64 <= v < _INT64 else None


def parse_go_float32(s: str) -> float | None:
    """``strconv.ParseFloat(s, 32)``; None when Go rejects it (syntax, or beyond float32)."""
    if _GO_SPECIAL.fullmatch(s):
        return float(s.lower().replace("infinity", "inf"))
    if _GO_DEC_FLOAT.fullmatch(s):
        v = float(s)
    elif _GO_HEX_FLOAT.fullmatch(s):
        sign = -1.0 if s.startswith("-") else 1.0
        v = sign * float.fromhex(s.lstrip("+-").replace("_", ""))
    else:
        return None
    try:
        struct.pack("<f", v)
    except OverflowError:
        return None
    return v


def parse_go_bool(s: str) -> bool | None:
    """``strconv.ParseBool``; None when Go rejects it."""
    if s in _GO_TRUE:
        return True
    if s in _GO_FALSE:
        return False
    return None


def convert_parameter(name: str, value: str) -> tuple[Any, str | None]:
    """Type ``value`` as Ollama does for PARAMETER ``name``; (typed value, error message or None).

    ``stop`` gives the string itself (the caller accumulates repeats into a list).
    """
    kind = PARAMETER_TYPES.get(name)
    if kind is None:
        return None, f"unknown parameter {name!r}"
    if kind == "int":
        iv = parse_go_int(value)
        return (iv, None) if iv is not None else (None, f"invalid int value [{value}]")
    if kind == "float":
        fv = parse_go_float32(value)
        return (fv, None) if fv is not None else (None, f"invalid float value [{value}]")
    if kind == "bool":
        bv = parse_go_bool(value)
        return (bv, None) if bv is not None else (None, f"invalid bool value [{value}]")
    return value, None


# --------------------------------------------------------------------------------------------
# Semver, as golang.org/x/mod/semver.IsValid checks it

_IDENT = re.compile(r"[0-9A-Za-z-]+")


def _semver_num(s: str) -> bool:
    return s.isascii() and s.isdigit() and (len(s) == 1 or s[0] != "0")


def is_valid_requires(value: str) -> bool:
    """Whether Ollama accepts ``REQUIRES value`` (a semver, the leading ``v`` optional)."""
    v = value[1:] if value.startswith("v") else value
    core, plus, build = v.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or not all(_semver_num(p) for p in parts):
        return False
    if (dash or plus) and len(parts) != 3:
        return False
    if dash:
        for ident in pre.split("."):
            if not _IDENT.fullmatch(ident):
                return False
            if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
                return False
    return not plus or all(_IDENT.fullmatch(ident) for ident in build.split("."))


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


def format_parameter_value(value: str | int | float | bool) -> str:
    """The text Ollama's FormatParams parses back to ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# The document


@dataclass(frozen=True, slots=True)
class CreateFields:
    """What a Modelfile sends to Ollama's ``/api/create`` (as ``ollama create`` builds it)."""

    from_: str | None
    template: str | None = None
    system: str | None = None
    license: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None

    def to_request(self, model: str) -> dict[str, Any]:
        """The JSON body for ``POST /api/create`` with ``from`` (adapters/drafts need blobs first)."""
        body: dict[str, Any] = {"model": model}
        if self.from_ is not None:
            body["from"] = self.from_
        for key in ("template", "system", "renderer", "parser", "requires"):
            v = getattr(self, key)
            if v is not None:
                body[key] = v
        if self.license:
            body["license"] = list(self.license)
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        if self.messages:
            body["messages"] = [dict(m) for m in self.messages]
        return body


class Modelfile:
    """A parsed Modelfile: lossless nodes, the parser's diagnostics and an edit API.

    Edits splice the source text (only the touched instruction's characters change) and parse the
    result again, so nodes, offsets and diagnostics always describe the current text.
    """

    def __init__(self, text: str) -> None:
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        scan = _scan(text)
        self._text = text
        self.nodes: tuple[Node, ...] = scan.nodes
        self.diagnostics: tuple[Diagnostic, ...] = scan.diagnostics

    @property
    def text(self) -> str:
        """The current source."""
        return self._text

    @property
    def instructions(self) -> list[Instruction]:
        """Every instruction in order, unknown keywords and unterminated values included."""
        return [n for n in self.nodes if isinstance(n, Instruction)]

    def effective(self) -> list[Instruction]:
        """Instructions Ollama would act on: known keyword, valid role, closed value."""
        return [
            i
            for i in self.instructions
            if i.known
            and i.value is not None
            and not (i.keyword == "MESSAGE" and i.name not in MESSAGE_ROLES)
        ]

    def find(self, keyword: str, name: str | None = None) -> list[Instruction]:
        """Effective instructions with ``keyword`` (any case) and, if given, PARAMETER/role name."""
        kw = keyword.upper()
        return [i for i in self.effective() if i.keyword == kw and (name is None or i.name == name)]

    def get(self, keyword: str) -> str | None:
        """The value that wins for a single-valued instruction (the last one), else None."""
        found = self.find(keyword)
        return found[-1].value if found else None

    @property
    def from_(self) -> str | None:
        """The base model (last ``FROM``)."""
        return self.get("FROM")

    @property
    def template(self) -> str | None:
        """The effective ``TEMPLATE``."""
        return self.get("TEMPLATE")

    @property
    def system(self) -> str | None:
        """The effective ``SYSTEM``."""
        return self.get("SYSTEM")

    def parameters(self) -> list[tuple[str, str]]:
        """Every ``PARAMETER`` as (name, raw value), in order."""
        return [(i.name or "", i.value or "") for i in self.find("PARAMETER")]

    def messages(self) -> list[tuple[str, str]]:
        """Every ``MESSAGE`` as (role, content), in order."""
        return [(i.name or "", i.value or "") for i in self.find("MESSAGE")]

    # -- edits -------------------------------------------------------------------------------

    def _newline(self) -> str:
        return "\r\n" if "\r\n" in self._text else "\n"

    def _splice(self, start: int, end: int, replacement: str) -> None:
        self._set_text(self._text[:start] + replacement + self._text[end:])

    def _replace_value(self, inst: Instruction, value: str) -> None:
        region = self._text[inst.value_start : inst.end]
        lead = len(region) - len(region.lstrip(" \t"))
        encoded = encode_value(value, inst.quote)
        self._splice(inst.value_start + lead, inst.end, encoded)

    def _insert_after(self, anchor: Instruction | None, line: str) -> None:
        nl = self._newline()
        if anchor is not None:
            self._splice(anchor.end, anchor.end, nl + line)
            return
        if any(not i.terminated for i in self.instructions):
            raise DiagnosticError(
                [
                    Diagnostic(
                        1,
                        1,
                        "error",
                        "close the unterminated string first: anything added after it would "
                        "become part of it",
                        "unterminated-string",
                    )
                ]
            )
        text = self._text
        sep = "" if text == "" or text.endswith(("\n", "\r")) else nl
        self._splice(len(text), len(text), sep + line + (nl if text == "" else ""))

    def _last(self, *keywords: str) -> Instruction | None:
        found = [i for i in self.effective() if i.keyword in keywords]
        return found[-1] if found else None

    def _set_single(self, keyword: str, value: str, anchors: Sequence[str]) -> None:
        existing = self.find(keyword)
        if existing:
            self._replace_value(existing[-1], value)
            return
        anchor = self._last(*anchors) if anchors else None
        self._insert_after(anchor, f"{keyword} {encode_value(value)}")

    def set_from(self, model: str) -> None:
        """Set the base model: rewrite the last ``FROM`` or add one before the first instruction."""
        existing = self.find("FROM")
        if existing:
            self._replace_value(existing[-1], model)
            return
        line = f"FROM {encode_value(model)}"
        first = self.instructions[0] if self.instructions else None
        if first is not None:
            self._splice(first.start, first.start, line + self._newline())
        else:
            self._insert_after(None, line)

    def set_template(self, template: str) -> None:
        """Set ``TEMPLATE`` (the effective one, else a new one after ``FROM``)."""
        self._set_single("TEMPLATE", template, ("FROM",))

    def set_system(self, system: str) -> None:
        """Set ``SYSTEM`` (the effective one, else a new one after ``TEMPLATE``/``FROM``)."""
        self._set_single("SYSTEM", system, ("FROM", "TEMPLATE"))

    def set_parameter(self, name: str, value: str | int | float | bool | Sequence[str]) -> None:
        """Set a PARAMETER, checked against Ollama's table; ``stop`` takes a list of strings.

        A single-valued parameter rewrites its last occurrence (the one that wins) or is added
        after the last PARAMETER; ``stop`` rewrites the existing stop lines in place, adding or
        removing lines to match the list.

        Raises:
            DiagnosticError: unknown or deprecated name, a value of the wrong type, or a value
                the file format cannot carry.
        """
        kind = PARAMETER_TYPES.get(name)
        if kind is None:
            hint = _did_you_mean(name)
            raise _error(f"unknown parameter {name!r}{hint}", "unknown-parameter")
        if kind == "string_list":
            if isinstance(value, str):
                values: list[object] = [value]
            elif isinstance(value, Sequence):
                values = list(value)
            else:
                values = [value]
            if not all(isinstance(v, str) for v in values):
                raise _error("stop takes strings", "invalid-value")
            self._set_stop([str(v) for v in values])
            return
        if not isinstance(value, str | int | float | bool):
            raise _error(f"{name} takes one {kind} value", "invalid-value")
        text = format_parameter_value(value)
        _typed, err = convert_parameter(name, text)
        if err is not None:
            raise _error(err, "invalid-value")
        existing = self.find("PARAMETER", name)
        if existing:
            self._replace_value(existing[-1], text)
            return
        anchor = self._last("PARAMETER") or self._last("FROM", "TEMPLATE", "SYSTEM")
        self._insert_after(anchor, f"PARAMETER {name} {encode_value(text)}")

    def _set_stop(self, values: list[str]) -> None:
        for v in values:
            encode_value(v, QUOTE)  # fail before touching anything
        existing = self.find("PARAMETER", "stop")
        for j in range(min(len(existing), len(values))):
            self._replace_value(self.find("PARAMETER", "stop")[j], values[j])
        while len(self.find("PARAMETER", "stop")) > len(values):
            self._remove_instruction(self.find("PARAMETER", "stop")[-1])
        for v in values[len(existing) :]:
            current = self.find("PARAMETER", "stop")
            anchor = (
                current[-1]
                if current
                else self._last("PARAMETER") or self._last("FROM", "TEMPLATE", "SYSTEM")
            )
            self._insert_after(anchor, f"PARAMETER stop {encode_value(v, QUOTE)}")

    def remove(self, keyword: str, name: str | None = None) -> int:
        """Remove every effective ``keyword`` instruction (with that PARAMETER name or role).

        Each removed instruction takes its own line with it. Returns how many were removed.
        """
        count = 0
        while True:
            found = self.find(keyword, name)
            if not found:
                return count
            self._remove_instruction(found[-1])
            count += 1

    def _remove_instruction(self, inst: Instruction) -> None:
        text = self._text
        start, end = inst.start, inst.end
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        if text.startswith("\r\n", end):
            end += 2
        elif end < len(text) and text[end] in "\r\n":
            end += 1
        elif start > 0 and text[start - 1] in "\r\n":
            start -= 1
            if text[start] == "\n" and start > 0 and text[start - 1] == "\r":
                start -= 1
        self._splice(start, end, "")


def _error(message: str, code: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(1, 1, "error", message, code)])


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), list(PARAMETER_TYPES), n=1, cutoff=0.75)
    if not close and name.lower() in PARAMETER_TYPES:
        close = [name.lower()]
    return f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""


def parse(text: str) -> Modelfile:
    """Parse ``text`` into a lossless tree; never raises. Syntax errors are in ``.diagnostics``."""
    return Modelfile(text)


def serialize(mf: Modelfile) -> str:
    """The source text, rebuilt from the nodes (equal to the parsed text, byte for byte)."""
    return "".join(n.text for n in mf.nodes)


def decode_bytes(data: bytes) -> str:
    """Decode a Modelfile's bytes as Ollama does: UTF-16 with a BOM, else UTF-8 (bad bytes → U+FFFD).

    A UTF-8 byte-order mark is kept as U+FEFF so that saving writes it back.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "\ufeff" + data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Validation


def validate(mf: Modelfile) -> list[Diagnostic]:
    """Every problem ``ollama create`` would report, plus warnings, with line and column.

    Errors: syntax (unknown instruction, bad role, unterminated quote, no FROM), unknown
    PARAMETER, a value of the wrong type, an invalid REQUIRES. Warnings: deprecated parameters
    (ignored by Ollama), a single-valued instruction given twice (the last wins), a TEMPLATE whose
    ``{{``/``}}`` do not pair up.
    """
    index = LineIndex(mf.text)
    diags = list(mf.diagnostics)
    seen: dict[str, Instruction] = {}
    for inst in mf.effective():
        key = inst.keyword.lower()
        value = inst.value or ""
        name_end = (inst.name_start or 0) + len(inst.name or "")
        if key == "parameter":
            pname = inst.name or ""
            if pname in DEPRECATED_PARAMETERS:
                diags.append(
                    index.diagnostic(
                        inst.name_start or inst.start,
                        name_end,
                        "warning",
                        f"parameter {pname} is deprecated; Ollama ignores it",
                        "deprecated-parameter",
                    )
                )
                continue
            typed, err = convert_parameter(pname, value)
            if err is not None and pname not in PARAMETER_TYPES:
                diags.append(
                    index.diagnostic(
                        inst.name_start or inst.start,
                        name_end,
                        "error",
                        err + _did_you_mean(pname),
                        "unknown-parameter",
                    )
                )
                continue
            vstart = _value_offset(mf.text, inst)
            if err is not None:
                hint = " (# starts a comment only at the start of a line)" if " #" in value else ""
                diags.append(
                    index.diagnostic(vstart, inst.end, "error", err + hint, "invalid-value")
                )
            elif isinstance(typed, float) and not math.isfinite(typed):
                diags.append(
                    index.diagnostic(
                        vstart,
                        inst.end,
                        "warning",
                        f"{pname} is {value}; Ollama cannot send a non-finite number to the model",
                        "invalid-value",
                    )
                )
            if pname != "stop":
                key = f"parameter {pname}"
        elif key == "requires" and not is_valid_requires(value):
            diags.append(
                index.diagnostic(
                    _value_offset(mf.text, inst),
                    inst.end,
                    "error",
                    "requires must be a valid semver (e.g. 0.14.0)",
                    "invalid-requires",
                )
            )
        elif key == "template":
            diags.extend(_check_template_delims(mf.text, inst, index))
        if key in SINGLE_VALUED or key.startswith("parameter "):
            if key in seen:
                prev = seen[key]
                line, _col = index.position(prev.start)
                what = key.split(" ", 1)[1] if key.startswith("parameter ") else key.upper()
                diags.append(
                    index.diagnostic(
                        inst.start,
                        inst.start + len(inst.keyword_raw),
                        "warning",
                        f"{what} is set again (first on line {line}); the last one wins",
                        "duplicate",
                    )
                )
            seen[key] = inst
    return sort_diagnostics(diags)


def _value_offset(text: str, inst: Instruction) -> int:
    i = inst.value_start
    while i < inst.end and text[i] in " \t":
        i += 1
    return i


def _check_template_delims(text: str, inst: Instruction, index: LineIndex) -> list[Diagnostic]:
    value = inst.value or ""
    depth_ok = True
    pos = 0
    while True:
        o = value.find("{{", pos)
        if o < 0:
            break
        c = value.find("}}", o + 2)
        if c < 0:
            depth_ok = False
            break
        pos = c + 2
    if depth_ok:
        return []
    return [
        index.diagnostic(
            _value_offset(text, inst),
            inst.end,
            "error",
            "TEMPLATE has a {{ without a matching }} (Ollama answers: template error)",
            "template-syntax",
        )
    ]


def to_create_fields(mf: Modelfile) -> CreateFields:
    """The ``/api/create`` fields for ``mf``, built as Ollama's ``CreateRequest`` builds them.

    Raises:
        DiagnosticError: ``validate`` found an error.
    """
    diags = validate(mf)
    if has_errors(diags):
        raise DiagnosticError([d for d in diags if d.severity == "error"])
    from_: str | None = None
    template = system = renderer = parser = requires = None
    licenses: list[str] = []
    params: dict[str, Any] = {}
    messages: list[dict[str, str]] = []
    adapters: list[str] = []
    drafts: list[str] = []
    for inst in mf.effective():
        value = inst.value or ""
        key = inst.keyword
        if key == "FROM":
            from_ = value
        elif key == "TEMPLATE":
            template = value
        elif key == "SYSTEM":
            system = value
        elif key == "LICENSE":
            licenses.append(value)
        elif key == "RENDERER":
            renderer = value
        elif key == "PARSER":
            parser = value
        elif key == "REQUIRES":
            requires = value[1:] if value.startswith("v") else value
        elif key == "MESSAGE":
            messages.append({"role": inst.name or "", "content": value})
        elif key == "ADAPTER":
            adapters = [value]  # Ollama keeps only the last ADAPTER
        elif key == "DRAFT":
            drafts.append(value)
        elif key == "PARAMETER":
            pname = inst.name or ""
            if pname in DEPRECATED_PARAMETERS:
                continue
            typed, _err = convert_parameter(pname, value)
            if pname == "stop":
                params.setdefault("stop", []).append(typed)
            else:
                params[pname] = typed
    return CreateFields(
        from_=from_,
        template=template,
        system=system,
        license=licenses,
        parameters=params,
        messages=messages,
        adapters=adapters,
        drafts=drafts,
        renderer=renderer,
        parser=parser,
        requires=requires,
    )


def render_modelfile(
    from_: str,
    *,
    template: str | None = None,
    system: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    messages: Iterable[tuple[str, str]] = (),
    header: str = "",
) -> str:
    """Write a new Modelfile (FROM, TEMPLATE, SYSTEM, PARAMETERs, MESSAGEs) that parses back.

    Raises:
        DiagnosticError: a value the format cannot carry, or an unknown parameter.
    """
    lines = [header.rstrip("\n")] if header else []
    lines.append(f"FROM {encode_value(from_)}")
    if template is not None:
        lines.append(f"TEMPLATE {encode_value(template, TRIPLE)}")
    if system is not None:
        lines.append(f"SYSTEM {encode_value(system)}")
    for name, value in (parameters or {}).items():
        if name not in PARAMETER_TYPES:
            raise _error(f"unknown parameter {name!r}", "unknown-parameter")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            lines.append(
                f"PARAMETER {name} {encode_value(format_parameter_value(v), QUOTE if name == 'stop' else '')}"
            )
    for role, content in messages:
        if role not in MESSAGE_ROLES:
            raise _error(INVALID_ROLE, "invalid-role")
        lines.append(f"MESSAGE {role} {encode_value(content)}")
    return "\n".join(lines) + "\n"
