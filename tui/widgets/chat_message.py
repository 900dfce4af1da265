"""One message of a chat: header, collapsible thinking, Markdown body and a stats line.

Every text shown here has been through :func:`~tui.core.sanitize.sanitize` (the caller does it for
streamed deltas; stored messages are sanitized again on load, since older rows may predate that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static

from tui.core.chat.markdown import split_segments, tail_from_block
from tui.core.chat.stats import format_stats
from tui.core.chat.text import sanitize_sliced
from tui.core.sanitize import sanitize
from tui.widgets.chat_stream import (
    WINDOW_CHARS,
    StreamingBody,
    human_chars,
    rich_markdown,
    textual_parser,
)

SEGMENT_CHARS = 1500
"""Characters of a reply per segment. Textual lays out every block widget of the log on each
draw, so all but the last segment of a reply are single Rich-rendered widgets; while streaming,
only the growing segment is rendered again on each write."""

SHOWN_CHARS = WINDOW_CHARS
"""Characters of a message drawn at most, as while it streamed: the end of a longer one is shown
(cut between blocks) under a line saying how much is not, so a reply of any size opens in bounded
time (20,000 characters of Markdown take ~0.1 s to draw; 60,000 took 0.3 s, keys waiting); the
whole text stays in :attr:`MessageView.content` for copy, and ctrl+o exports it."""

_STATUS_STYLE = {
    "stopped": "bold yellow",
    "interrupted": "bold red",
    "error": "bold red",
    "streaming": "italic",
}


def prepare_message(content: str) -> tuple[str, int]:
    """A stored message's text sanitized and where its drawn end starts (``prepared`` of
    :class:`MessageView`): blocking scans of the whole text, for a worker thread."""
    clean = sanitize_sliced(content)
    return clean, tail_from_block(clean, SHOWN_CHARS)


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
        prepared: tuple[str, int] | None = None,
    ) -> None:
        """``prepared``: ``content`` already sanitized and where its drawn end starts (from
        :func:`prepare_message`, in a thread, for a long one)."""
        super().__init__(classes=role)
        self.role = role
        self.model = model
        self.status = status
        self.message_id = message_id
        self._content = content if prepared is not None else sanitize(content)
        self._thinking = sanitize(thinking)
        self._stats: dict[str, object] = dict(stats or {})
        self._live: StreamingBody | None = None
        """The reply's body while streaming."""
        self.text_source: Callable[[], str] | None = None
        """While streaming: gives the whole reply so far (the turn's; the body keeps only the
        end it draws)."""
        self._write_lock = asyncio.Lock()
        self.frozen: list[str] = []
        """Sources of the finished segments (all but the last), in order."""
        self.hidden_chars = (
            prepared[1] if prepared is not None else tail_from_block(self._content, SHOWN_CHARS)
        )
        """Characters at the start of a long loaded message that are not drawn."""

    def _hidden_note(self) -> Static:
        return Static(
            f"… {human_chars(self.hidden_chars)} above not shown "
            "(ctrl+o exports it whole, ctrl+y copies it)",
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
        """The whole text (sanitized), also what is not drawn; while streaming, so far."""
        if self._live is not None and self.text_source is not None:
            return self.text_source()
        return self._content

    @property
    def has_text(self) -> bool:
        """Any text yet (cheap: nothing is joined)."""
        if self._live is not None:
            return self._live.total > 0
        return bool(self._content)

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
        """Append streamed (sanitized) text and thinking to the reply (the body draws its end;
        the whole is the turn's, see :attr:`text_source`)."""
        async with self._write_lock:  # a timer flush and the final flush may overlap
            self.add_thinking(thinking)
            if self._live is not None and text:
                self._live.append(text)

    async def end_stream(self, content: str | None = None) -> None:
        """Finish streaming: show the reply as a loaded one is shown (frozen segments, then a
        ``Markdown`` widget for the last), ``content`` being its whole text (default: what
        :attr:`text_source` gives, else what the body drew)."""
        async with self._write_lock:
            live = self._live
            if live is None:
                return
            if content is None:
                content = self.content if self.text_source is not None else live.source
            self._live = None
            self.text_source = None
            self._content = content
            if live.hidden and live.hidden + len(live.source) == len(content):
                # Longer than is drawn: the body already shows its end, with the note above it.
                # Drawing that end again as a loaded reply is drawn would hold up keys for a
                # frame (~0.15 s); it stays, without its blank reserve.
                self.hidden_chars = live.hidden
                self.frozen = list(live.frozen)
                live.settle()
                return
            # A scan of the whole reply: in a thread, so keys are handled meanwhile.
            if len(content) > SHOWN_CHARS:
                self.hidden_chars = await asyncio.to_thread(tail_from_block, content, SHOWN_CHARS)
            else:
                self.hidden_chars = 0
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

    @property
    def shown_text(self) -> str:
        """The part of the text that is drawn (code blocks are offered from it)."""
        if self._live is not None:
            return self._live.source
        return self._content[self.hidden_chars :] if self.hidden_chars else self._content

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
