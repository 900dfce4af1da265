"""A document's bytes and back: decoded as Ollama reads them, saved with unedited bytes untouched.

Ollama reads a Modelfile as UTF-16 when it starts with a byte-order mark, else as UTF-8 with every
byte that is not UTF-8 read as U+FFFD. slmdeck shows and checks the same text, but a save must not
rewrite bytes the user never edited. So:

- :func:`decode_bytes` keeps each undecodable byte as a lone surrogate (Python's
  ``surrogateescape``: byte ``0xNN`` becomes U+DCNN, one character for one byte);
- :func:`shown` turns those into U+FFFD, for the editor and the parser (same length, so offsets,
  lines and columns agree between the two);
- :class:`ByteKeeper` remembers the lines that held such bytes and :meth:`ByteKeeper.restore` puts
  them back into edited text before it is saved: a line the user did not touch gets its bytes back
  exactly, an edited line gets back those before and after the part that changed;
- :func:`undecodable_diagnostics` says where the first such byte is (``slmdeck check`` and the
  editor's problems list).

Saving then encodes with ``surrogateescape`` (:func:`encode_text`), which writes each surrogate as
its original byte. Pure Python; nothing here imports Textual.
"""

from __future__ import annotations

import difflib
import re

from tui.core.diagnostics import Diagnostic, LineIndex

_ESCAPED = re.compile("[\udc80-\udcff]")
_NEWLINE = re.compile(r"(\r\n|\r|\n)")
REPLACEMENT = "\ufffd"
MAX_CANDIDATES = 256
"""An edited line is matched against at most this many original lines that held bad bytes."""
SIMILAR = 0.6
"""How alike (difflib's ratio) an edited line must be to an original one to get its bytes back."""
MATCH_LIMIT = 4_000
"""Lines longer than this are matched by their common start and end only (difflib is O(n²))."""


def decode_bytes(data: bytes) -> str:
    """Decode a Modelfile's bytes as Ollama does: UTF-16 with a BOM, else UTF-8.

    A byte that is not UTF-8 stays in the text as a lone surrogate (U+DC80..U+DCFF), so that
    :func:`encode_text` writes it back unchanged; show the text with :func:`shown`. A UTF-8
    byte-order mark is kept as U+FEFF so that saving writes it back. (UTF-16 errors become
    U+FFFD: UTF-16 has no byte-for-byte escape.)
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "\ufeff" + data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="surrogateescape")


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of ``text``, each escaped byte (U+DC80..U+DCFF) written back as itself."""
    return text.encode("utf-8", errors="surrogateescape")


def has_escapes(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (as :func:`decode_bytes` keeps them)."""
    return not text.isascii() and _ESCAPED.search(text) is not None


def shown(text: str) -> str:
    """``text`` with every escaped byte as U+FFFD, as Ollama reads it (same length)."""
    if text.isascii():
        return text
    return _ESCAPED.sub(REPLACEMENT, text)


def undecodable_diagnostics(text: str) -> list[Diagnostic]:
    """A warning at the first byte of ``text`` that is not UTF-8 (none when every byte is).

    ``text`` is as :func:`decode_bytes` (or :meth:`ByteKeeper.restore`) gives it.
    """
    if text.isascii():
        return []
    found = _ESCAPED.search(text)
    if found is None:
        return []
    count = len(_ESCAPED.findall(text))
    index = LineIndex(text)
    line, col = index.position(found.start())
    byte = ord(found.group()) - 0xDC00
    more = f" (and {count - 1} more)" if count > 1 else ""
    message = (
        f"byte 0x{byte:02X} is not UTF-8{more}: shown as \ufffd, which is what Ollama reads; "
        "saving keeps the original bytes wherever you do not edit them"
    )
    return [Diagnostic(line, col, "warning", message, "encoding", line, col + 1)]


def _split(text: str) -> list[str]:
    """Lines and line breaks, alternating: ``[line, break, line, …, line]``."""
    return _NEWLINE.split(text)


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b`` (binary search: C-speed compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the common suffix of ``a`` and ``b``, at most ``limit``."""
    lo, hi = 0, min(len(a), len(b), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class ByteKeeper:
    """The lines of a loaded document that held bytes that are not UTF-8, to restore on save.

    Args:
        raw: The text as :func:`decode_bytes` gave it (escaped bytes included).
    """

    def __init__(self, raw: str) -> None:
        self._exact: dict[str, str] = {}
        """Shown line -> original line, for every line with an escaped byte."""
        if has_escapes(raw):
            for piece in _split(raw)[::2]:
                if has_escapes(piece):
                    self._exact.setdefault(shown(piece), piece)

    @property
    def active(self) -> bool:
        """Whether there is anything to restore."""
        return bool(self._exact)

    def restore(self, text: str) -> str:
        """``text`` (as shown, U+FFFD for bad bytes) with the original bytes put back.

        A line equal to an original one gets that line's bytes; an edited line gets the bytes in
        its unchanged start and end (matched against the closest original line). A U+FFFD the
        user typed, or one inside an edited part, stays U+FFFD.
        """
        if not self._exact or REPLACEMENT not in text:
            return text
        pieces = _split(text)
        for i in range(0, len(pieces), 2):
            piece = pieces[i]
            if REPLACEMENT not in piece:
                continue
            original = self._exact.get(piece)
            pieces[i] = original if original is not None else self._partial(piece)
        return "".join(pieces)

    def _partial(self, piece: str) -> str:
        """``piece`` with the bytes of the original line it matches best, where they match."""
        best: tuple[int, str, list[tuple[int, int, int]]] | None = None
        for n, (shown_line, raw_line) in enumerate(self._exact.items()):
            if n >= MAX_CANDIDATES:
                break
            blocks = _matching_blocks(shown_line, piece)
            score = sum(size for _a, _b, size in blocks)
            # difflib's "close match": a line that merely shares a few characters is not it.
            close = 2 * score >= SIMILAR * (len(shown_line) + len(piece))
            if close and (best is None or score > best[0]):
                best = (score, raw_line, blocks)
        if best is None:
            return piece
        _score, raw_line, blocks = best
        out = list(piece)
        for a, b, size in blocks:
            out[b : b + size] = raw_line[a : a + size]
        return "".join(out)


def _matching_blocks(original: str, edited: str) -> list[tuple[int, int, int]]:
    """(start in original, start in edited, length) of the parts the two have in common.

    Lines up to :data:`MATCH_LIMIT` characters are matched with difflib (an edit in the middle
    keeps both sides); longer ones by their common start and end only (linear).
    """
    if len(original) <= MATCH_LIMIT and len(edited) <= MATCH_LIMIT:
        matcher = difflib.SequenceMatcher(None, original, edited, autojunk=False)
        return [(a, b, size) for a, b, size in matcher.get_matching_blocks() if size]
    prefix = _common_prefix(original, edited)
    suffix = _common_suffix(original, edited, min(len(original), len(edited)) - prefix)
    blocks = [(0, 0, prefix)] if prefix else []
    if suffix:
        blocks.append((len(original) - suffix, len(edited) - suffix, suffix))
    return blocks
