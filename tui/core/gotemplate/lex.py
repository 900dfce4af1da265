"""The lexer of Go's ``text/template``, state for state.

Trim markers work exactly as in Go: ``{{-`` trims the white space (space, tab, CR, LF) before the
action only when a white-space character follows the ``-``, and ``-}}`` only when one precedes
it, so ``{{-3}}`` is the number -3. Comments must start right after ``{{`` (or ``{{- ``) and end
right before ``}}`` (or `` -}}``). Actions may span lines (Go 1.16+).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .text import go_quote, rune_repr

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"


class T(enum.IntEnum):
    """Item types, in Go's order (keywords after ``KEYWORD``)."""

    ERROR = 0
    BOOL = enum.auto()
    CHAR = enum.auto()
    CHAR_CONSTANT = enum.auto()
    COMMENT = enum.auto()
    COMPLEX = enum.auto()
    ASSIGN = enum.auto()
    DECLARE = enum.auto()
    EOF = enum.auto()
    FIELD = enum.auto()
    IDENTIFIER = enum.auto()
    LEFT_DELIM = enum.auto()
    LEFT_PAREN = enum.auto()
    NUMBER = enum.auto()
    PIPE = enum.auto()
    RAW_STRING = enum.auto()
    RIGHT_DELIM = enum.auto()
    RIGHT_PAREN = enum.auto()
    SPACE = enum.auto()
    STRING = enum.auto()
    TEXT = enum.auto()
    VARIABLE = enum.auto()
    KEYWORD = enum.auto()
    BLOCK = enum.auto()
    BREAK = enum.auto()
    CONTINUE = enum.auto()
    DOT = enum.auto()
    DEFINE = enum.auto()
    ELSE = enum.auto()
    END = enum.auto()
    IF = enum.auto()
    NIL = enum.auto()
    RANGE = enum.auto()
    TEMPLATE = enum.auto()
    WITH = enum.auto()


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "range": T.RANGE,
    "nil": T.NIL,
    "template": T.TEMPLATE,
    "with": T.WITH,
}


class Item(NamedTuple):
    """One token: its type, offset in the source, text and 1-based line."""

    typ: T
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == T.EOF:
            return "EOF"
        if self.typ == T.ERROR:
            return self.val
        if self.typ > T.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def is_space(c: str) -> bool:
    return c != "" and c in SPACE_CHARS


def is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _has_left_trim(s: str, i: int) -> bool:
    return s.startswith("-", i) and is_space(s[i + 1 : i + 2])


