"""FIFOs and devices where files are expected: nothing blocks, every skipped folder is named.

A FIFO blocks ``open()`` until a writer comes; a thread stuck there can never be cancelled, so the
scan (and the program: the executor waits for it at exit) would hang for good. Each FIFO made here
is released by :func:`release` (a writer opened and closed at once) when a check fails, so even a
regression cannot hang the suite: it fails it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import REPO, TINY_ONNX
from tests.waiting import DEADLINE
from tui.backends.onnx_genai import OnnxGenAIBackend, detect_precision
from tui.config import load_config
from tui.core.gguf_info import GGUFError, ModelFolderError, read_genai_folder, read_gguf
from tui.core.safe_files import NotARegularFile, check_regular, open_regular, read_regular_text

T = TypeVar("T")
FIFO = "a FIFO (named pipe)"


def release(fifos: list[Path]) -> None:
    """Unblock whatever waits in ``open()`` on these FIFOs: a writer comes and goes."""
    for fifo in fifos:
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading, nothing to release
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def in_thread(fn: Callable[[], T], fifos: list[Path]) -> T:
    """Run ``fn`` in a thread; fail (after releasing the FIFOs) if it does not return."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        release(fifos)
        thread.join(DEADLINE)
        pytest.fail("the call blocked on a FIFO")
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture
def model_dir(tmp_path: Path) -> Iterator[tuple[Path, list[Path]]]:
    """``models/`` with the tiny model, a folder whose decoder graph is a FIFO and one whose
    genai_config.json is a FIFO."""
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / "good")
    graph = root / "pipe-graph"
    graph.mkdir()
    shutil.copy(TINY_ONNX / "genai_config.json", graph / "genai_config.json")
    config = json.loads((graph / "genai_config.json").read_text(encoding="utf-8"))
    decoder = config["model"]["decoder"].get("filename", "model.onnx")
    os.mkfifo(graph / decoder)
    (root / "pipe-config").mkdir()
    os.mkfifo(root / "pipe-config" / "genai_config.json")
    fifos = [graph / decoder, root / "pipe-config" / "genai_config.json"]
    yield root, fifos
    release(fifos)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``slmdeck ARGS`` in a subprocess; only a hang reaches the timeout."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            timeout=DEADLINE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"slmdeck {' '.join(args)} hung on a FIFO in a model folder")


def _problems_name_both(problems: list[str], root: Path) -> None:
    graph = [p for p in problems if str(root / "pipe-graph") in p]
    config = [p for p in problems if str(root / "pipe-config") in p]
    assert len(graph) == 1 and len(config) == 1, problems
    assert graph[0] == (
        f"{root / 'pipe-graph' / 'model.onnx'} is {FIFO}, not a regular file, so the model "
        f"folder {root / 'pipe-graph'} cannot be used"
    )
    assert config[0] == (
        f"{root / 'pipe-config' / 'genai_config.json'} cannot be used: it is {FIFO}, not a "
        "regular file"
    )


async def test_list_models_returns_and_reports_both_folders(
    model_dir: tuple[Path, list[Path]],
) -> None:
    root, fifos = model_dir
    backend = OnnxGenAIBackend([root])
    try:
        models = await asyncio.wait_for(backend.list_models(), DEADLINE)
    except TimeoutError:
        release(fifos)
        pytest.fail("list_models blocked on a FIFO")
    assert [m.name for m in models] == ["tiny-llama"]
    _problems_name_both(backend.problems, root)


def test_detect_precision_does_not_open_a_fifo(model_dir: tuple[Path, list[Path]]) -> None:
    root, fifos = model_dir
    config: dict[str, Any] = json.loads(
        (root / "pipe-graph" / "genai_config.json").read_text(encoding="utf-8")
    )
    assert in_thread(lambda: detect_precision(root / "pipe-graph", config, 0), fifos) == ""


def test_slmdeck_models_json_returns_and_names_the_broken_folders(
    model_dir: tuple[Path, list[Path]],
) -> None:
    root, _ = model_dir
    out = cli("models", "--json", env={"SLMDECK_MODEL_DIRS": str(root)})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [m["name"] for m in data["models"] if m["backend"] == "onnx"] == ["tiny-llama"]
    onnx = next(b for b in data["backends"] if b["id"] == "onnx")
    assert onnx["status"] == "up"
    _problems_name_both(onnx["problems"], root)
    assert sum(p.startswith("onnx: ") for p in data["problems"]) == 2


def test_slmdeck_models_and_doctor_say_what_was_skipped(
    model_dir: tuple[Path, list[Path]],
) -> None:
    root, _ = model_dir
    env = {"SLMDECK_MODEL_DIRS": str(root)}
    table = cli("models", env=env)
    assert table.returncode == 0 and "tiny-llama" in table.stdout
    skipped = [line for line in table.stderr.splitlines() if line.startswith("onnx: skipped: ")]
    assert len(skipped) == 2 and str(root / "pipe-graph") in skipped[0] + skipped[1]
    doctor = cli("doctor", env=env)
    assert doctor.returncode == 0  # onnx is up
    assert doctor.stdout.count("    skipped: ") == 2
    assert str(root / "pipe-config" / "genai_config.json") in doctor.stdout
    assert "Traceback" not in table.stderr + doctor.stderr


def test_gguf_and_genai_readers_refuse_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    folder = tmp_path / "onnx"
    folder.mkdir()
    os.mkfifo(folder / "genai_config.json")
    fifos = [fifo, folder / "genai_config.json"]
    try:
        with pytest.raises(GGUFError) as gguf:
            in_thread(lambda: read_gguf(fifo), fifos)
        assert str(gguf.value) == f"{fifo} is {FIFO}, not a GGUF file"
        with pytest.raises(ModelFolderError) as genai:
            in_thread(lambda: read_genai_folder(folder), fifos)
        assert str(genai.value) == (
            f"{folder / 'genai_config.json'} cannot be read (it is {FIFO}, not a regular file)"
        )
    finally:
        release(fifos)


def test_config_file_that_is_a_fifo_gives_defaults_and_a_problem(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    try:
        cfg = in_thread(lambda: load_config(fifo, env={}), [fifo])
    finally:
        release([fifo])
    assert cfg.source is None
    assert cfg.problems == [
        f"{fifo} could not be read (it is {FIFO}, not a regular file); using defaults"
    ]


def test_safe_open_refuses_devices_and_folders(tmp_path: Path) -> None:
    with pytest.raises(NotARegularFile) as device:
        open_regular("/dev/null")
    assert device.value.kind == "a character device"
    assert str(device.value) == "it is a character device, not a regular file"
    assert device.value.filename == "/dev/null"
    with pytest.raises(NotARegularFile, match="it is a folder, not a regular file"):
        check_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    (tmp_path / "f.txt").write_text("ok", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "f.txt")
    assert read_regular_text(tmp_path / "link") == "ok"
    with open_regular(tmp_path / "f.txt") as fh:
        assert os.get_blocking(fh.fileno())  # O_NONBLOCK was only for the open
