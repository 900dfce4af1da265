"""The SQLite database in the data dir: WAL mode, versioned schema, migrations.

One file (``slmdeck.db``) holds chat sessions and messages, editor drafts and the audit log of model
operations. Writes are small and frequent (a streaming reply is saved every ~250 ms), so WAL with
``synchronous=NORMAL`` keeps them cheap while a crash loses at most the last batch.
Every call is blocking: callers on the event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tui.core.chat.records import StoreError

__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "Database", "StoreError", "cause_of"]

DB_NAME = "slmdeck.db"

MIGRATIONS: list[str] = [
    # 1: chat sessions and messages
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        system_prompt TEXT NOT NULL DEFAULT '',
        options TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        thinking TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete',
        stats TEXT NOT NULL DEFAULT '{}',
        backend TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_by_session ON messages(session_id, id);
    """,
    # 2: editor drafts and the audit log of model operations
    """
    CREATE TABLE drafts (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        backend TEXT NOT NULL,
        operation TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: benchmark results, one row per model and prompt (every run's figures in ``result``)
    """
    CREATE TABLE bench_runs (
        id INTEGER PRIMARY KEY,
        batch TEXT NOT NULL,
        started_at REAL NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        prompt_set TEXT NOT NULL,
        status TEXT NOT NULL,
        ttft_s REAL,
        prompt_tps REAL,
        decode_tps REAL,
        peak_rss INTEGER,
        peak_vram INTEGER,
        result TEXT NOT NULL
    );
    CREATE INDEX bench_runs_by_time ON bench_runs(started_at DESC, id DESC);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another connection's transaction before it fails as locked."""


def cause_of(exc: BaseException, path: Path) -> str:
    """Why ``path`` could not be used, as one of :data:`tui.core.chat.records.CAUSES`.

    SQLite reports most causes in words only (``sqlite_errorname`` where Python has it).
    """
    if isinstance(exc, OSError):
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return "read-only"
        if exc.errno == errno.ENOSPC:
            return "full"
        return "other"
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or (
        "not a database" in text or "malformed" in text
    ):
        return "corrupt"
    if name.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        return "read-only"
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return "full"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        # SQLite does not say why: a folder that refuses new files is the usual reason.
        folder = path.parent
        if folder.is_dir() and not os.access(folder, os.W_OK):
            return "read-only"
        if path.exists() and not os.access(path, os.W_OK):
            return "read-only"
    return "other"


class Database:
    """A thread-safe connection to slmdeck's SQLite file."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except StoreError:
            with _quietly():
                self._conn.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            with _quietly():
                self._conn.close()
            raise StoreError(
                f"Cannot open the database {path}: {exc}", cause=cause_of(exc, path), path=path
            ) from exc

    @classmethod
    def in_dir(cls, directory: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> Database:
        return cls(directory / DB_NAME, busy_timeout=busy_timeout)

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer slmdeck (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade slmdeck or move the file away",
                cause="newer",
                path=self.path,
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in _split(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically; raises StoreError (e.g. disk full) after rolling back."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(
                    f"Could not write to {self.path}: {exc}",
                    cause=cause_of(exc, self.path),
                    path=self.path,
                ) from exc
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(
                    f"Could not read {self.path}: {exc}",
                    cause=cause_of(exc, self.path),
                    path=self.path,
                ) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@contextmanager
def _quietly() -> Iterator[None]:
    try:
        yield
    except Exception:  # nothing to close, or closing failed: the opening error is what matters
        pass


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
