"""A reply's text as it streams: pieces kept in blocks, joined only when the whole is asked for.

A reply arrives in pieces of a few characters each. Joining all of them on every save (or every
draw) costs O(n²) over a long reply; keeping each piece as its own ``str`` costs ~50 bytes of
overhead per piece (600 MB for a 50 MB reply of word-sized tokens). :class:`ReplyText` joins
pieces into blocks of :data:`BLOCK_CHARS` as they come, so it holds the text about once, and
:meth:`ReplyText.since` gives what arrived since the last save at the cost of the new text only.
"""

from __future__ import annotations

from tui.core.sanitize import sanitize

BLOCK_CHARS = 64 * 1024
"""Characters of small pieces joined into one block."""


class ReplyText:
    """Text appended in pieces; :meth:`text` joins it (cached until the next append)."""

    __slots__ = ("_blocks", "_joined", "_length", "_pieces", "_pieces_len")

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._pieces: list[str] = []
        self._pieces_len = 0
        self._length = 0
        self._joined: str | None = ""

    def append(self, piece: str) -> None:
        if not piece:
            return
        self._pieces.append(piece)
        self._pieces_len += len(piece)
        self._length += len(piece)
        self._joined = None
        if self._pieces_len >= BLOCK_CHARS:
            self._blocks.append("".join(self._pieces))
            self._pieces.clear()
            self._pieces_len = 0

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def text(self) -> str:
        """The whole text; once joined it is kept as the only copy (until the next append)."""
        if self._joined is None:
            joined = "".join([*self._blocks, *self._pieces])
            self._blocks, self._pieces, self._pieces_len = [joined] if joined else [], [], 0
            self._joined = joined
        return self._joined

    def tail(self, limit: int) -> str:
        """The last ``limit`` characters (all when there are fewer), without joining the rest."""
        if limit <= 0:
            return ""
        parts: list[str] = []
        size = 0
        for part in reversed([*self._blocks, *self._pieces]):
            parts.append(part)
            size += len(part)
            if size >= limit:
                break
        tail = "".join(reversed(parts))
        return tail[-limit:] if len(tail) > limit else tail

    def since(self, start: int) -> str:
        """The text from character ``start`` on (what arrived since a save of ``start``
        characters), at the cost of that text only."""
        return self.tail(self._length - start)

    def __str__(self) -> str:
        return self.text()


SCAN_CHARS = 1 << 20
"""Characters per regex call when a long text is scanned in a worker thread: between calls the
event loop gets the interpreter (one call over 50 MB would keep it ~0.2 s)."""


def sanitize_sliced(text: str) -> str:
    """:func:`~tui.core.sanitize.sanitize` in slices (the same result: it works per character);
    returns ``text`` itself when nothing needed replacing."""
    if len(text) <= SCAN_CHARS:
        return sanitize(text)
    pieces = [text[i : i + SCAN_CHARS] for i in range(0, len(text), SCAN_CHARS)]
    clean = [sanitize(p) for p in pieces]
    if all(a is b for a, b in zip(pieces, clean, strict=True)):
        return text
    return "".join(clean)
