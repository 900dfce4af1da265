"""Cutting Markdown where a new document may start (for drawing long replies in segments), and
finding its code blocks."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
_FENCE_LINE = re.compile(r"^ {0,3}(```|~~~)", re.M)


def block_boundary(written: str, text: str) -> int | None:
    """Where in ``text`` a new Markdown document may start, after ``written`` (the text so far).

    That is just after a blank line (``\\n\\n``) that is not inside a fenced code block; the blank
    line may straddle the two pieces. Returns an index into ``text``, or None when there is none.
    """
    joined = written + text
    pos = joined.find("\n\n", max(0, len(written) - 1))
    while pos != -1:
        cut = pos + 2
        if len(_FENCE_LINE.findall(joined, 0, cut)) % 2 == 0:
            return cut - len(written)
        pos = joined.find("\n\n", cut)
    return None


def split_segments(markdown: str, size: int) -> list[str]:
    """Cut ``markdown`` into pieces of at least ``size`` characters at :func:`block_boundary`s."""
    pieces: list[str] = []
    start = 0
    while len(markdown) - start > size:
        cut = block_boundary(markdown[start : start + size], markdown[start + size :])
        if cut is None:
            break
        end = start + size + cut
        pieces.append(markdown[start:end])
        start = end
    pieces.append(markdown[start:])
    return pieces


def tail_from_block(markdown: str, limit: int) -> int:
    """Where to start showing ``markdown`` so that at most about ``limit`` characters are shown,
    cut at a block boundary (never inside a code fence); 0 when it all fits.

    Falls back to a line boundary, then to the plain cut, when no block boundary is near.
    """
    if len(markdown) <= limit:
        return 0
    start = len(markdown) - limit
    before = len(_FENCE_LINE.findall(markdown, 0, start))
    pos = markdown.find("\n\n", start)
    while pos != -1 and pos < len(markdown) - 2:
        cut = pos + 2
        if (before + len(_FENCE_LINE.findall(markdown, start, cut))) % 2 == 0:
            return cut
        pos = markdown.find("\n\n", cut)
    line = markdown.find("\n", start)
    return line + 1 if line != -1 else start


def code_blocks(markdown: str) -> list[str]:
    """The contents of fenced code blocks in ``markdown``, in order."""
    return [m.group(2) for m in _FENCE.finditer(markdown)]
