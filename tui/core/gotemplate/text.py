"""Go's string quoting and unquoting (``strconv.Quote``/``Unquote``), as text/template uses them."""

from __future__ import annotations

import unicodedata

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _is_print(c: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if c == " ":
        return True
    return unicodedata.category(c)[0] in "LMNPS"


def go_quote(s: str, quote: str = '"') -> str:
    """``strconv.Quote`` (or ``QuoteRune`` with ``quote="'"``)."""
    out = [quote]
    for c in s:
        if c == quote or c == "\\":
            out.append("\\" + c)
        elif c in _SIMPLE_ESCAPES and c != '"':
            out.append(_SIMPLE_ESCAPES[c])
        elif _is_print(c):
            out.append(c)
        else:
            cp = ord(c)
            if 0xDC80 <= cp <= 0xDCFF:  # a raw byte kept by surrogateescape
                out.append(f"\\x{cp - 0xDC00:02x}")
            elif cp < 0x80:
                out.append(f"\\x{cp:02x}")
            elif cp < 0x10000:
                out.append(f"\\u{cp:04x}")
            else:
                out.append(f"\\U{cp:08x}")
    out.append(quote)
    return "".join(out)


def rune_repr(c: str) -> str:
    """Go's ``%#U``: ``U+0041 'A'`` (the quoted form only when printable)."""
    cp = ord(c)
    base = f"U+{cp:04X}"
    return f"{base} '{c}'" if _is_print(c) else base


class UnquoteError(ValueError):
    """``strconv.Unquote`` failed: Go says only ``invalid syntax``."""


_ESCAPE_VALUES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _decode(units: list[int | str]) -> str:
    """Join characters and raw bytes; bytes decode as UTF-8, invalid ones kept by surrogateescape."""
    out: list[str] = []
    pending = bytearray()
    for u in units:
        if isinstance(u, int):
            pending.append(u)
            continue
        if pending:
            out.append(pending.decode("utf-8", "surrogateescape"))
            pending.clear()
        out.append(u)
    if pending:
        out.append(pending.decode("utf-8", "surrogateescape"))
    return "".join(out)


def go_unquote(lit: str) -> str:
    """``strconv.Unquote`` for a ``"…"`` or `` `…` `` literal."""
    if len(lit) < 2 or lit[0] != lit[-1]:
        raise UnquoteError("invalid syntax")
    body = lit[1:-1]
    if lit[0] == "`":
        if "`" in body:
            raise UnquoteError("invalid syntax")
        return body.replace("\r", "")
    if lit[0] != '"':
        raise UnquoteError("invalid syntax")
    units, i = _unescape(body, '"')
    if i != len(body):
        raise UnquoteError("invalid syntax")
    return _decode(units)


def unquote_char(lit: str) -> int:
    """The value of a Go character constant such as ``'a'`` or ``'\\n'``."""
    if len(lit) < 3 or lit[0] != "'" or lit[-1] != "'":
        raise UnquoteError("invalid syntax")
    units, i = _unescape(lit[1:-1], "'")
    if i != len(lit) - 2 or len(units) != 1:
        raise UnquoteError("invalid syntax")
    u = units[0]
    return u if isinstance(u, int) else ord(u)


def _unescape(body: str, quote: str) -> tuple[list[int | str], int]:
    units: list[int | str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == quote or c == "\n":
            raise UnquoteError("invalid syntax")
        if c != "\\":
            units.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise UnquoteError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _ESCAPE_VALUES:
            units.append(chr(_ESCAPE_VALUES[e]))
        elif e == quote:
            units.append(e)
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise UnquoteError("invalid syntax")
            v = int(digits, 16)
            i += width
            if e == "x":
                units.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise UnquoteError("invalid syntax")
                units.append(chr(v))
        elif e in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise UnquoteError("invalid syntax")
            v = int(digits, 8)
            if v > 255:
                raise UnquoteError("invalid syntax")
            i += 2
            units.append(v)
        else:
            raise UnquoteError("invalid syntax")
    return units, i
