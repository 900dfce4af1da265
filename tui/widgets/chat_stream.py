"""The body of a reply while it streams: Markdown drawn by Rich, repainted one frame per write.

Textual repaints a widget whose size changed twice (once when it is laid out again, once for its
new size) and repaints all of a widget that asks for it, so a reply growing in a widget of
``height: auto`` costs two full repaints of the visible reply per write. This widget instead keeps a
fixed height with blank lines in reserve below the text, grown in large steps, and asks for only
the lines that changed. With the Chat screen scrolling in the same frame, a write costs one frame.

Finished segments of ``segment_chars`` (cut at block boundaries outside code fences, as
:func:`~tui.core.chat.markdown.split_segments` cuts stored replies) are rendered once and kept as lines;
only the growing segment is rendered again on each write, so the cost of a write stays flat
however long the reply grows. Only the last :data:`WINDOW_CHARS` or so are drawn and kept: older
segments are dropped (a line above says how much), and a write bringing more than the window is
cut to its end before anything is rendered, so a 50 MB reply costs the screen what a short one
does. A segment with no block boundary is cut at a line anyway (:data:`HARD_CUT`); one that starts
inside a code fence is rendered with the fence's opening line before it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.core.chat.markdown import (
    block_boundary,
    chat_parser,
    fence_at,
    open_fence,
    tail_from_block,
)

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from rich.markdown import Markdown as RichMarkdown

RESERVE_LINES = 100
"""Blank lines kept below the text at first; when they run out, the reserve grows to as many
lines as the text has (at least this many), so a long reply changes height a few times only."""

WINDOW_CHARS = 20_000
"""Characters of a streaming reply drawn at most (a few screens): when the finished segments
hold more, the oldest go, half of the window at a time, and a line above the text says how much
is not drawn. What is not drawn is not kept here either: the turn holds the whole reply, and copy
and export take it from there. A write bringing more than the window at once (a backend that is
faster than the screen) is cut to its last half window before anything is rendered."""

HARD_CUT = 4
"""A segment with no block boundary (one long line, a long code block) is cut anyway at a line
boundary once it is this many times ``segment_chars`` long, so no write renders more than that."""


def human_chars(count: int) -> str:
    """``count`` characters as a size to read: "1.2 MB" (one byte each, as most are), "34 kB"."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    if count >= 1000:
        return f"{count / 1000:.0f} kB"
    return f"{count} characters"


def rich_markdown(markdown: str) -> RichMarkdown:
    """Rich's Markdown renderable for (sanitized) model output: inline HTML shown as text, each
    link as ``text (url)`` (plain text: following a model's link would send something
    somewhere), as :func:`textual_parser` has them once the reply is complete."""
    # Imported on first use: rich.markdown pulls in Pygments, which the first paint can do without.
    from rich.markdown import Markdown as RichMarkdown

    rendered = RichMarkdown("", code_theme="ansi_dark", hyperlinks=False)
    # Rich parses with its own parser (HTML on, so `<div>` vanishes): parsed again with ours.
    rendered.markup = markdown
    rendered.parsed = _rich_parser().parse(markdown)
    return rendered


@functools.cache
def _rich_parser() -> MarkdownIt:
    return chat_parser(keep_links=False)


def textual_parser() -> MarkdownIt:
    """The parser for Textual's ``Markdown`` widget (``parser_factory``): as Rich's, links kept
    as links (styled) with their URL after them."""
    return _textual_parser()


@functools.cache
def _textual_parser() -> MarkdownIt:
    return chat_parser(keep_links=True)


