"""The one error type of the engine, with Go's wording and a position for editors."""

from __future__ import annotations


class TemplateError(Exception):
    """A parse or execution error.

    ``str(err)`` is what Go prints (``template: :1: unexpected EOF``, or for execution
    ``template: :1:2: executing "" at <.Foo>: …``). ``line`` is 1-based, ``col`` is the 1-based
    character column of the token or node at fault (Go's own message counts bytes from 0).
    ``kind`` is ``"parse"`` or ``"exec"``; ``detail`` is the message without the prefix.
    """

    def __init__(self, message: str, *, line: int, col: int, kind: str, detail: str) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.kind = kind
        self.detail = detail

    def __str__(self) -> str:
        return self.message


def line_col(text: str, pos: int) -> tuple[int, int, int]:
    """Line (1-based), character column (1-based) and Go's byte column (0-based) of ``pos``."""
    pos = max(0, min(pos, len(text)))
    line = 1 + text.count("\n", 0, pos)
    start = text.rfind("\n", 0, pos) + 1
    col = pos - start + 1
    byte_col = len(text[start:pos].encode("utf-8", "surrogateescape"))
    if start == 0:
        # Go's ErrorContext reports the byte offset itself on the first line.
        byte_col = len(text[:pos].encode("utf-8", "surrogateescape"))
    return line, col, byte_col
