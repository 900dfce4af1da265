"""Chat sessions and messages on disk, written as replies stream in.

A reply is inserted with status ``streaming`` when generation starts and its text is rewritten in
batches while tokens arrive; :meth:`ChatStore.recover_interrupted` (run at start) marks replies left
``streaming`` by a crash or ``kill -9`` as ``interrupted``, keeping every token saved so far.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from tui.store.db import Database

STATUSES = ("complete", "streaming", "stopped", "interrupted", "error")


@dataclass(slots=True)
class Session:
    id: int
    title: str
    backend: str
    model: str
    system_prompt: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class StoredMessage:
    id: int
    session_id: int
    role: str
    content: str
    thinking: str = ""
    status: str = "complete"
    stats: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    model: str = ""
    created_at: float = 0.0


def _session(row: Any) -> Session:
    return Session(
        id=row["id"],
        title=row["title"],
        backend=row["backend"],
        model=row["model"],
        system_prompt=row["system_prompt"],
        options=json.loads(row["options"] or "{}"),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        session_id=row["session_id"],
        role=row["role"],
        content=row["content"],
        thinking=row["thinking"],
        status=row["status"],
        stats=json.loads(row["stats"] or "{}"),
        backend=row["backend"],
        model=row["model"],
        created_at=row["created_at"],
    )


class ChatStore:
    """Blocking API over :class:`Database`; call it from a thread when on the event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # sessions
    def create_session(
        self,
        title: str,
        backend: str,
        model: str,
        system_prompt: str = "",
        options: dict[str, Any] | None = None,
    ) -> Session:
        now = time.time()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sessions (title, backend, model, system_prompt, options, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, backend, model, system_prompt, json.dumps(options or {}), now, now),
            )
            session_id = int(cur.lastrowid or 0)
        return Session(session_id, title, backend, model, system_prompt, options or {}, now, now)

    def update_session(self, session: Session) -> None:
        session.updated_at = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sessions SET title=?, backend=?, model=?, system_prompt=?, options=?,"
                " updated_at=? WHERE id=?",
                (
                    session.title,
                    session.backend,
                    session.model,
                    session.system_prompt,
                    json.dumps(session.options),
                    session.updated_at,
                    session.id,
                ),
            )

    def sessions(self) -> list[Session]:
        rows = self.db.query("SELECT * FROM sessions ORDER BY updated_at DESC, id DESC")
        return [_session(r) for r in rows]

    def session(self, session_id: int) -> Session | None:
        rows = self.db.query("SELECT * FROM sessions WHERE id=?", (session_id,))
        return _session(rows[0]) if rows else None

    def delete_session(self, session_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id=?", (session_id,))

    # messages
    def add_message(
        self,
        session_id: int,
        role: str,
        content: str,
        *,
        status: str = "complete",
        backend: str = "",
        model: str = "",
    ) -> StoredMessage:
        if status not in STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        now = time.time()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO messages (session_id, role, content, status, backend, model,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, role, content, status, backend, model, now, now),
            )
            conn.execute("UPDATE sessions SET updated_at=? WHERE id=?", (now, session_id))
            message_id = int(cur.lastrowid or 0)
        return StoredMessage(
            message_id, session_id, role, content, "", status, {}, backend, model, now
        )

    def save_partial(self, message_id: int, content: str, thinking: str = "") -> None:
        """Rewrite a streaming reply's text (called in batches while tokens arrive)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE messages SET content=?, thinking=?, updated_at=? WHERE id=?",
                (content, thinking, time.time(), message_id),
            )

    def finish_message(
        self,
        message_id: int,
        content: str,
        thinking: str,
        status: str,
        stats: dict[str, Any] | None = None,
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE messages SET content=?, thinking=?, status=?, stats=?, updated_at=?"
                " WHERE id=?",
                (content, thinking, status, json.dumps(stats or {}), time.time(), message_id),
            )

    def delete_message(self, message_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE id=?", (message_id,))

    def messages(self, session_id: int) -> list[StoredMessage]:
        rows = self.db.query("SELECT * FROM messages WHERE session_id=? ORDER BY id", (session_id,))
        return [_message(r) for r in rows]

    def recover_interrupted(self) -> int:
        """Mark replies left streaming by a crash as interrupted; return how many."""
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE messages SET status='interrupted' WHERE status='streaming'")
            return int(cur.rowcount)
