"""Benchmark results on disk: one ``bench_runs`` row per model and prompt of a bench.

The headline figures (medians) have their own columns for sorting and queries; ``result`` holds the
whole :class:`~tui.core.benchmark.ModelResult` as JSON (every run, the spreads, where each figure
came from), so a stored result reads back exactly as it was measured.
Every call is blocking: callers on the event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from tui.core.benchmark import ModelResult
from tui.store.db import Database

log = logging.getLogger(__name__)

RECENT_LIMIT = 200
"""How many past results the Bench screen loads."""


def open_bench_store(directory: Path) -> BenchStore:
    """Open (creating and migrating as needed) the database in ``directory``; blocking."""
    return BenchStore(Database.in_dir(directory))


class BenchStore:
    """Blocking API over :class:`Database` for benchmark results."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, result: ModelResult, batch: str) -> ModelResult:
        """Store one result of the bench ``batch``; returns it with its row id.

        Raises:
            StoreError: The database could not be written (the message says why).
        """
        ttft, prompt, decode = result.ttft, result.prompt_tps, result.decode_tps
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO bench_runs (batch, started_at, backend, model, prompt, prompt_set,"
                " status, ttft_s, prompt_tps, decode_tps, peak_rss, peak_vram, result)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch,
                    result.started_at,
                    result.backend,
                    result.model,
                    result.prompt,
                    result.prompt_set,
                    result.status,
                    ttft.median if ttft else None,
                    prompt.median if prompt else None,
                    decode.median if decode else None,
                    result.peak_rss,
                    result.peak_vram,
                    json.dumps(result.to_dict(), ensure_ascii=False),
                ),
            )
            row_id = int(cur.lastrowid or 0)
        return replace(result, id=row_id)

    def recent(self, limit: int = RECENT_LIMIT) -> list[ModelResult]:
        """The latest results, newest first; a row that no longer parses is skipped and logged."""
        rows = self.db.query(
            "SELECT id, result FROM bench_runs ORDER BY started_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        out: list[ModelResult] = []
        for row in rows:
            try:
                out.append(ModelResult.from_dict(json.loads(row["result"]), id=int(row["id"])))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                log.warning("skipping bench result %s: %s", row["id"], exc)
        return out

    def delete(self, row_id: int) -> None:
        """Forget one stored result."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM bench_runs WHERE id = ?", (row_id,))
