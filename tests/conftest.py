"""Shared fixtures: every test runs with its own config, data and home dirs, and no real Ollama."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_ONNX = FIXTURES / "tiny-llama-onnx-int4"
TINY_GGUF = FIXTURES / "tiny-llama-f32.gguf"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.fixture
def free_port() -> Iterator[int]:
    yield closed_port()
