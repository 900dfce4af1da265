"""Start and stop a real llama.cpp OpenAI-compatible server (llama-cpp-python's) for the tests.

``llamacpp_server(model)`` runs ``python -m llama_cpp.server`` on a free loopback port in its own
process group, waits until ``/v1/models`` answers, yields a :class:`LlamaServer` and kills the whole
group at the end. The server's output goes to a log file whose tail is shown when it fails to start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def available() -> bool:
    """Whether ``llama_cpp`` (with its server extra) can be imported here."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("uvicorn") is not None
        and importlib.util.find_spec("fastapi") is not None
    )


@dataclass(frozen=True)
class LlamaServer:
    """A running server."""

    url: str
    """``http://127.0.0.1:PORT/v1``."""
    port: int
    model_id: str
    """The id ``/v1/models`` lists (the ``--model`` path as given, for llama-cpp-python)."""
    start_seconds: float
    """From spawning the process to the first answer of ``/v1/models``."""
    pid: int
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _models(url: str, api_key: str | None) -> list[str] | None:
    """The ids ``/v1/models`` lists, or None while the server is not answering yet."""
    request = urllib.request.Request(f"{url}/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None
    return [str(m["id"]) for m in data.get("data", [])]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the process group, then kill it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def llamacpp_server(
    model: Path,
    *,
    api_key: str | None = None,
    n_ctx: int = 256,
    chat_format: str | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[LlamaServer]:
    """Run ``python -m llama_cpp.server`` for ``model`` until the ``with`` block ends.

    Args:
        model: The GGUF file; its embedded chat template is used unless ``chat_format`` is given.
        api_key: Passed as ``--api_key``; the server then answers 401 without it.
        n_ctx: Context size of the server.
        chat_format: llama-cpp-python's ``--chat_format`` (e.g. ``chatml``), None for the GGUF's.
        startup_timeout: Seconds to wait for ``/v1/models`` before giving up.

    Yields:
        The running server.

    Raises:
        RuntimeError: The server exited or did not answer in time (with its log's tail).
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    cmd += ["--n_threads", "1", "--verbose", "false"]
    if chat_format:
        cmd += ["--chat_format", chat_format]
    if api_key:
        cmd += ["--api_key", api_key]
    log_fd, log_name = tempfile.mkstemp(prefix="llamacpp-server-", suffix=".log")
    log = Path(log_name)
    start = time.monotonic()
    with os.fdopen(log_fd, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the whole group can be killed
        )
    try:
        ids: list[str] | None = None
        while ids is None:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {proc.returncode}:\n{_tail(log)}")
            if time.monotonic() - start > startup_timeout:
                raise RuntimeError(
                    f"llama.cpp server did not answer within {startup_timeout:g} s:\n{_tail(log)}"
                )
            ids = _models(url, api_key)
            if ids is None:
                time.sleep(0.2)
        yield LlamaServer(
            url=url,
            port=port,
            model_id=ids[0] if ids else "",
            start_seconds=time.monotonic() - start,
            pid=proc.pid,
            log=log,
        )
    finally:
        _stop(proc)
        with contextlib.suppress(OSError):
            log.unlink()


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
