"""The body of a reply while it streams: Markdown drawn by Rich, repainted one frame per write.

Textual repaints a widget whose size changed twice (once when it is laid out again, once for its
new size) and repaints all of a widget that asks for it, so a reply growing in a widget of
``height: auto`` costs two full repaints of the visible reply per write. This widget instead keeps a
fixed height with blank lines in reserve below the text, grown in large steps, and asks for only
the lines that changed. With the Chat screen scrolling in the same frame, a write costs one frame.

Finished segments of ``segment_chars`` (cut at block boundaries outside code fences, as
:func:`~tui.core.chat.markdown.split_segments` cuts stored replies) are rendered once and kept as lines;
only the growing segment is rendered again on each write, so the cost of a write stays flat
however long the reply grows.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rich.segment import Segment
from textual import events
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.core.chat.markdown import block_boundary, chat_parser

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from rich.markdown import Markdown as RichMarkdown

RESERVE_LINES = 100
"""Blank lines kept below the text at first; when they run out, the reserve grows to as many
lines as the text has (at least this many), so a long reply changes height a few times only."""


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
    """A streaming reply's text; :meth:`append` adds to it."""

    DEFAULT_CSS = """
    StreamingBody { height: 1; }
    """

    def __init__(
        self, *, segment_chars: int, reserve: int = RESERVE_LINES, classes: str | None = None
    ) -> None:
        super().__init__(classes=classes)
        self.segment_chars = segment_chars
        self.reserve = max(1, reserve)
        self.frozen: list[str] = []
        """Sources of the finished segments, in order."""
        self.segment = ""
        """Source of the growing segment."""
        self._frozen_lines: list[Strip] = []
        self._live_lines: list[Strip] = []
        self._width = 0
        self.reserved = 0
        """The widget's height: the text's lines plus blank ones."""

    @property
    def source(self) -> str:
        """Everything appended so far."""
        return "".join(self.frozen) + self.segment

    @property
    def text_lines(self) -> int:
        """Lines the text takes (the rest of the height is blank)."""
        return len(self._frozen_lines) + len(self._live_lines)

    def append(self, text: str) -> None:
        """Add streamed (sanitized) Markdown; repaints the lines that changed."""
        if not text:
            return
        old_start, old_lines = len(self._frozen_lines), self._live_lines
        self.segment += text
        n = self.segment_chars
        while len(self.segment) > n:
            # Cut where split_segments() cuts a stored reply, so a reload looks the same.
            cut = block_boundary(self.segment[:n], self.segment[n:])
            if cut is None:
                break
            done, self.segment = self.segment[: n + cut], self.segment[n + cut :]
            self.frozen.append(done)
            # A finished segment's lines are final: rendered once, kept.
            self._frozen_lines += self._segment_lines(done)
        self._live_lines = self._render_markdown(self.segment)
        if self._fit():
            return  # a new height repaints the whole widget anyway
        new = [*self._frozen_lines[old_start:], *self._live_lines]
        first = next(
            (i for i, (a, b) in enumerate(zip(old_lines, new, strict=False)) if a != b), None
        )
        if first is None:
            first = min(len(old_lines), len(new))
        end = max(len(old_lines), len(new))
        if end > first:
            self.refresh(Region(0, old_start + first, self._width, end - first))

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
        """Grow the reserve when the text reaches it; True when the height changed."""
        if self.text_lines + 1 <= self.reserved:
            return False
        self.reserved = self.text_lines + max(self.reserve, self.text_lines)
        self.styles.height = self.reserved
        return True

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width == self._width:
            return
        self._width = width
        self._frozen_lines = []
        for segment in self.frozen:
            self._frozen_lines += self._segment_lines(segment)
        self._live_lines = self._render_markdown(self.segment)
        self._fit()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        frozen = self._frozen_lines
        if y < len(frozen):
            return frozen[y]
        y -= len(frozen)
        if y < len(self._live_lines):
            return self._live_lines[y]
        return Strip.blank(self._width, self.rich_style)
