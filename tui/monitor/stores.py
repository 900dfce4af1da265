"""Where the model stores live, one path per file system (for the disk gauges)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def ollama_store() -> Path:
    """Ollama's model store: ``OLLAMA_MODELS`` or ``~/.ollama/models`` (Ollama's own default)."""
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env) if env else Path.home() / ".ollama" / "models"


def one_per_filesystem(paths: Iterable[Path]) -> list[Path]:
    """Keep the first path of each file system, in order.

    Several model dirs on one disk would repeat the same figures. A path not created yet counts
    as its nearest existing parent; one whose file system cannot be read is left out.
    """
    seen: set[int] = set()
    out: list[Path] = []
    for path in paths:
        where = path.expanduser()
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            device = where.stat().st_dev
        except OSError:
            continue
        if device not in seen:
            seen.add(device)
            out.append(path)
    return out
