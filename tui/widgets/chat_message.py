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

from tui.core.chat.markdown import split_segments, tail_from_block
from tui.core.chat.stats import format_stats
from tui.core.sanitize import sanitize
from tui.widgets.chat_stream import StreamingBody, rich_markdown, textual_parser

SEGMENT_CHARS = 1500
"""Characters of a reply per segment. Textual lays out every block widget of the log on each
draw, so all but the last segment of a reply are single Rich-rendered widgets; while streaming,
only the growing segment is rendered again on each write."""

SHOWN_CHARS = 60_000
"""Characters of a loaded message drawn at most: the end of a longer one is shown (cut between
blocks) under a line saying how much is not, so a reply of any size opens in bounded time; the
whole text stays in :attr:`MessageView.content` for copy, and ctrl+o exports it."""

_STATUS_STYLE = {
    "stopped": "bold yellow",
    "interrupted": "bold red",
    "error": "bold red",
    "streaming": "italic",
}


def _frozen(markdown: str) -> Static:
    """One widget showing finished Markdown (Rich's renderer: one layout, however long)."""
    return Static(rich_markdown(markdown), classes="msg-frozen")


def _markdown(markdown: str) -> Markdown:
    """The last segment of a reply, as Textual's Markdown widget."""
    return Markdown(markdown, open_links=False, parser_factory=textual_parser, classes="msg-body")


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
    MessageView .msg-hidden { height: auto; color: $text-muted; text-style: italic; }
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
        self._live: StreamingBody | None = None
        """The growing segment while streaming."""
        self._write_lock = asyncio.Lock()
        self.frozen: list[str] = []
        """Sources of the finished segments (all but the last), in order."""
        self.hidden_chars = tail_from_block(self._content, SHOWN_CHARS)
        """Characters at the start of a long loaded message that are not drawn."""

    def _hidden_note(self) -> Static:
        return Static(
            f"… {self.hidden_chars:,} earlier characters of this message are not shown "
            "(ctrl+y copies all of it, ctrl+o exports the session)",
            markup=False,
            classes="msg-hidden",
        )

    def compose(self) -> ComposeResult:
        yield Static(self._header(), classes="msg-header")
        if self.role == "assistant":
            with Collapsible(title="Thinking", collapsed=True, classes="msg-thinking-box") as box:
                box.display = bool(self._thinking)
                yield Static(self._thinking, markup=False, classes="msg-thinking")
            if self.hidden_chars:
                yield self._hidden_note()
            *done, live = split_segments(self._content[self.hidden_chars :], SEGMENT_CHARS)
            with Vertical(classes="msg-bodies"):
                for segment in done:
                    yield _frozen(segment)
                yield _markdown(live)
            self.frozen.extend(done)
            yield Static(self._stats_text(), classes="msg-stats", markup=False)
        else:
            if self.hidden_chars:
                yield self._hidden_note()
            yield Static(self._content[self.hidden_chars :], markup=False, classes="msg-body")

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

    @property
    def stream_body(self) -> StreamingBody | None:
        """The reply's body while it streams (between :meth:`begin_stream` and :meth:`end_stream`)."""
        return self._live

    async def begin_stream(self) -> None:
        """Start streaming into the (empty) reply; end with :meth:`end_stream`."""
        body = self._bodies()[-1]
        live = StreamingBody(segment_chars=SEGMENT_CHARS, classes="msg-live")
        await self.query_one(".msg-bodies", Vertical).mount(live, before=body)
        await body.remove()
        live.append(body.source)
        self._live = live

    async def write(self, text: str, thinking: str = "") -> None:
        """Append streamed (sanitized) text and thinking to the reply."""
        async with self._write_lock:  # a timer flush and the final flush may overlap
            self.add_thinking(thinking)
            if self._live is not None and text:
                self._content += text
                self._live.append(text)

    async def end_stream(self) -> None:
        """Finish streaming: show the reply as a loaded one is shown (frozen segments, then a
        ``Markdown`` widget for the last)."""
        async with self._write_lock:
            live = self._live
            if live is None:
                return
            self._live = None
            self.hidden_chars = tail_from_block(self._content, SHOWN_CHARS)
            *done, last = split_segments(self._content[self.hidden_chars :], SEGMENT_CHARS)
            self.frozen = list(done)
            bodies = self.query_one(".msg-bodies", Vertical)
            with self.app.batch_update():
                if self.hidden_chars:
                    await self.mount(self._hidden_note(), before=bodies)
                await bodies.mount_all(
                    [*(_frozen(segment) for segment in done), _markdown(last)], before=live
                )
                await live.remove()

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
