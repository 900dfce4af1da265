"""Cutting Markdown where a new document may start (for drawing long replies in segments), and
finding its code blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore

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


_SCAN_CHARS = 1 << 20
"""Characters scanned per regex call over a long text: between calls another thread (the event
loop, when this runs in a worker thread) gets the interpreter."""


def _fence_lines(markdown: str, start: int, end: int) -> int:
    """Fence lines (opening or closing) in ``markdown[start:end]``, ``start`` at a line start."""
    count = 0
    while end - start > _SCAN_CHARS:
        stop = markdown.find("\n", start + _SCAN_CHARS, end)
        if stop == -1:
            break
        count += len(_FENCE_LINE.findall(markdown, start, stop + 1))
        start = stop + 1
    return count + len(_FENCE_LINE.findall(markdown, start, end))


def open_fence(markdown: str) -> str:
    """The opening line (with its newline) of the code fence ``markdown`` ends inside, or ""."""
    fence = ""
    char, size = "", 0
    for m in _FENCE_SCAN.finditer(markdown):
        marks, info = m.group(1), m.group(2)
        if not fence:
            if marks[0] == "`" and "`" in info:
                continue  # not a fence: inline code
            fence, char, size = m.group(0).rstrip("\r") + "\n", marks[0], len(marks)
        elif marks[0] == char and len(marks) >= size and not info.strip():
            fence = ""
    return fence


_FENCE_SCAN = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.M)


def fence_at(markdown: str, end: int, fence: str = "") -> str:
    """The opening line of the fence ``markdown[:end]`` ends inside ("" for none), ``markdown``
    starting inside ``fence``; fence lines counted as :func:`tail_from_block` counts them (by
    parity), at C speed, for a long text (:func:`open_fence` reads each fence, in Python)."""
    inside = (bool(fence) + _fence_lines(markdown, 0, end)) % 2 == 1
    if not inside:
        return ""
    last = None
    for last in _FENCE_SCAN.finditer(markdown, max(0, end - _SCAN_CHARS), end):  # noqa: B007
        pass
    if last is None:
        return fence or "```\n"
    return last.group(0).rstrip("\r") + "\n"


def tail_from_block(markdown: str, limit: int) -> int:
    """Where to start showing ``markdown`` so that at most about ``limit`` characters are shown,
    cut at a block boundary (never inside a code fence); 0 when it all fits.

    Falls back to a line boundary, then to the plain cut, when no block boundary is near. Its
    cost is a scan of the text before the cut, in slices, so a worker thread running it over a
    long reply leaves the event loop its turns.
    """
    if len(markdown) <= limit:
        return 0
    start = len(markdown) - limit
    before = _fence_lines(markdown, 0, start)
    pos = markdown.find("\n\n", start)
    while pos != -1 and pos < len(markdown) - 2:
        cut = pos + 2
        if (before + len(_FENCE_LINE.findall(markdown, start, cut))) % 2 == 0:
            return cut
        pos = markdown.find("\n\n", cut)
    line = markdown.find("\n", start)
    return line + 1 if line != -1 else start


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block of a message."""

    text: str
    language: str = ""
    closed: bool = True
    """False for a block the message ends inside (a reply cut by max_tokens or a stop)."""

    @property
    def line_count(self) -> int:
        return len(self.text.splitlines())


_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$")


def find_code_blocks(markdown: str) -> list[CodeBlock]:
    """The fenced code blocks of ``markdown``, in order, with the last one even when the text
    ends inside it (its fence not closed)."""
    blocks: list[CodeBlock] = []
    lines = markdown.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i].rstrip("\r\n"))
        if opened is None or (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            i += 1
            continue
        fence, language = opened.group(1), opened.group(2).strip().split(" ")[0]
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i].rstrip("\r\n")):
            body.append(lines[i])
            i += 1
        closed = i < len(lines)
        i += 1
        blocks.append(CodeBlock("".join(body), language, closed))
    return blocks


def code_blocks(markdown: str) -> list[str]:
    """The contents of fenced code blocks in ``markdown``, in order (an unclosed last one too)."""
    return [b.text for b in find_code_blocks(markdown)]


def _link_urls(state: StateCore, *, keep_links: bool) -> None:
    """A markdown-it core rule: after each link whose text is not its URL, the URL in brackets,
    as plain text, so it can be read and copied over SSH (a terminal link hides it); the link
    itself is kept (``keep_links``) or becomes its text."""
    from markdown_it.token import Token

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        href = ""
        text: list[str] = []
        for token in block.children:
            if token.type == "link_open":
                href, text = str(token.attrs.get("href", "")), []
                if keep_links:
                    out.append(token)
            elif token.type == "link_close":
                if keep_links:
                    out.append(token)
                shown = "".join(text).strip()
                if href and shown not in (href, href.removeprefix("mailto:")):
                    out.append(Token("text", "", 0, content=f" ({href})"))
                href = ""
            else:
                out.append(token)
                if href and token.type in ("text", "code_inline"):
                    text.append(token.content)
        block.children = out


def chat_parser(*, keep_links: bool) -> MarkdownIt:
    """The Markdown parser for model output, the same for every renderer of a reply.

    HTML is not HTML but text: a model talking about code writes ``<div>`` and ``<T>``, and no
    HTML is rendered in a terminal anyway. A link shows its URL after its text.

    Args:
        keep_links: Keep links as links (Textual's Markdown styles them); else they become text
            (Rich's renderer would write the URL a second time).
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("gfm-like", {"html": False})
    md.core.ruler.push("link_urls", lambda state: _link_urls(state, keep_links=keep_links))
    return md
