"""Shared fixtures: every test runs with its own config, data and home dirs, and no real Ollama."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ALLOWED_SKIPS = (
    # The NVML tests that need a real NVIDIA driver, and their mirror on a machine that has one.
    "no NVIDIA driver on this machine",
    "this machine has an NVIDIA driver",
    # Neither a read-only mount (root) nor a read-only mode (other users) can be made here.
    "read-only mount unavailable",
)
"""Reasons a test may be skipped for (the reason starts with one). Any other skip fails the run:
a missing fixture, server or tool is a failure, never a quiet skip."""

REACHABLE = 60.0
"""Probe timeout for tests whose backend is up (a replay or a real server on loopback): a backend
that answers must never be taken for down because a busy machine answered slowly. Tests of a down
backend use a closed port (refused at once) or set their own timeout."""

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_ONNX = FIXTURES / "tiny-llama-onnx-int4"
TINY_GGUF = FIXTURES / "tiny-llama-f32.gguf"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Turn a skip whose reason is not in :data:`ALLOWED_SKIPS` into a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not reason.startswith(ALLOWED_SKIPS):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped for a reason not allowed in tests/conftest.py ALLOWED_SKIPS: {reason}"
        )


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config, data and home at empty temp dirs; Ollama at a closed port."""
    root = tmp_path_factory.mktemp("env")
    for name in ("config", "data", "home"):
        (root / name).mkdir()
    monkeypatch.setenv("SLMDECK_CONFIG", str(root / "config" / "config.toml"))
    monkeypatch.setenv("SLMDECK_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "data"))
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.delenv("SLMDECK_MODEL_DIRS", raising=False)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    return root


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cursors stay lit instead of blinking: a snapshot must not catch one mid-blink (harlequin
    and posting turn blinking off in their test fixtures the same way)."""
    from textual.widgets import Input, TextArea

    def lit(self: Input) -> None:
        self._cursor_visible = True

    monkeypatch.setattr(Input, "_toggle_cursor", lit)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


@pytest.fixture
def free_port() -> Iterator[int]:
    yield closed_port()
