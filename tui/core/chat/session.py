"""A chat as the user has it, headless: the history on disk, the conversation in memory, the reply
streaming now and its live rate, stop, regenerate and export.

The Chat screen drives one :class:`ChatSession` (the controller builds it) and draws what it
reports; a test drives the same object with no Textual at all. The store is optional: when it
cannot be opened or written (a read-only data dir, a damaged file, a lock held by another
process) the chat goes on in memory, :attr:`ChatSession.problem` says why in one line, and the
next prompt tries the store again; once it works, what was said meanwhile is written too.

Writes: sending a prompt is one transaction (the session if it is new, the prompt, the empty
reply), made while the request is already on its way, so no SQLite call delays the first byte;
the reply is then saved in batches and finished with one more. Nothing written is read back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tui.backends.base import ChatChunk, ChatMessage, ChatOptions
from tui.core.chat.export import export_documents
from tui.core.chat.history import history, session_title
from tui.core.chat.options import options_from_dict
from tui.core.chat.records import ChatRecords, Session, StoredMessage, StoreError
from tui.core.chat.turn import ChatTurn, DeltaCallback, TurnResult

log = logging.getLogger(__name__)

MESSAGE_PAGE = 50
"""Messages read when a stored session is opened (and per :meth:`ChatSession.load_earlier`):
a session of any length opens in bounded time."""

ChatOpener = Callable[[str, str, Sequence[ChatMessage], ChatOptions], AsyncIterator[ChatChunk]]
"""Starts a reply: (backend id, model, conversation, options) → stream (``Controller.chat``)."""

_T = TypeVar("_T")


class ExportError(Exception):
    """An export could not be written; the message says why."""


def history_problem(exc: StoreError) -> str:
    """One line saying why the chat has no history now, naming the file and the cause."""
    where = str(exc.path) if exc.path is not None else "the chat history"
    if exc.cause == "read-only":
        why = f"{where} cannot be written (read-only)"
    elif exc.cause == "corrupt":
        why = f"{where} is damaged, not a readable database (kept as it is; move it away to start afresh)"
    elif exc.cause == "locked":
        why = f"{where} is locked by another process"
    elif exc.cause == "full":
        why = f"the disk holding {where} is full"
    else:
        why = str(exc)
    return f"Chat history off: {why}. Chats stay in memory; retried on the next prompt."


class ChatSession:
    """The chat history, the open conversation and its turns; no Textual, no store import.

    Args:
        open_records: Opens the history (blocking; run in a thread); raises :class:`StoreError`.
        chat: Starts a reply (``Controller.chat``).
        write_file: Writes one export file atomically, creating its folder (blocking).
        page: Messages read when a stored session is opened.
        clock: The turn's clock (tests pass their own).
    """

    def __init__(
        self,
        open_records: Callable[[], ChatRecords],
        chat: ChatOpener,
        write_file: Callable[[Path, str], object],
        *,
        page: int = MESSAGE_PAGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_records = open_records
        self._chat = chat
        self._write_file = write_file
        self.page = page
        self.clock = clock
        self.records: ChatRecords | None = None
        """The history on disk; None until opened, or while it cannot be."""
        self.problem = ""
        """Why there is no history now, in one line ("" while there is)."""
        self.sessions: list[Session] = []
        """Every session, the latest first (those not stored yet have ids below 1)."""
        self.session: Session | None = None
        """The open conversation (None: a new one, created by the first prompt)."""
        self.messages: list[StoredMessage] = []
        """Its messages in memory: the last page read, then this run's."""
        self.earlier = 0
        """Stored messages of the session before :attr:`messages` (not read)."""
        self.backend_id = ""
        self.model = ""
        self.system_prompt = ""
        self.options: dict[str, Any] = {}
        self.turn: ChatTurn | None = None
        """The reply streaming now (from :meth:`begin` to the end of :meth:`stream`)."""
        self.last_turn: ChatTurn | None = None
        """The turn that ended last."""
        self._reply: StoredMessage | None = None
        self._conversation: list[ChatMessage] = []
        self.store_calls = 0
        """Calls made to the store (for the figures and the tests)."""
        self._task: asyncio.Task[Any] | None = None
        self._offline: dict[int, list[StoredMessage]] = {}
        """Messages of sessions not stored yet, other than the open one."""
        self._rewrite: list[StoredMessage] = []
        """Stored messages whose final text could not be written yet."""
        self._deletes: list[int] = []
        self._session_dirty = False
        self._next_local = -1
        self._open_lock: asyncio.Lock | None = None

    # ------------------------------------------------------------------ the store

    @property
    def streaming(self) -> bool:
        return self.turn is not None

    @property
    def live_rate(self) -> float | None:
        """Tokens per second of the reply streaming now; None when none is."""
        return self.turn.live_rate() if self.turn is not None else None

    async def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        self.store_calls += 1
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _failed(self, exc: StoreError) -> None:
        self.problem = history_problem(exc)
        log.warning("%s", self.problem)

    async def open(self) -> bool:
        """Open the history and read the session list; False (and :attr:`problem` says why) when
        it cannot be. Reopening after a failure is the same call."""
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:  # the screen's opening and a first prompt's share one
            return await self._open()

    async def _open(self) -> bool:
        if self.records is not None:
            return True
        try:
            records = await asyncio.to_thread(self._open_records)
        except StoreError as exc:
            self._failed(exc)
            return False
        try:
            stored = await self._call(records.sessions)
        except StoreError as exc:
            self._failed(exc)
            await asyncio.to_thread(records.close)
            return False
        self.records = records
        self.problem = ""
        self.sessions = [s for s in self.sessions if not s.stored] + stored
        return True

    async def close(self) -> None:
        records, self.records = self.records, None
        if records is not None:
            await asyncio.to_thread(records.close)

    # ------------------------------------------------------------------ sessions

    async def open_session(self, session_id: int | None) -> bool:
        """Make ``session_id`` the open conversation (None: a new one), reading its last page of
        messages; False when it is unknown or cannot be read (:attr:`problem` says why)."""
        if session_id is None:
            self._stash()
            self.session, self.messages, self.earlier = None, [], 0
            return True
        session = next((s for s in self.sessions if s.id == session_id), None)
        if session is None:
            return False
        if session.stored:
            if self.records is None:
                return False
            try:
                messages, earlier = await self._call(
                    self.records.recent_messages, session.id, self.page
                )
            except StoreError as exc:
                self._failed(exc)
                return False
        else:
            messages, earlier = self._offline.pop(session.id, []), 0
        self._stash()
        self.session, self.messages, self.earlier = session, messages, earlier
        self.backend_id, self.model = session.backend, session.model
        self.system_prompt, self.options = session.system_prompt, dict(session.options)
        self._session_dirty = False
        return True

    async def load_earlier(self) -> list[StoredMessage]:
        """Read the page of stored messages before those in memory; returns them (first first)."""
        session, records = self.session, self.records
        if session is None or records is None or not self.earlier or not self.messages:
            return []
        first = next((m.id for m in self.messages if m.id > 0), 0)
        try:
            older, earlier = await self._call(records.messages_before, session.id, first, self.page)
        except StoreError as exc:
            self._failed(exc)
            return []
        self.messages[:0] = older
        self.earlier = earlier
        return older

    def _stash(self) -> None:
        if self.session is not None and not self.session.stored:
            self._offline[self.session.id] = self.messages

    def set_model(self, backend_id: str, model: str) -> bool:
        """Choose the model; True when the open session changed (save it with :meth:`save_settings`)."""
        self.backend_id, self.model = backend_id, model
        session = self.session
        if session is None or not backend_id or not model:
            return False
        session.backend, session.model = backend_id, model
        self._session_dirty = True
        return True

    def set_parameters(self, system_prompt: str, options: dict[str, Any]) -> bool:
        """Set the system prompt and options; True when the open session changed."""
        self.system_prompt, self.options = system_prompt, dict(options)
        if self.session is None:
            return False
        self.session.system_prompt, self.session.options = system_prompt, dict(options)
        self._session_dirty = True
        return True

    async def save_settings(self) -> None:
        """Write the open session's model and parameters (one write; with the next turn when the
        store cannot be written now)."""
        session, records = self.session, self.records
        if session is None or not session.stored or records is None:
            return
        try:
            await self._call(records.update_session, session)
        except StoreError as exc:
            self._failed(exc)
            return
        self._session_dirty = False

    # ------------------------------------------------------------------ turns

    async def send(
        self,
        prompt: str | None,
        on_delta: DeltaCallback | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> TurnResult:
        """Send ``prompt`` (None: answer the last prompt again, replacing the last reply) and
        stream the reply: :meth:`begin` then :meth:`stream`.

        Raises:
            RuntimeError: A reply is streaming already.
            ValueError: No model is chosen.
        """
        self.begin(prompt)
        return await self.stream(on_delta, on_end)

    def begin(self, prompt: str | None) -> ChatTurn:
        """Take ``prompt`` (None: regenerate) into the conversation, start its one write (in a
        thread, not awaited) and return the turn; :meth:`stream` then runs it.

        Raises:
            RuntimeError: A reply is streaming already.
            ValueError: No model is chosen.
        """
        if self.turn is not None:
            raise RuntimeError("a reply is streaming: stop it first")
        if not self.backend_id or not self.model:
            raise ValueError("choose a model first")
        backend_id, model = self.backend_id, self.model
        now = time.time()
        if self.session is None:
            self.session = Session(
                self._next_local,
                session_title(prompt or "Chat"),
                backend_id,
                model,
                self.system_prompt,
                dict(self.options),
                now,
                now,
            )
            self._next_local -= 1
        session = self.session
        session.updated_at = now
        self.sessions = [session, *(s for s in self.sessions if s is not session)]
        if prompt is None:
            if self.messages and self.messages[-1].role == "assistant":
                gone = self.messages.pop()
                if gone.id > 0:
                    self._deletes.append(gone.id)
                self._rewrite = [m for m in self._rewrite if m is not gone]
        else:
            self.messages.append(StoredMessage(0, session.id, "user", prompt, created_at=now))
        self._conversation = history(session, self.messages)
        reply = StoredMessage(
            0,
            session.id,
            "assistant",
            "",
            status="streaming",
            backend=backend_id,
            model=model,
            created_at=now,
        )
        self.messages.append(reply)
        self._reply = reply
        turn = ChatTurn(None, 0, clock=self.clock)
        turn.extra_stats = {"system_prompt": session.system_prompt}
        # The request goes out while the prompt is written: no disk delays the first byte.
        turn.ready = asyncio.ensure_future(self._store_turn(turn, session, reply))
        self.turn = turn
        return turn

    async def stream(
        self,
        on_delta: DeltaCallback | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> TurnResult:
        """Stream the reply of the turn :meth:`begin` started; cancel the task (or call
        :meth:`stop`) to stop it, which keeps the partial reply and raises ``CancelledError``."""
        turn, reply = self.turn, self._reply
        if turn is None or reply is None:
            raise RuntimeError("no turn was begun")
        backend_id, model = reply.backend, reply.model
        conversation = self._conversation
        options = options_from_dict(self.options)
        self._task = asyncio.current_task()
        try:
            return await turn.run(
                lambda: self._chat(backend_id, model, conversation, options), on_delta, on_end
            )
        finally:
            self._task = None
            self.turn = None
            self.last_turn = turn
            result = turn.result
            if result is not None:
                reply.content, reply.thinking, reply.status = (
                    result.content,
                    result.thinking,
                    result.status,
                )
                reply.stats = {**result.stats.as_dict(), **turn.extra_stats}
                if result.error:
                    reply.stats["error"] = result.error
                if reply.id > 0 and result.store_error:
                    self._rewrite.append(reply)  # stored, but not its end: with the next write

    def stop(self) -> bool:
        """Stop the reply streaming now (it is kept, status ``stopped``); False when none is."""
        if self.turn is None or self._task is None:
            return False
        self._task.cancel()
        return True

    async def _store_turn(self, turn: ChatTurn, session: Session, reply: StoredMessage) -> None:
        """The turn's one write: what is not stored yet of the open session (this prompt and the
        empty reply, and anything a failing store kept from being written), in one transaction;
        reopens the store first if it could not be opened before."""
        try:
            if self.records is None and not await self.open():
                turn.store_error = self.problem
                return
            records = self.records
            assert records is not None
            add = [m for m in self.messages if m.id == 0]
            deletes, rewrite = list(self._deletes), list(self._rewrite)
            try:
                await self._call(
                    records.write_turn,
                    session,
                    add,
                    deletes,
                    rewrite=rewrite,
                    update_session=self._session_dirty,
                )
            except StoreError as exc:
                self._failed(exc)
                turn.store_error = self.problem
                return
            self._deletes = self._deletes[len(deletes) :]
            written = {id(m) for m in rewrite}
            self._rewrite = [m for m in self._rewrite if id(m) not in written]
            self._session_dirty = False
            self.problem = ""
            turn.store, turn.message_id = records, reply.id
            await self._store_offline(records)
        except Exception:  # a bug here must not end the reply
            log.exception("storing the chat turn failed")
            turn.store_error = "unexpected error while saving (see the log)"

    async def _store_offline(self, records: ChatRecords) -> None:
        # Sessions held in memory while the store was off: stored once it works again.
        for key, messages in list(self._offline.items()):
            session = next((s for s in self.sessions if s.id == key), None)
            if session is None:
                del self._offline[key]
                continue
            try:
                await self._call(records.write_turn, session, messages, ())
            except StoreError as exc:
                self._failed(exc)
                return
            del self._offline[key]

    # ------------------------------------------------------------------ export

    async def export(self, directory: Path) -> tuple[Path, Path]:
        """Write the open session as Markdown and JSON into ``directory``; returns both paths.

        Every message is written, also those not read into memory (one read), and those the
        store does not have.

        Raises:
            ValueError: There is nothing to export yet.
            ExportError: The files could not be written (the message says why).
        """
        session = self.session
        if session is None:
            raise ValueError("Nothing to export yet: send a prompt first.")
        messages = list(self.messages)
        turn, reply = self.turn, self._reply
        at = next((i for i, m in enumerate(messages) if m is reply), None)
        if turn is not None and reply is not None and at is not None:
            # Streaming now: the reply as far as it got.
            messages[at] = dataclasses.replace(
                reply, content=turn.content.text(), thinking=turn.thinking.text()
            )
        if self.earlier and self.records is not None and session.stored:
            try:
                stored = await self._call(self.records.messages, session.id)
            except StoreError as exc:
                raise ExportError(
                    f"the earlier messages could not be read: {history_problem(exc)}"
                ) from exc
            known = {m.id for m in stored}
            messages = stored + [m for m in messages if m.id not in known]
        paths: list[Path] = []
        # Building the documents of a long session is a copy of all of it: not on the loop.
        documents = await asyncio.to_thread(export_documents, session, messages)
        for name, text in documents:
            path = directory / name
            try:
                await asyncio.to_thread(self._write_file, path, text)
            except Exception as exc:  # the writer's own error type: a sentence either way
                raise ExportError(str(exc)) from exc
            paths.append(path)
        return paths[0], paths[1]
