"""Editor drafts (autosaved so a crash or lost SSH session never loses an edit) and the audit log."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tui.store.db import Database


@dataclass(frozen=True, slots=True)
class Draft:
    key: str
    """Identifies what is edited: a file path, or ``ollama:<model>``, or ``new:<n>``."""
    kind: str
    """``modelfile`` or ``inference-model``."""
    origin: str
    text: str
    updated_at: float


class DraftStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, key: str, kind: str, text: str, origin: str = "") -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO drafts (key, kind, origin, text, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET kind=excluded.kind, origin=excluded.origin,"
                " text=excluded.text, updated_at=excluded.updated_at",
                (key, kind, origin, text, time.time()),
            )

    def get(self, key: str) -> Draft | None:
        rows = self.db.query("SELECT * FROM drafts WHERE key=?", (key,))
        return _draft(rows[0]) if rows else None

    def pending(self) -> list[Draft]:
        """Drafts not yet saved or discarded, newest first (offered back at start)."""
        return [_draft(r) for r in self.db.query("SELECT * FROM drafts ORDER BY updated_at DESC")]

    def discard(self, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM drafts WHERE key=?", (key,))


def _draft(row: object) -> Draft:
    r = row  # sqlite3.Row
    return Draft(r["key"], r["kind"], r["origin"], r["text"], r["updated_at"])  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    backend: str
    operation: str
    target: str
    outcome: str
    detail: str


class AuditLog:
    """Append-only record of model operations (pull, create, delete, copy, import)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, backend: str, operation: str, target: str, outcome: str, detail: str = ""
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, backend, operation, target, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), backend, operation, target, outcome, detail),
            )

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        rows = self.db.query(
            "SELECT at, backend, operation, target, outcome, detail FROM audit"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(*tuple(r)) for r in rows]
