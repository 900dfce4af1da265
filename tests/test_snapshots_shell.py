"""Snapshots of the app shell (backends screen) with every backend down, at 100x30 and 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.app import make_app
from tui.config import Config


def shell_app():  # type: ignore[no-untyped-def]
    # Port 1 is never served here: "connection refused" is deterministic.
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=1.0,
        retry_interval=0,
    )
    return make_app(cfg)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    await pilot.pause()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_backends_screen_all_down(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(shell_app(), terminal_size=size, run_before=settle)
