"""Headless chat turns: stream a reply, keep it safe and saved, measure it, export sessions.

Nothing here imports Textual; the Chat screen drives :class:`ChatTurn` from a worker and renders what
it reports. Every delta is passed through :func:`~tui.core.sanitize.sanitize` before anyone sees it,
and the reply is written to SQLite in batches (every ``save_interval`` seconds, in a thread) so a
crash keeps what arrived up to the last batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.backends.base import BackendError, ChatChunk, ChatMessage, ChatOptions, ChatStats
from tui.core.sanitize import sanitize
from tui.store.chats import ChatStore, Session, StoredMessage
from tui.store.db import Database, StoreError

SAVE_INTERVAL = 0.25
"""Seconds between batched writes of a streaming reply."""

OPTION_NAMES = ("temperature", "top_p", "num_ctx", "seed", "max_tokens")
_INT_OPTIONS = frozenset({"num_ctx", "seed", "max_tokens"})

DeltaCallback = Callable[[str, str], None]
"""Called with (content delta, thinking delta), both already sanitized."""


def open_chat_store(directory: Path) -> ChatStore:
    """Open (creating and migrating as needed) the chat store in ``directory``.

    Also marks replies a crash left ``streaming`` as ``interrupted``. Blocking: call it in a thread.
    """
    store = ChatStore(Database.in_dir(directory))
    store.recover_interrupted()
    return store


# ------------------------------------------------------------------------------------ options


def options_from_dict(values: dict[str, Any]) -> ChatOptions:
    """Build :class:`ChatOptions` from a session's stored options, ignoring unknown keys."""
    known: dict[str, Any] = {k: values[k] for k in OPTION_NAMES if values.get(k) is not None}
    if isinstance(values.get("think"), bool):  # not a form field: set by code, kept as given
        known["think"] = values["think"]
    return ChatOptions(**known)


def parse_option(name: str, text: str) -> int | float | None:
    """Parse one parameter as typed in a form; empty means the backend's default.

    Raises:
        ValueError: With a sentence naming the parameter and what it must be.
    """
    text = text.strip()
    if not text:
        return None
    if name in _INT_OPTIONS:
        try:
            value: int | float = int(text)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {text!r}") from None
        if name != "seed" and value <= 0:
            raise ValueError(f"{name} must be greater than 0")
        return value
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if name == "temperature" and not 0 <= value <= 2:
        raise ValueError("temperature must be between 0 and 2")
    if name == "top_p" and not 0 < value <= 1:
        raise ValueError("top_p must be greater than 0 and at most 1")
    return value


def history(session: Session, messages: Sequence[StoredMessage]) -> list[ChatMessage]:
    """The conversation to send: system prompt, then every user and non-empty assistant turn."""
    out: list[ChatMessage] = []
    if session.system_prompt.strip():
        out.append(ChatMessage("system", session.system_prompt))
    for m in messages:
        if m.role == "user" or (m.role == "assistant" and m.content and m.status != "error"):
            out.append(ChatMessage(m.role, m.content))
    return out


def session_title(prompt: str, limit: int = 40) -> str:
    """A one-line title from the first prompt."""
    line = " ".join(sanitize(prompt).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# ------------------------------------------------------------------------------------ stats


@dataclass(slots=True)
class TurnStats:
    """Figures of one reply, preferring the backend's own counts."""

    ttft_s: float | None = None
    tokens: int = 0
    tokens_per_second: float | None = None
    prompt_tokens: int | None = None
    counted_by: str = "slmdeck"
    """``backend`` when token count and rate came from the backend, else ``slmdeck``."""
    done_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_s": self.ttft_s,
            "tokens": self.tokens,
            "tokens_per_second": self.tokens_per_second,
            "prompt_tokens": self.prompt_tokens,
            "counted_by": self.counted_by,
            "done_reason": self.done_reason,
        }


def format_stats(stats: dict[str, Any], status: str = "complete") -> str:
    """One line under a reply, e.g. ``TTFT 0.21 s · 41.7 tok/s · 512 tokens``."""
    parts: list[str] = []
    ttft = stats.get("ttft_s")
    if isinstance(ttft, int | float):
        parts.append(f"TTFT {ttft:.2f} s")
    rate = stats.get("tokens_per_second")
    if isinstance(rate, int | float):
        parts.append(f"{rate:.1f} tok/s")
    tokens = stats.get("tokens")
    if isinstance(tokens, int) and tokens:
        parts.append(f"{tokens} tokens")
    if status not in ("complete", "streaming"):
        parts.append(status)
    return " · ".join(parts)


