"""The SQLite store: migrations, chat persistence as it streams, crash recovery, drafts, audit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tui.store.chats import ChatStore
from tui.store.db import SCHEMA_VERSION, Database, StoreError
from tui.store.drafts import AuditLog, DraftStore


def test_fresh_db_is_wal_and_current(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    assert db.schema_version == SCHEMA_VERSION
    mode = db.query("PRAGMA journal_mode")[0][0]
    assert mode == "wal"


def test_migrates_a_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "slmdeck.db"
    from tui.store import db as dbmod

    conn = sqlite3.connect(path)
    for stmt in dbmod._split(dbmod.MIGRATIONS[0]):
        conn.execute(stmt)
    conn.execute("INSERT INTO sessions (title, created_at, updated_at) VALUES ('old', 1, 1)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    db = Database(path)
    assert db.schema_version == SCHEMA_VERSION
    assert [s.title for s in ChatStore(db).sessions()] == ["old"]
    DraftStore(db).save("k", "modelfile", "FROM x\n")  # the v2 table exists


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "slmdeck.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer slmdeck"):
        Database(path)


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="Cannot open the database"):
        Database(blocker / "sub" / "slmdeck.db")


def test_chat_round_trip(tmp_path: Path) -> None:
    store = ChatStore(Database.in_dir(tmp_path))
    s = store.create_session("first", "ollama", "llama3.2", options={"temperature": 0.2})
    store.add_message(s.id, "user", "hi")
    reply = store.add_message(s.id, "assistant", "", status="streaming", backend="ollama")
    store.save_partial(reply.id, "Hel")
    store.save_partial(reply.id, "Hello", "thinking...")
    store.finish_message(reply.id, "Hello!", "thinking...", "complete", {"completion_tokens": 3})
    msgs = store.messages(s.id)
    assert [(m.role, m.content, m.status) for m in msgs] == [
        ("user", "hi", "complete"),
        ("assistant", "Hello!", "complete"),
    ]
    assert msgs[1].stats == {"completion_tokens": 3} and msgs[1].thinking == "thinking..."
    assert store.session(s.id).options == {"temperature": 0.2}  # type: ignore[union-attr]
    store.delete_session(s.id)
    assert store.messages(s.id) == []


def test_kill_9_mid_write_keeps_saved_batches(tmp_path: Path) -> None:
    """A process saving partial replies is SIGKILLed; a new process recovers every saved batch."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from tui.store.db import Database
from tui.store.chats import ChatStore
store = ChatStore(Database.in_dir(Path({str(tmp_path)!r})))
s = store.create_session("t", "b", "m")
r = store.add_message(s.id, "assistant", "", status="streaming")
text = ""
for i in range(50):
    text += f"tok{{i}} "
    store.save_partial(r.id, text)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    store = ChatStore(Database.in_dir(tmp_path))
    assert store.recover_interrupted() == 1
    [session] = store.sessions()
    [msg] = store.messages(session.id)
    assert msg.status == "interrupted"
    assert msg.content == "".join(f"tok{i} " for i in range(50))
    assert store.recover_interrupted() == 0


def test_drafts_and_audit(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    drafts = DraftStore(db)
    drafts.save("/etc/Modelfile", "modelfile", "FROM a\n", origin="file")
    drafts.save("/etc/Modelfile", "modelfile", "FROM b\n", origin="file")
    assert drafts.get("/etc/Modelfile").text == "FROM b\n"  # type: ignore[union-attr]
    assert [d.key for d in drafts.pending()] == ["/etc/Modelfile"]
    drafts.discard("/etc/Modelfile")
    assert drafts.pending() == []
    audit = AuditLog(db)
    audit.record("ollama", "pull", "llama3.2", "done")
    audit.record("ollama", "delete", "x", "failed", "model 'x' not found")
    assert [(e.operation, e.outcome) for e in audit.recent()] == [
        ("delete", "failed"),
        ("pull", "done"),
    ]
