"""One message of a chat: header, collapsible thinking, Markdown body and a stats line.

Every text shown here has been through :func:`~tui.core.sanitize.sanitize` (the caller does it for
streamed deltas; stored messages are sanitized again on load, since older rows may predate that).
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tui.chatflow import block_boundary, format_stats, split_segments
from tui.core.sanitize import sanitize

SEGMENT_CHARS = 1500
"""Characters of a streamed reply per Markdown widget (see :meth:`MessageView.write`)."""

_STATUS_STYLE = {
    "stopped": "bold yellow",
    "interrupted": "bold red",
    "error": "bold red",
    "streaming": "italic",
}


def _frozen(markdown: str) -> Static:
    """One widget showing finished Markdown (Rich's renderer: one layout, however long)."""
    from rich.markdown import Markdown as RichMarkdown

    # Links stay plain text: following a model's link would send something somewhere.
    renderable = RichMarkdown(markdown, code_theme="ansi_dark", hyperlinks=False)
    return Static(renderable, classes="msg-frozen")


class MessageView(Vertical):
    """A user prompt or an assistant reply."""

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; }
    MessageView .msg-header { height: 1; color: $text-muted; }
    MessageView.user .msg-header { color: $accent; }
    MessageView .msg-bodies { height: auto; }
    MessageView .msg-body { margin: 0; padding: 0; }
    MessageView .msg-frozen { margin: 0 0 1 0; }
    MessageView .msg-stats { height: auto; color: $text-muted; }
    MessageView Collapsible { margin: 0 1; padding: 0; border: none; }
    MessageView .msg-thinking { color: $text-muted; padding: 0 1; }
    """

    def __init__(
        self,
        role: str,
        content: str = "",
        *,
        thinking: str = "",
        model: str = "",
        status: str = "complete",
        stats: dict[str, object] | None = None,
        message_id: int = 0,
    ) -> None:
        super().__init__(classes=role)
        self.role = role
        self.model = model
        self.status = status
        self.message_id = message_id
        self._content = sanitize(content)
        self._thinking = sanitize(thinking)
        self._stats: dict[str, object] = dict(stats or {})
        self._stream: MarkdownStream | None = None
        self._segment = ""
        self._write_lock = asyncio.Lock()
        self.frozen: list[str] = []
        """Sources of the segments frozen while streaming, in order."""

    def compose(self) -> ComposeResult:
        yield Static(self._header(), classes="msg-header")
        if self.role == "assistant":
            with Collapsible(title="Thinking", collapsed=True, classes="msg-thinking-box") as box:
                box.display = bool(self._thinking)
                yield Static(self._thinking, markup=False, classes="msg-thinking")
            *done, live = split_segments(self._content, SEGMENT_CHARS)
            with Vertical(classes="msg-bodies"):
                for segment in done:
                    yield _frozen(segment)
                yield Markdown(live, open_links=False, classes="msg-body")
            self.frozen.extend(done)
            yield Static(self._stats_text(), classes="msg-stats", markup=False)
        else:
            yield Static(self._content, markup=False, classes="msg-body")

    @property
    def content(self) -> str:
        """The reply's text as shown (sanitized)."""
        return self._content

    @property
    def thinking(self) -> str:
        return self._thinking

    def _header(self) -> Text:
        if self.role == "user":
            return Text("▌ You", style="bold")
        text = Text("▌ ", style="bold")
        text.append(sanitize(self.model) or "assistant", style="bold")
        if self.status in _STATUS_STYLE:
            text.append(f"  [{self.status}]", style=_STATUS_STYLE[self.status])
        return text

    def _stats_text(self) -> str:
        error = self._stats.get("error")
        line = format_stats(self._stats, self.status) if self.status != "streaming" else ""
        if isinstance(error, str) and error:
            line = f"{line} · {error}" if line else error
        return line

    # ------------------------------------------------------------------ streaming

    def begin_stream(self) -> None:
        """Start streaming into the (empty) body; end with :meth:`end_stream`."""
        self._segment = ""
        self._stream = Markdown.get_stream(self._bodies()[-1])

    async def write(self, text: str) -> None:
        """Append streamed (sanitized) text to the reply.

        Textual lays out every block widget of the log again on each draw, so one Markdown
        widget for a long reply makes every draw slower than the last. Once the current widget
        holds ``SEGMENT_CHARS``, the reply continues in a new one from the next block boundary
        outside a code fence, and the finished one is frozen into a single widget.
        """
        async with self._write_lock:  # a timer flush and the final flush may overlap
            await self._write(text)

    async def _write(self, text: str) -> None:
        if self._stream is None or not text:
            return
        self._content += text
        if len(self._segment) >= SEGMENT_CHARS:
            cut = block_boundary(self._segment, text)
            if cut is not None:
                head, text = text[:cut], text[cut:]
                if head:
                    await self._stream.write(head)
                await self._stream.stop()
                await self._freeze(self._bodies()[-1])
                segment = Markdown(open_links=False, classes="msg-body")
                await self.query_one(".msg-bodies", Vertical).mount(segment)
                self._stream = Markdown.get_stream(segment)
                self._segment = ""
        self._segment += text
        if text:
            await self._stream.write(text)

    async def end_stream(self) -> None:
        """Write out what the stream still holds and stop it."""
        async with self._write_lock:
            if self._stream is not None:
                await self._stream.stop()
                self._stream = None

    async def _freeze(self, segment: Markdown) -> None:
        """Swap a finished segment's block widgets for one widget showing the same Markdown.

        Every widget in the log is laid out again on each draw, so a long reply kept as hundreds
        of block widgets makes drawing cost grow with its length; one Rich-rendered widget per
        finished segment keeps it flat.
        """
        frozen = _frozen(segment.source)
        await self.query_one(".msg-bodies", Vertical).mount(frozen, before=segment)
        await segment.remove()
        self.frozen.append(segment.source)

    def _bodies(self) -> list[Markdown]:
        return list(self.query(".msg-body").results(Markdown))

    def add_thinking(self, text: str) -> None:
        """Append streamed thinking; the collapsible shows once there is any."""
        if not text:
            return
        self._thinking += text
        box = self.query_one(".msg-thinking-box", Collapsible)
        box.display = True
        if not box.collapsed:
            self.query_one(".msg-thinking", Static).update(self._thinking)

    def refresh_thinking(self) -> None:
        """Redraw the thinking text (deferred while collapsed, so streaming stays cheap)."""
        if self._thinking:
            self.query_one(".msg-thinking", Static).update(self._thinking)

    def toggle_thinking(self) -> None:
        if self.role != "assistant" or not self._thinking:
            return
        box = self.query_one(".msg-thinking-box", Collapsible)
        box.collapsed = not box.collapsed
        if not box.collapsed:
            self.refresh_thinking()

    def finish(self, status: str, stats: dict[str, object]) -> None:
        """Show the final status and stats."""
        self.status = status
        self._stats = dict(stats)
        self.query_one(".msg-header", Static).update(self._header())
        if self.role == "assistant":
            self.query_one(".msg-stats", Static).update(self._stats_text())
            self.refresh_thinking()

    def set_status(self, status: str) -> None:
        self.status = status
        self.query_one(".msg-header", Static).update(self._header())