# ------------------------------------------------------------------------------------ turn


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
    """

    store: ChatStore
    message_id: int
    save_interval: float = SAVE_INTERVAL
    clock: Callable[[], float] = time.monotonic
    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    chunks: int = 0
    started: float = 0.0
    first_token: float | None = None
    last_token: float | None = None
    backend_stats: ChatStats | None = None
    result: TurnResult | None = None
    """Set when the turn has ended (complete, stopped or error)."""
    store_error: str = ""
    """The last failure to write the reply (the stream goes on; the text stays on screen)."""

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
                        last_save, saved_len = now, self.chunks
                        await self._save_partial()
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

    async def _save_partial(self) -> None:
        # A full or read-only disk must not end the reply: keep streaming, say why at the end,
        # and try again at the next batch (space may have been freed).
        try:
            await asyncio.to_thread(
                self.store.save_partial,
                self.message_id,
                "".join(self.content),
                "".join(self.thinking),
            )
        except StoreError as exc:
            self.store_error = str(exc)

    async def _write_final(self, result: TurnResult, stats: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(
                self.store.finish_message,
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
        result = TurnResult("".join(self.content), "".join(self.thinking), status, self.stats())
        result.error = sanitize(error)
        self.result = result
        stats = result.stats.as_dict()
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


# ------------------------------------------------------------------------------------ export

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


_FENCE_LINE = re.compile(r"^ {0,3}(```|~~~)", re.M)


def block_boundary(written: str, text: str) -> int | None:
    """Where in ``text`` a new Markdown document may start, after ``written`` (the text so far).

    That is just after a blank line (``\n\n``) that is not inside a fenced code block; the blank
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


def code_blocks(markdown: str) -> list[str]:
    """The contents of fenced code blocks in ``markdown``, in order."""
    return [m.group(2) for m in _FENCE.finditer(markdown)]


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def export_markdown(session: Session, messages: Sequence[StoredMessage]) -> str:
    """The session as a Markdown document."""
    lines = [f"# {session.title or 'Chat'}", ""]
    lines.append(f"- model: `{session.model}` ({session.backend})")
    lines.append(f"- created: {_stamp(session.created_at)}")
    opts = {k: v for k, v in session.options.items() if v is not None}
    if opts:
        lines.append("- parameters: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    lines.append("")
    if session.system_prompt:
        lines += ["## System", "", session.system_prompt, ""]
    for m in messages:
        title = "User" if m.role == "user" else f"Assistant ({m.model or session.model})"
        lines += [f"## {title}", ""]
        if m.thinking:
            lines += ["<details><summary>Thinking</summary>", "", m.thinking, "", "</details>", ""]
        lines += [m.content, ""]
        if m.role == "assistant":
            footer = format_stats(m.stats, m.status)
            if footer:
                lines += [f"*{footer}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def export_json(session: Session, messages: Sequence[StoredMessage]) -> str:
    """The session as JSON: its settings and every message with status and stats."""
    doc = {
        "format": "slmdeck-chat",
        "version": 1,
        "session": {
            "id": session.id,
            "title": session.title,
            "backend": session.backend,
            "model": session.model,
            "system_prompt": session.system_prompt,
            "options": session.options,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
        },
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "thinking": m.thinking,
                "status": m.status,
                "stats": m.stats,
                "backend": m.backend,
                "model": m.model,
                "created_at": m.created_at,
            }
            for m in messages
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def export_session(store: ChatStore, session_id: int, directory: Path) -> tuple[Path, Path]:
    """Write ``session-<id>.md`` and ``.json`` into ``directory`` atomically; blocking.

    Returns:
        The Markdown and JSON paths.
    """
    session = store.session(session_id)
    if session is None:
        raise ValueError(f"session {session_id} does not exist")
    messages = store.messages(session_id)
    directory.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", session.title.lower()).strip("-")[:40] or "chat"
    base = directory / f"session-{session_id}-{slug}"
    paths = (base.with_suffix(".md"), base.with_suffix(".json"))
    for path, text in zip(
        paths, (export_markdown(session, messages), export_json(session, messages)), strict=True
    ):
        write_atomic(path, text)
    return paths


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file, fsync and rename."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