def _has_right_trim(s: str, i: int) -> bool:
    return is_space(s[i : i + 1]) and s.startswith("-", i + 1)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.items: list[Item] = []

    def line_at(self, pos: int) -> int:
        return 1 + self.s.count("\n", 0, pos)

    def emit(self, typ: T, start: int, end: int) -> None:
        self.items.append(Item(typ, start, self.s[start:end], self.line_at(start)))

    def error(self, start: int, msg: str) -> None:
        self.items.append(Item(T.ERROR, start, msg, self.line_at(start)))

    def at_right_delim(self, i: int) -> tuple[bool, bool]:
        if _has_right_trim(self.s, i) and self.s.startswith(RIGHT_DELIM, i + 2):
            return True, True
        if self.s.startswith(RIGHT_DELIM, i):
            return True, False
        return False, False

    def at_terminator(self, i: int) -> bool:
        if i >= self.n:
            return True
        c = self.s[i]
        if is_space(c) or c in ".,|:)(":
            return True
        return self.s.startswith(RIGHT_DELIM, i)

    def left_trim_end(self, i: int) -> int:
        while i < self.n and self.s[i] in SPACE_CHARS:
            i += 1
        return i

    def run(self) -> list[Item]:
        s = self.s
        pos = 0
        while True:
            x = s.find(LEFT_DELIM, pos)
            if x < 0:
                if pos < self.n:
                    self.emit(T.TEXT, pos, self.n)
                self.items.append(Item(T.EOF, self.n, "", self.line_at(self.n)))
                return self.items
            end = x
            if _has_left_trim(s, x + 2):
                end = pos + len(s[pos:x].rstrip(SPACE_CHARS))
            if end > pos:
                self.emit(T.TEXT, pos, end)
            p = x + 2
            after = 2 if _has_left_trim(s, p) else 0
            if s.startswith(LEFT_COMMENT, p + after):
                start = p + after
                i = s.find(RIGHT_COMMENT, start + 2)
                if i < 0:
                    self.error(start, "unclosed comment")
                    return self.items
                q = i + 2
                delim, trim = self.at_right_delim(q)
                if not delim:
                    self.error(start, "comment ends before closing delimiter")
                    return self.items
                q += (2 if trim else 0) + len(RIGHT_DELIM)
                pos = self.left_trim_end(q) if trim else q
                continue
            self.emit(T.LEFT_DELIM, x, p)
            nxt = self.inside_action(p + after)
            if nxt < 0:
                return self.items
            pos = nxt

    def inside_action(self, pos: int) -> int:
        """Lex one action from ``pos``; return where text resumes, or -1 after an error."""
        s = self.s
        depth = 0
        while True:
            delim, trim = self.at_right_delim(pos)
            if delim:
                if depth == 0:
                    if trim:
                        pos += 2
                    self.emit(T.RIGHT_DELIM, pos, pos + 2)
                    pos += 2
                    return self.left_trim_end(pos) if trim else pos
                self.error(pos, "unclosed left paren")
                return -1
            if pos >= self.n:
                self.error(pos, "unclosed action")
                return -1
            c = s[pos]
            start = pos
            if is_space(c):
                while pos < self.n and is_space(s[pos]):
                    pos += 1
                if _has_right_trim(s, pos - 1) and s.startswith(RIGHT_DELIM, pos + 1):
                    pos -= 1
                if pos > start:
                    self.emit(T.SPACE, start, pos)
                continue
            if c == "=":
                self.emit(T.ASSIGN, pos, pos + 1)
                pos += 1
            elif c == ":":
                if not s.startswith("=", pos + 1):
                    self.error(start, "expected :=")
                    return -1
                self.emit(T.DECLARE, pos, pos + 2)
                pos += 2
            elif c == "|":
                self.emit(T.PIPE, pos, pos + 1)
                pos += 1
            elif c == '"':
                pos = self.quote(pos)
            elif c == "`":
                j = s.find("`", pos + 1)
                if j < 0:
                    self.error(start, "unterminated raw quoted string")
                    return -1
                self.emit(T.RAW_STRING, pos, j + 1)
                pos = j + 1
            elif c == "$":
                pos = self.field_or_variable(pos, T.VARIABLE)
            elif c == "'":
                pos = self.char_constant(pos)
            elif c == "." and not (pos + 1 < self.n and "0" <= s[pos + 1] <= "9"):
                pos = self.field_or_variable(pos, T.FIELD)
            elif c in "+-." or "0" <= c <= "9":
                pos = self.number(pos)
            elif is_alnum(c):
                pos = self.identifier(pos)
            elif c == "(":
                depth += 1
                self.emit(T.LEFT_PAREN, pos, pos + 1)
                pos += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    self.error(start, "unexpected right paren")
                    return -1
                self.emit(T.RIGHT_PAREN, pos, pos + 1)
                pos += 1
            elif c.isascii() and c.isprintable():
                self.emit(T.CHAR, pos, pos + 1)
                pos += 1
            else:
                self.error(start, f"unrecognized character in action: {rune_repr(c)}")
                return -1
            if pos < 0:
                return -1

    def quote(self, pos: int) -> int:
        s = self.s
        i = pos + 1
        while True:
            c = s[i : i + 1]
            if c == "\\":
                nxt = s[i + 1 : i + 2]
                if nxt in ("", "\n"):
                    break
                i += 2
                continue
            if c in ("", "\n"):
                break
            if c == '"':
                self.emit(T.STRING, pos, i + 1)
                return i + 1
            i += 1
        self.error(pos, "unterminated quoted string")
        return -1

    def char_constant(self, pos: int) -> int:
        s = self.s
        i = pos + 1
        while True:
            c = s[i : i + 1]
            if c == "\\":
                nxt = s[i + 1 : i + 2]
                if nxt in ("", "\n"):
                    break
                i += 2
                continue
            if c in ("", "\n"):
                break
            if c == "'":
                self.emit(T.CHAR_CONSTANT, pos, i + 1)
                return i + 1
            i += 1
        self.error(pos, "unterminated character constant")
        return -1

    def field_or_variable(self, pos: int, typ: T) -> int:
        i = pos + 1
        if self.at_terminator(i):
            self.emit(T.VARIABLE if typ == T.VARIABLE else T.DOT, pos, i)
            return i
        while i < self.n and is_alnum(self.s[i]):
            i += 1
        if not self.at_terminator(i):
            self.error(pos, f"bad character {rune_repr(self.s[i])}")
            return -1
        self.emit(typ, pos, i)
        return i

    def identifier(self, pos: int) -> int:
        i = pos
        while i < self.n and is_alnum(self.s[i]):
            i += 1
        if not self.at_terminator(i):
            self.error(pos, f"bad character {rune_repr(self.s[i])}")
            return -1
        word = self.s[pos:i]
        if word in KEYWORDS:
            self.emit(KEYWORDS[word], pos, i)
        elif word in ("true", "false"):
            self.emit(T.BOOL, pos, i)
        else:
            self.emit(T.IDENTIFIER, pos, i)
        return i

    def scan_number(self, i: int) -> tuple[bool, int]:
        s = self.s

        def accept(i: int, valid: str) -> tuple[bool, int]:
            if i < self.n and s[i] in valid:
                return True, i + 1
            return False, i

        def accept_run(i: int, valid: str) -> int:
            while i < self.n and s[i] in valid:
                i += 1
            return i

        _, i = accept(i, "+-")
        digits = "0123456789_"
        ok, i = accept(i, "0")
        if ok:
            for marker, ds in (
                ("xX", "0123456789abcdefABCDEF_"),
                ("oO", "01234567_"),
                ("bB", "01_"),
            ):
                hit, i = accept(i, marker)
                if hit:
                    digits = ds
                    break
        i = accept_run(i, digits)
        ok, i = accept(i, ".")
        if ok:
            i = accept_run(i, digits)
        if len(digits) == 11:
            ok, i = accept(i, "eE")
            if ok:
                _, i = accept(i, "+-")
                i = accept_run(i, "0123456789_")
        if len(digits) == 23:
            ok, i = accept(i, "pP")
            if ok:
                _, i = accept(i, "+-")
                i = accept_run(i, "0123456789_")
        _, i = accept(i, "i")
        if i < self.n and is_alnum(s[i]):
            return False, i + 1
        return True, i

    def number(self, pos: int) -> int:
        ok, i = self.scan_number(pos)
        if not ok:
            self.error(pos, f"bad number syntax: {go_quote(self.s[pos:i])}")
            return -1
        if i < self.n and self.s[i] in "+-":
            ok, j = self.scan_number(i)
            if not ok or self.s[j - 1] != "i":
                self.error(pos, f"bad number syntax: {go_quote(self.s[pos:j])}")
                return -1
            self.emit(T.COMPLEX, pos, j)
            return j
        self.emit(T.NUMBER, pos, i)
        return i


def lex(text: str) -> list[Item]:
    """Tokenize ``text``; the list ends with an ``EOF`` or an ``ERROR`` item."""
    return _Lexer(text).run()
