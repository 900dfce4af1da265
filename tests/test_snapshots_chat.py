"""Snapshots of the Chat screen with a stored session (fixed stats, so the picture is stable) and
the gauge strip fed the recorded samples of tests/fixtures/monitor_samples.json."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.waiting import until, workers_done
from tui.app import make_app
from tui.config import Config, data_dir
from tui.monitor import Monitor, load_samples
from tui.store.chats import open_chat_store
from tui.store.db import DB_NAME

MAR_2 = 1709380800.0  # 2024-03-02 12:00 UTC
MAR_3 = 1709467200.0  # 2024-03-03 12:00 UTC

REPLY = """Here is a **small** example:

```python
def tokens_per_second(count: int, seconds: float) -> float:
    return count / seconds
```

| model | tok/s |
| --- | ---: |
| qwen2.5:0.5b | 162.3 |

Stopped text \\x1b]0;shown inert"""


def seeded_app():  # type: ignore[no-untyped-def]
    store = open_chat_store(data_dir())
    older = store.create_session("An older chat", "ollama", "llama3.2:latest")
    store.add_message(older.id, "user", "hello")
    session = store.create_session(
        "Rate maths", "ollama", "qwen2.5:0.5b", "Be brief.", {"temperature": 0.2}
    )
    store.add_message(session.id, "user", "How do I compute tokens per second?")
    reply = store.add_message(session.id, "assistant", "", status="streaming", model="qwen2.5:0.5b")
    stats = {"ttft_s": 0.123, "tokens": 61, "tokens_per_second": 41.7, "counted_by": "backend"}
    store.finish_message(reply.id, REPLY, "", "complete", stats)
    store.add_message(session.id, "user", "And for a batch?")
    cut = store.add_message(session.id, "assistant", "", status="streaming", model="qwen2.5:0.5b")
    store.save_partial(cut.id, "For a batch, divide the")
    store.db.close()
    # Fixed dates (the list shows them), at noon UTC so that no time zone moves the day.
    with contextlib.closing(sqlite3.connect(data_dir() / DB_NAME)) as db, db:
        db.execute(
            "UPDATE sessions SET updated_at=?, created_at=? WHERE id=?", (MAR_2, MAR_2, older.id)
        )
        db.execute(
            "UPDATE sessions SET updated_at=?, created_at=? WHERE id=?", (MAR_3, MAR_3, session.id)
        )
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    samples = load_samples(FIXTURES / "monitor_samples.json")
    return make_app(cfg, start_screen="chat", monitor=Monitor.replay(samples, preload=True))


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.screen.ready.wait()
    await until(pilot, lambda: app.last_sample is not None)
    assert app.last_sample is not None
    await workers_done(app)
    await pilot.pause()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_chat_screen_with_interrupted_reply(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(seeded_app(), terminal_size=size, run_before=settle)


def test_chat_screen_at_80_with_the_sidebar_hidden(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """f4 gives the conversation the 24 columns of the session list."""
    assert snap_compare(seeded_app(), terminal_size=(80, 24), run_before=settle, press=["f4"])
