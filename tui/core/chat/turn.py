"""One streamed reply: sanitize, report, save in batches, and finish the stored message.

Every delta is passed through :func:`~tui.core.sanitize.sanitize` before anyone sees it, and the
reply is written in batches (every ``save_interval`` seconds, in a thread) so a crash keeps what
arrived up to the last batch. A batch appends only what arrived since the one before
(:meth:`~tui.core.chat.records.ReplySink.append_partial`), and the text is kept in blocks
(:class:`~tui.core.chat.text.ReplyText`), so neither a save nor the memory held grows faster than
the reply: a 50 MB reply costs what fifty 1 MB ones do.

A backend that delivers faster than the loop turns (a buffered stream never suspends) would keep
the loop to itself: the turn yields to it every :data:`YIELD_EVERY` seconds, so keys are handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from tui.backends.base import BackendError, ChatChunk, ChatStats
from tui.core.chat.records import ReplySink, StoreError
from tui.core.chat.stats import TurnStats
from tui.core.chat.text import ReplyText
from tui.core.sanitize import sanitize

SAVE_INTERVAL = 0.25
"""Seconds between batched writes of a streaming reply."""

YIELD_EVERY = 0.02
"""Most seconds the turn keeps the event loop without letting others run."""

DeltaCallback = Callable[[str, str], None]
"""Called with (content delta, thinking delta), both already sanitized."""


@dataclass(slots=True)
class TurnResult:
    """What a finished (or stopped, or failed) turn left behind."""

    content: str
    thinking: str
    status: str
    stats: TurnStats
    error: str = ""
    store_error: str = ""
    """Why the reply could not be written to the chat history (disk full, read-only), or ""."""


@dataclass(slots=True)
class ChatTurn:
    """Consume one streamed reply: sanitize, report, save in batches, and finish the stored message.

    Cancel the task running :meth:`run` to stop: the stream is closed (which stops generation on the
    backend), the partial reply is stored with status ``stopped`` and ``CancelledError`` propagates.

    ``store`` may be None (no history: nothing is written), and ``ready`` the write that creates
    the stored reply, still under way while the stream starts: until it is done no batch is
    written, and if it leaves ``store`` None or ``message_id`` 0, nothing is.
    """

    store: ReplySink | None
    message_id: int
    save_interval: float = SAVE_INTERVAL
    clock: Callable[[], float] = time.monotonic
    ready: asyncio.Future[None] | None = None
    content: ReplyText = field(default_factory=ReplyText)
    thinking: ReplyText = field(default_factory=ReplyText)
    chunks: int = 0
    started: float = 0.0
    first_token: float | None = None
    last_token: float | None = None
    backend_stats: ChatStats | None = None
    result: TurnResult | None = None
    """Set when the turn has ended (complete, stopped or error)."""
    store_error: str = ""
    """The last failure to write the reply (the stream goes on; the text stays on screen)."""
    _saved: tuple[int, int] = field(default=(0, 0), init=False)
    """Characters of content and thinking written by the batches so far."""
    extra_stats: dict[str, Any] = field(default_factory=dict)
    """Stored with the reply's figures: the system prompt it was answered under, so an export
    of a session whose system prompt changed gives each turn its own."""

    def live_rate(self) -> float | None:
        """Tokens per second so far (chunks counted), for the live gauge."""
        if self.first_token is None or self.last_token is None or self.chunks < 2:
            return None
        span = self.last_token - self.first_token
        return (self.chunks - 1) / span if span > 0 else None

    def stats(self) -> TurnStats:
        s = TurnStats(ttft_s=None if self.first_token is None else self.first_token - self.started)
        s.tokens = self.chunks
        s.tokens_per_second = self.live_rate()
        b = self.backend_stats
        if b is not None:
            s.prompt_tokens = b.prompt_tokens
            s.done_reason = b.done_reason
            if b.completion_tokens:
                s.tokens = b.completion_tokens
                s.counted_by = "backend"
            if b.tokens_per_second is not None:
                s.tokens_per_second = b.tokens_per_second
        return s

    def _writable(self) -> ReplySink | None:
        if self.ready is not None and not self.ready.done():
            return None
        return self.store if self.message_id > 0 else None

    async def run(
        self,
        open_stream: Callable[[], AsyncIterator[ChatChunk]],
        on_delta: DeltaCallback | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> TurnResult:
        """Open the stream and consume it to the end; returns the result (complete or error).

        Args:
            open_stream: Starts the request, e.g. ``lambda: controller.chat(...)``; called inside
                the error handling so a backend that cannot even start still yields a stored error.
            on_delta: Told about every sanitized piece of text as it arrives.
            on_end: Told when the stream has ended, before the reply is stored (a write that
                can take a while on a busy disk), so the last words can be shown first.
        """
        self.started = self.clock()
        task = asyncio.current_task()
        last_save = self.started
        saved_len = 0
        ended = False
        turned = time.perf_counter()
        try:
            async with _closing(open_stream()) as stream:
                async for chunk in stream:
                    text = sanitize(chunk.content) if chunk.content else ""
                    think = sanitize(chunk.thinking) if chunk.thinking else ""
                    if text or think:
                        now = self.clock()
                        if self.first_token is None:
                            self.first_token = now
                        self.last_token = now
                        self.chunks += 1
                        if text:
                            self.content.append(text)
                        if think:
                            self.thinking.append(think)
                        if on_delta is not None:
                            on_delta(text, think)
                        if task is not None and task.cancelling():
                            # A stop asked for in on_delta (or while chunks were already
                            # buffered) takes effect now, not after the buffered rest.
                            await asyncio.sleep(0)
                    if chunk.done:
                        self.backend_stats = chunk.stats
                        if on_end is not None and not ended:
                            # The last words are drawn now, not once the connection closes.
                            ended = True
                            on_end()
                    now = self.clock()
                    if now - last_save >= self.save_interval and self.chunks != saved_len:
                        sink = self._writable()
                        if sink is not None:
                            last_save, saved_len = now, self.chunks
                            await self._save_partial(sink)
                    if time.perf_counter() - turned >= YIELD_EVERY:
                        await asyncio.sleep(0)  # a buffered stream never suspends on its own
                        turned = time.perf_counter()
            if on_end is not None and not ended:
                on_end()
        except asyncio.CancelledError:
            # One cancel was delivered; these awaits still run so the partial reply is kept.
            await self._finish("stopped")
            raise
        except BackendError as exc:
            return await self._finish("error", str(exc))
        except Exception as exc:  # an unexpected bug in a backend must not lose the reply
            return await self._finish("error", f"unexpected error: {type(exc).__name__}: {exc}")
        return await self._finish("complete")

    async def _save_partial(self, sink: ReplySink) -> None:
        # A full or read-only disk must not end the reply: keep streaming, say why at the end,
        # and try again at the next batch (space may have been freed) with all not written yet.
        content, thinking = len(self.content), len(self.thinking)
        try:
            await asyncio.to_thread(
                sink.append_partial,
                self.message_id,
                self.content.since(self._saved[0]),
                self.thinking.since(self._saved[1]),
            )
        except StoreError as exc:
            self.store_error = str(exc)
        else:
            self._saved = (content, thinking)

    async def _write_final(self, result: TurnResult, stats: dict[str, Any]) -> None:
        if self.ready is not None:
            await self.ready  # the stored reply exists (or will not) before it is finished
        sink = self._writable()
        if sink is not None:
            try:
                await asyncio.to_thread(
                    sink.finish_message,
                    self.message_id,
                    result.content,
                    result.thinking,
                    result.status,
                    stats,
                )
            except StoreError as exc:
                self.store_error = str(exc)
            else:
                self.store_error = ""
        result.store_error = self.store_error

    async def _finish(self, status: str, error: str = "") -> TurnResult:
        # Joined once; the turn then keeps the joined text as its only copy.
        result = TurnResult(self.content.text(), self.thinking.text(), status, self.stats())
        result.error = sanitize(error)
        self.result = result
        stats = {**result.stats.as_dict(), **self.extra_stats}
        if error:
            stats["error"] = result.error
        write = asyncio.ensure_future(self._write_final(result, stats))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            # Stopped just as the reply ended: the final write still lands before we go.
            await write
            raise
        return result


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[ChatChunk]) -> AsyncIterator[AsyncIterator[ChatChunk]]:
    """Close ``stream`` on exit (cancellation included), which closes the backend's request."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
