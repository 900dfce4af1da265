"""Heavy modules load on first use, never at start: the app's import must not pull them in."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("onnxruntime_genai", "onnxruntime", "pynvml", "numpy", "gguf", "ollama", "llama_cpp")


def imported_modules(statement: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("statement", ["import tui.app", "import tui.cli", "import tui.controller"])
def test_no_heavy_imports_at_start(statement: str) -> None:
    names = imported_modules(statement)
    assert names, "importtime printed nothing"
    loaded = sorted(n for n in names if n.split(".")[0] in HEAVY)
    assert loaded == [], f"{statement} imported {loaded}"


def test_cli_does_not_import_textual() -> None:
    names = imported_modules("import tui.cli")
    assert not any(n.split(".")[0] == "textual" for n in names)


def test_every_package_is_shipped() -> None:
    """pyproject lists packages explicitly (to ship themes/ as tui.themes); none may be missing."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(data["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "tui").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - {"tui.themes"} <= listed
    assert "tui.themes" in listed
