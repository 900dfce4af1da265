"""The headless CLI: --version, models [--json], doctor; all without a TTY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO
from tui import __version__


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"slmdeck {__version__}"


def test_models_json_lists_the_tiny_onnx_model() -> None:
    out = run("models", "--json", env={"SLMDECK_MODEL_DIRS": str(FIXTURES)})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    [model] = [m for m in data["models"] if m["backend"] == "onnx"]
    assert model["name"] == "tiny-llama"
    assert model["quantization"] == "int4"
    assert Path(model["path"]) == FIXTURES / "tiny-llama-onnx-int4"
    states = {b["id"]: b for b in data["backends"]}
    assert states["onnx"]["status"] == "up"
    assert states["ollama"]["status"] == "down"
    assert "connection refused" in states["ollama"]["detail"]


def test_models_table_and_down_reasons_on_stderr() -> None:
    out = run("models", env={"SLMDECK_MODEL_DIRS": str(FIXTURES)})
    assert out.returncode == 0
    assert out.stdout.splitlines()[0].split()[:3] == ["NAME", "BACKEND", "FAMILY"]
    assert "tiny-llama" in out.stdout
    assert "ollama: down: Ollama at 127.0.0.1:" in out.stderr


def test_doctor_explains_what_is_missing(isolated_env: Path) -> None:
    cfg = isolated_env / "config" / "config.toml"
    cfg.write_text("[ollama\n", encoding="utf-8")
    out = run("doctor")
    assert out.returncode == 1  # nothing is up
    assert "not valid TOML" in out.stdout
    assert "none configured" in out.stdout
    assert "is not running (connection refused)" in out.stdout
    assert "GPU" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_unknown_screen_exits_2() -> None:
    out = run("ui", "--screen", "nope")
    assert out.returncode == 2
    assert "unknown screen 'nope'" in out.stderr


@pytest.mark.parametrize("argv", [["models"], ["models", "--json"]])
def test_broken_pipe_is_quiet(argv: list[str]) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m tui.cli {' '.join(argv)} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "SLMDECK_MODEL_DIRS": str(FIXTURES)},
        timeout=60,
    )
    assert "Traceback" not in proc.stderr


def test_screen_name_is_case_insensitive_and_help_lists_the_screens() -> None:
    from tui.cli import build_parser
    from tui.screens import SCREENS

    assert build_parser().parse_args(["ui", "--screen", "Chat"]).screen == "chat"
    out = run("--help")
    assert out.returncode == 0
    assert ", ".join(SCREENS) in " ".join(out.stdout.split())
    out = run("ui", "--help")
    assert all(name in out.stdout for name in SCREENS)


def test_fit_of_a_model_that_is_nowhere_exits_non_zero() -> None:
    out = run("fit", "nosuch:model", env={"OLLAMA_HOST": "127.0.0.1:9"})
    assert out.returncode != 0
    assert "nosuch:model" in out.stderr and "Traceback" not in out.stderr
