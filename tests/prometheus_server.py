"""Real Prometheus and node_exporter (Debian's ``prometheus`` and ``prometheus-node-exporter``) on
loopback ports, each with its own config and data dir, for the fleet tests.

``.ci/run`` installs both packages when they are missing. Each helper starts the binary, waits
until it answers (an event, with a far deadline that only turns a hang into a failure) and stops
it, its whole process group, when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
STARTUP = 120.0
"""Seconds a binary may take to answer; far beyond any machine's pace (a hang fails, not waits)."""

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def have(binary: str) -> bool:
    return shutil.which(binary) is not None or Path(binary).is_file()


def missing_reason(*binaries: str) -> str:
    gone = [b for b in binaries if not have(b)]
    return f"needs {', '.join(gone)} (apt-get install prometheus prometheus-node-exporter)"


def get(url: str, timeout: float = 10.0) -> bytes:
    with _opener.open(url, timeout=timeout) as resp:
        data: bytes = resp.read()
        return data


def get_json(url: str) -> Any:
    return json.loads(get(url))


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _wait(process: Process, probe: str) -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.proc.args} exited:\n{process.tail()}")
        try:
            get(probe, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{probe} did not answer:\n{process.tail()}")
        time.sleep(0.05)  # waiting for the process to listen: a poll of an event, not a delay


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@contextlib.contextmanager
def _run(cmd: list[str], url: str, probe: str, log: Path) -> Iterator[Process]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        )
    process = Process(proc, url, log)
    try:
        _wait(process, probe)
        yield process
    finally:
        _stop(proc)


@contextlib.contextmanager
def node_exporter(
    workdir: Path,
    collectors: tuple[str, ...] = ("cpu", "meminfo", "filesystem"),
    *,
    address: str = "127.0.0.1",
) -> Iterator[Process]:
    """A node_exporter with ``collectors`` only (default: those the fleet reads), listening on
    ``address`` (any of 127.0.0.0/8: another host on this machine)."""
    port = closed_port()
    url = f"http://{address}:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        NODE_EXPORTER,
        f"--web.listen-address={address}:{port}",
        "--collector.disable-defaults",
        *(f"--collector.{c}" for c in collectors),
    ]
    with _run(cmd, url, url + "/metrics", workdir / "node_exporter.log") as process:
        yield process


@contextlib.contextmanager
def prometheus(
    workdir: Path, jobs: dict[str, list[str]], *, scrape_interval: str = "1s"
) -> Iterator[Process]:
    """A Prometheus scraping ``jobs`` (job name → ``host:port`` targets) every ``scrape_interval``,
    with its config and TSDB under ``workdir``."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {scrape_interval}",
        "scrape_configs:",
    ]
    for job, targets in jobs.items():
        lines += [
            f"  - job_name: {json.dumps(job)}",
            "    static_configs:",
            f"      - targets: {json.dumps(targets)}",
        ]
    config = workdir / "prometheus.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    with _run(cmd, url, url + "/-/ready", workdir / "prometheus.log") as process:
        yield process


def gauge(exporter: Process, name: str) -> float:
    """The value of the unlabelled gauge ``name`` the exporter serves now (its ``/metrics``)."""
    for line in get(exporter.url + "/metrics").decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{exporter.url}/metrics has no {name}")


def wait_for_samples(prom: Process, query: str, count: int = 1) -> None:
    """Until ``query`` returns at least ``count`` series (Prometheus has scraped enough)."""
    from urllib.parse import quote

    deadline = time.monotonic() + STARTUP
    while True:
        data = get_json(f"{prom.url}/api/v1/query?query={quote(query)}")
        if len(data.get("data", {}).get("result", [])) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never had {count} series for {query}")
        time.sleep(0.1)  # polling Prometheus' own state until it has scraped: an event wait
