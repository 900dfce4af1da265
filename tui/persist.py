"""What the controller hands screens for their records on disk: chat history, editor drafts, bench
results, and the audit log it writes itself.

Each object wraps a blocking store of :mod:`tui.store` and runs every call in a thread, so a screen
awaits it on the event loop and never imports a store. The controller opens one of each on first
use (in a thread) and closes them when it shuts down.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from tui.core.benchmark import ModelResult
from tui.core.chat.turn import ChatTurn
from tui.store.bench import BenchStore, open_bench_store
from tui.store.chats import ChatStore, Session, StoredMessage, export_session, open_chat_store
from tui.store.db import Database
from tui.store.drafts import AuditLog, Draft, DraftStore


class ChatHistory:
    """Chat sessions and their messages, for the Chat screen (see :class:`ChatStore`).

    Raises:
        StoreError: From any call, when the database cannot be read or written.
    """

    def __init__(self, store: ChatStore) -> None:
        self._store = store

    @classmethod
    def open(cls, directory: Path) -> ChatHistory:
        """Open the history in ``directory``, marking replies a crash left streaming; blocking."""
        return cls(open_chat_store(directory))

    @property
    def db(self) -> Database:
        """The database underneath (diagnostics and tests)."""
        return self._store.db

    async def sessions(self) -> list[Session]:
        """Every session, the latest first."""
        return await asyncio.to_thread(self._store.sessions)

    async def session(self, session_id: int) -> Session | None:
        return await asyncio.to_thread(self._store.session, session_id)

    async def messages(self, session_id: int) -> list[StoredMessage]:
        return await asyncio.to_thread(self._store.messages, session_id)

    async def create_session(
        self,
        title: str,
        backend: str,
        model: str,
        system_prompt: str = "",
        options: dict[str, Any] | None = None,
    ) -> Session:
        return await asyncio.to_thread(
            self._store.create_session, title, backend, model, system_prompt, options
        )

    async def update_session(self, session: Session) -> None:
        """Store the session's title, model, system prompt and options as they are now."""
        await asyncio.to_thread(self._store.update_session, session)

    async def add_message(
        self,
        session_id: int,
        role: str,
        content: str,
        *,
        status: str = "complete",
        backend: str = "",
        model: str = "",
    ) -> StoredMessage:
        return await asyncio.to_thread(
            lambda: self._store.add_message(
                session_id, role, content, status=status, backend=backend, model=model
            )
        )

    async def delete_message(self, message_id: int) -> None:
        await asyncio.to_thread(self._store.delete_message, message_id)

    def turn(self, message_id: int) -> ChatTurn:
        """A turn that streams a reply into the stored message ``message_id``."""
        return ChatTurn(self._store, message_id)

    async def export(self, session_id: int, directory: Path) -> tuple[Path, Path]:
        """Write the session as Markdown and JSON into ``directory``; returns both paths.

        Raises:
            OSError: The files could not be written.
            ValueError: The session does not exist.
        """
        return await asyncio.to_thread(export_session, self._store, session_id, directory)

    def close(self) -> None:
        """Close the database; blocking."""
        self._store.db.close()


class DraftBook:
    """The editor's autosaved drafts (see :class:`DraftStore`).

    Raises:
        StoreError: From any call, when the database cannot be read or written.
    """

    def __init__(self, store: DraftStore) -> None:
        self._store = store

    @classmethod
    def open(cls, directory: Path) -> DraftBook:
        """Open the drafts in ``directory``; blocking."""
        return cls(DraftStore(Database.in_dir(directory)))

    async def save(self, key: str, kind: str, text: str, origin: str = "") -> None:
        await asyncio.to_thread(self._store.save, key, kind, text, origin)

    async def pending(self) -> list[Draft]:
        """Drafts not yet saved or discarded, newest first."""
        return await asyncio.to_thread(self._store.pending)

    async def discard(self, key: str) -> None:
        await asyncio.to_thread(self._store.discard, key)

    def close(self) -> None:
        """Close the database; blocking."""
        self._store.db.close()


class BenchResults:
    """Stored benchmark results (see :class:`BenchStore`).

    Raises:
        StoreError: From any call, when the database cannot be read or written.
    """

    def __init__(self, store: BenchStore) -> None:
        self._store = store

    @classmethod
    def open(cls, directory: Path) -> BenchResults:
        """Open the results in ``directory``; blocking."""
        return cls(open_bench_store(directory))

    async def add(self, result: ModelResult, batch: str) -> ModelResult:
        """Store one result of the bench ``batch``; returns it with its row id."""
        return await asyncio.to_thread(self._store.add, result, batch)

    async def recent(self) -> list[ModelResult]:
        """The latest results, newest first."""
        return await asyncio.to_thread(self._store.recent)

    def close(self) -> None:
        """Close the database; blocking."""
        self._store.db.close()


class AuditFile:
    """The audit log in a data dir, opened on the first record; thread-safe and blocking.

    Two operations may end together, so the opening is guarded by a lock.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._log: AuditLog | None = None

    def record(
        self, backend: str, operation: str, target: str, outcome: str, detail: str = ""
    ) -> None:
        """Append one entry.

        Raises:
            StoreError: The log could not be opened or written.
        """
        with self._lock:
            if self._log is None:
                self._log = AuditLog(Database.in_dir(self.directory))
            log = self._log
        log.record(backend, operation, target, outcome, detail)

    def close(self) -> None:
        with self._lock:
            log, self._log = self._log, None
        if log is not None:
            log.db.close()