class StreamingBody(Widget):
    """A streaming reply's text; :meth:`append` adds to it. Only its last
    :data:`WINDOW_CHARS` or so are drawn (and kept)."""

    DEFAULT_CSS = """
    StreamingBody { height: 1; }
    """

    def __init__(
        self,
        *,
        segment_chars: int,
        window_chars: int = WINDOW_CHARS,
        reserve: int = RESERVE_LINES,
        classes: str | None = None,
    ) -> None:
        super().__init__(classes=classes)
        self.segment_chars = segment_chars
        self.window_chars = max(window_chars, 2 * segment_chars)
        self.reserve = max(1, reserve)
        self.frozen: list[str] = []
        """Sources of the finished segments drawn, in order."""
        self._fences: list[str] = []
        """The fence each of them starts inside (its opening line, or "")."""
        self.segment = ""
        """Source of the growing segment."""
        self._fence = ""
        """The fence the growing segment starts inside."""
        self.hidden = 0
        """Characters appended before the first one drawn (neither drawn nor kept)."""
        self.total = 0
        """Characters appended in all."""
        self._frozen_chars = 0
        self._head: list[Strip] = []
        self._frozen_lines: list[Strip] = []
        self._live_lines: list[Strip] = []
        self._width = 0
        self.reserved = 0
        """The widget's height: the text's lines plus blank ones."""
        self.settled = False
        """The reply has ended (:meth:`settle`): the height is the text's."""

    @property
    def source(self) -> str:
        """The text drawn (all appended so far, unless :attr:`hidden` says some is not)."""
        return "".join(self.frozen) + self.segment

    @property
    def text_lines(self) -> int:
        """Lines the text takes (the rest of the height is blank)."""
        return len(self._head) + len(self._frozen_lines) + len(self._live_lines)

    def append(self, text: str) -> None:
        """Add streamed (sanitized) Markdown; repaints the lines that changed."""
        if not text:
            return
        self.total += len(text)
        old_start, old_lines = len(self._head) + len(self._frozen_lines), self._live_lines
        whole = False
        segment = self.segment + text
        if len(segment) > self.window_chars:
            # More than the window at once: what would be dropped is never rendered.
            cut = tail_from_block(segment, self.window_chars // 2)
            self._fence = fence_at(segment, cut, self._fence)
            self.hidden += self._frozen_chars + cut
            self.frozen, self._fences, self._frozen_lines, self._frozen_chars = [], [], [], 0
            segment = segment[cut:]
            whole = True
        self.segment = segment
        n = self.segment_chars
        while len(self.segment) > n:
            # Cut where split_segments() cuts a stored reply, so a reload looks the same.
            look = self.segment[n : n * HARD_CUT]
            boundary = block_boundary(self._fence + self.segment[:n], look)
            if boundary is not None:
                end = n + boundary
            elif len(self.segment) > n * HARD_CUT:
                line = self.segment.rfind("\n", n, n * HARD_CUT)
                end = line + 1 if line != -1 else n * HARD_CUT
            else:
                break
            done, self.segment = self.segment[:end], self.segment[end:]
            fence, self._fence = self._fence, open_fence(self._fence + done)
            self.frozen.append(done)
            self._fences.append(fence)
            self._frozen_chars += len(done)
            # A finished segment's lines are final: rendered once, kept.
            self._frozen_lines += self._segment_lines(fence + done)
        if self._frozen_chars > self.window_chars:
            self._drop()
            whole = True
        self._live_lines = self._render_markdown(self._fence + self.segment)
        if self._fit() or whole:
            self.refresh()
            return  # a new height (or text moved up) repaints the whole widget anyway
        new = [*self._frozen_lines[old_start - len(self._head) :], *self._live_lines]
        first = next(
            (i for i, (a, b) in enumerate(zip(old_lines, new, strict=False)) if a != b), None
        )
        if first is None:
            first = min(len(old_lines), len(new))
        end = max(len(old_lines), len(new))
        if end > first:
            self.refresh(Region(0, old_start + first, self._width, end - first))

    def _drop(self) -> None:
        """Forget the oldest finished segments until half the window is left."""
        keep = self.window_chars // 2
        while self.frozen and self._frozen_chars > keep:
            gone = self.frozen.pop(0)
            self._fences.pop(0)
            self._frozen_chars -= len(gone)
            self.hidden += len(gone)
        self._render_frozen()

    def _render_frozen(self) -> None:
        self._head = self._head_lines()
        self._frozen_lines = []
        for fence, segment in zip(self._fences, self.frozen, strict=True):
            self._frozen_lines += self._segment_lines(fence + segment)

    def _head_lines(self) -> list[Strip]:
        if not self.hidden or self._width <= 0:
            return []
        note = Text(
            f"… {human_chars(self.hidden)} above not shown (ctrl+o exports it whole)",
            style="italic dim",
            no_wrap=True,
            overflow="ellipsis",
        )
        app = self.app
        options = app.console_options.update(highlight=False, width=self._width, height=None)
        segments = app.console.render(self.post_render(note, self.rich_style), options)
        lines = Segment.split_and_crop_lines(segments, self._width, include_new_lines=False)
        first = [Strip(line).simplify() for line in lines][:1]
        return [*first, Strip.blank(self._width, self.rich_style)]

    def _render_markdown(self, markdown: str) -> list[Strip]:
        width = self._width
        if width <= 0 or not markdown:
            return []
        app = self.app
        options = app.console_options.update(highlight=False, width=width, height=None)
        renderable = self.post_render(rich_markdown(markdown), self.rich_style)
        segments = app.console.render(renderable, options)
        lines = Segment.split_and_crop_lines(segments, width, include_new_lines=False, pad=False)
        # Runs of one style become one segment: each segment costs its own escape sequence.
        return [Strip(line).simplify() for line in lines]

    def _segment_lines(self, markdown: str) -> list[Strip]:
        """A finished segment's lines and the blank line that separates it from the next."""
        return [*self._render_markdown(markdown), Strip.blank(self._width, self.rich_style)]

    def _fit(self) -> bool:
        """Grow the reserve when the text reaches it (shrink it when old text went); True when
        the height changed."""
        lines = self.text_lines
        if self.settled:
            if self.reserved == lines:
                return False
            self.reserved = lines
            self.styles.height = max(1, lines)
            return True
        if lines + 1 <= self.reserved <= 2 * lines + 2 * self.reserve:
            return False
        self.reserved = lines + max(self.reserve, lines)
        self.styles.height = self.reserved
        return True

    def settle(self) -> None:
        """The reply has ended: no blank lines in reserve below the text any more."""
        self.settled = True
        self._fit()

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width == self._width:
            return
        self._width = width
        self._render_frozen()
        self._live_lines = self._render_markdown(self._fence + self.segment)
        self._fit()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        for lines in (self._head, self._frozen_lines, self._live_lines):
            if y < len(lines):
                return lines[y]
            y -= len(lines)
        return Strip.blank(self._width, self.rich_style)
