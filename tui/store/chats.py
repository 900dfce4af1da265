"""Chat sessions and messages on disk, written as replies stream in.

A reply is inserted with status ``streaming`` when generation starts; while tokens arrive, each
batch is appended as a row of ``message_parts`` (its cost is that of the new text, not of the reply
so far: rewriting a 50 MB row four times a second would write gigabytes), and the finished reply
is written whole into ``messages`` once, its parts deleted. :meth:`ChatStore.recover_interrupted`
(run at start) joins the parts of replies left ``streaming`` by a crash or ``kill -9`` into their
text and marks them ``interrupted``, keeping every token saved so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tui.core.chat.export import export_documents
from tui.core.chat.records import STATUSES, Session, StoredMessage
from tui.store.db import BUSY_TIMEOUT, Database
from tui.store.files import save_atomic

__all__ = ["STATUSES", "ChatStore", "Session", "StoredMessage", "export_session", "open_chat_store"]


def open_chat_store(directory: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> ChatStore:
    """Open (creating and migrating as needed) the chat store in ``directory``.

    Also marks replies a crash left ``streaming`` as ``interrupted``. Blocking: call it in a thread.

    Raises:
        StoreError: It cannot be opened or written (read-only, damaged, locked); the file is left
            as it is.
    """
    db = Database.in_dir(directory, busy_timeout=busy_timeout)
    store = ChatStore(db)
    try:
        store.recover_interrupted()
    except BaseException:
        db.close()
        raise
    return store


PARTS_TABLE = """
CREATE TABLE IF NOT EXISTS message_parts (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    content TEXT NOT NULL DEFAULT '',
    thinking TEXT NOT NULL DEFAULT ''
)
"""
"""Batches of streaming replies, in order of ``id``. Created here rather than by a migration: an
older slmdeck opening the file ignores the table, and a newer one finds it."""

PARTS_INDEX = "CREATE INDEX IF NOT EXISTS message_parts_by_message ON message_parts(message_id, id)"


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
        self._parts_ready = False

    def _ensure_parts(self) -> None:
        if self._parts_ready:
            return
        with self.db.transaction() as conn:
            conn.execute(PARTS_TABLE)
            conn.execute(PARTS_INDEX)
        self._parts_ready = True

    @property
    def path(self) -> Path:
        return self.db.path

    def close(self) -> None:
        self.db.close()

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
        """Rewrite a streaming reply's whole text so far (its batches written before included)."""
        self._ensure_parts()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM message_parts WHERE message_id=?", (message_id,))
            conn.execute(
                "UPDATE messages SET content=?, thinking=?, updated_at=? WHERE id=?",
                (content, thinking, time.time(), message_id),
            )

    def append_partial(self, message_id: int, content: str, thinking: str = "") -> None:
        """Add a batch of a streaming reply: the text that arrived since the last batch."""
        if not content and not thinking:
            return
        self._ensure_parts()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO message_parts (message_id, content, thinking) VALUES (?, ?, ?)",
                (message_id, content, thinking),
            )

    def _fold_parts(self, conn: Any, message_id: int) -> None:
        """Join a reply's batches into its text (in the caller's transaction)."""
        rows = conn.execute(
            "SELECT content, thinking FROM message_parts WHERE message_id=? ORDER BY id",
            (message_id,),
        ).fetchall()
        if not rows:
            return
        head = conn.execute(
            "SELECT content, thinking FROM messages WHERE id=?", (message_id,)
        ).fetchone()
        if head is not None:
            content = "".join([head[0], *(r[0] for r in rows)])
            thinking = "".join([head[1], *(r[1] for r in rows)])
            conn.execute(
                "UPDATE messages SET content=?, thinking=? WHERE id=?",
                (content, thinking, message_id),
            )
        conn.execute("DELETE FROM message_parts WHERE message_id=?", (message_id,))

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
        self._ensure_parts()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE messages SET content=?, thinking=?, status=?, stats=?, updated_at=?"
                " WHERE id=?",
                (content, thinking, status, json.dumps(stats or {}), time.time(), message_id),
            )
            conn.execute("DELETE FROM message_parts WHERE message_id=?", (message_id,))

    def delete_message(self, message_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE id=?", (message_id,))

    def recent_messages(self, session_id: int, limit: int) -> tuple[list[StoredMessage], int]:
        """The last ``limit`` messages of a session, in order, and how many come before them."""
        rows = self.db.query(
            "SELECT *, (SELECT count(*) FROM messages WHERE session_id=?1) AS total FROM messages"
            " WHERE session_id=?1 ORDER BY id DESC LIMIT ?2",
            (session_id, limit),
        )
        total = int(rows[0]["total"]) if rows else 0
        return self._read(reversed(rows)), max(0, total - len(rows))

    def _read(self, rows: Any) -> list[StoredMessage]:
        """Messages from rows; a reply still streaming (in another slmdeck, say) gets the
        batches saved so far."""
        messages = [_message(r) for r in rows]
        for m in messages:
            if m.status == "streaming":
                self._ensure_parts()
                parts = self.db.query(
                    "SELECT content, thinking FROM message_parts WHERE message_id=? ORDER BY id",
                    (m.id,),
                )
                m.content = "".join([m.content, *(p["content"] for p in parts)])
                m.thinking = "".join([m.thinking, *(p["thinking"] for p in parts)])
        return messages

    def messages_before(
        self, session_id: int, before_id: int, limit: int
    ) -> tuple[list[StoredMessage], int]:
        """The ``limit`` messages before message ``before_id``, in order, and how many come
        before those."""
        rows = self.db.query(
            "SELECT *, (SELECT count(*) FROM messages WHERE session_id=?1 AND id<?2) AS total"
            " FROM messages WHERE session_id=?1 AND id<?2 ORDER BY id DESC LIMIT ?3",
            (session_id, before_id, limit),
        )
        total = int(rows[0]["total"]) if rows else 0
        return self._read(reversed(rows)), max(0, total - len(rows))

    def write_turn(
        self,
        session: Session,
        add: Sequence[StoredMessage],
        delete: Sequence[int] = (),
        *,
        rewrite: Sequence[StoredMessage] = (),
        update_session: bool = False,
    ) -> None:
        """In one transaction: store ``session`` if new (else update it when ``update_session``),
        delete ``delete``, rewrite ``rewrite`` and insert ``add``; ids are set once committed."""
        for m in (*add, *rewrite):
            if m.status not in STATUSES:
                raise ValueError(f"unknown message status {m.status!r}")
        if rewrite:
            self._ensure_parts()
        now = time.time()
        with self.db.transaction() as conn:
            session_id = session.id
            if session_id <= 0:
                cur = conn.execute(
                    "INSERT INTO sessions (title, backend, model, system_prompt, options,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        session.title,
                        session.backend,
                        session.model,
                        session.system_prompt,
                        json.dumps(session.options),
                        session.created_at or now,
                        now,
                    ),
                )
                session_id = int(cur.lastrowid or 0)
            elif update_session:
                conn.execute(
                    "UPDATE sessions SET title=?, backend=?, model=?, system_prompt=?, options=?,"
                    " updated_at=? WHERE id=?",
                    (
                        session.title,
                        session.backend,
                        session.model,
                        session.system_prompt,
                        json.dumps(session.options),
                        now,
                        session_id,
                    ),
                )
            else:
                conn.execute("UPDATE sessions SET updated_at=? WHERE id=?", (now, session_id))
            for message_id in delete:
                conn.execute("DELETE FROM messages WHERE id=?", (message_id,))
            for m in rewrite:
                conn.execute("DELETE FROM message_parts WHERE message_id=?", (m.id,))
                conn.execute(
                    "UPDATE messages SET content=?, thinking=?, status=?, stats=?, updated_at=?"
                    " WHERE id=?",
                    (m.content, m.thinking, m.status, json.dumps(m.stats), now, m.id),
                )
            ids = []
            for m in add:
                cur = conn.execute(
                    "INSERT INTO messages (session_id, role, content, thinking, status, stats,"
                    " backend, model, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        m.role,
                        m.content,
                        m.thinking,
                        m.status,
                        json.dumps(m.stats),
                        m.backend,
                        m.model,
                        m.created_at or now,
                        now,
                    ),
                )
                ids.append(int(cur.lastrowid or 0))
        # Committed: only now do the records in memory say they are stored.
        session.id, session.updated_at = session_id, now
        if not session.created_at:
            session.created_at = now
        for m, message_id in zip(add, ids, strict=True):
            m.id, m.session_id = message_id, session_id

    def messages(self, session_id: int) -> list[StoredMessage]:
        rows = self.db.query("SELECT * FROM messages WHERE session_id=? ORDER BY id", (session_id,))
        return self._read(rows)

    def recover_interrupted(self) -> int:
        """Join the saved batches of replies left streaming by a crash into their text and mark
        them interrupted; return how many."""
        self._ensure_parts()
        with self.db.transaction() as conn:
            left = [
                int(r[0])
                for r in conn.execute("SELECT DISTINCT message_id FROM message_parts").fetchall()
            ]
            for message_id in left:
                self._fold_parts(conn, message_id)
            cur = conn.execute("UPDATE messages SET status='interrupted' WHERE status='streaming'")
            return int(cur.rowcount)


def export_session(store: ChatStore, session_id: int, directory: Path) -> tuple[Path, Path]:
    """Write ``session-<id>-<title>.md`` and ``.json`` into ``directory`` atomically; blocking.

    Raises:
        ValueError: The session does not exist.
        FileSaveError: A file could not be written.
    """
    session = store.session(session_id)
    if session is None:
        raise ValueError(f"session {session_id} does not exist")
    messages = store.messages(session_id)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, text in export_documents(session, messages):
        save_atomic(directory / name, text, backup=False)
        paths.append(directory / name)
    return paths[0], paths[1]
