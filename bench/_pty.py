"""Run a terminal program in a pseudo-terminal and watch what it writes (shared by the benchmarks)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path


class PtyProcess:
    """A child process attached to a pty of a given size; output is collected as bytes."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        size: tuple[int, int] = (100, 30),
        cwd: Path | None = None,
    ) -> None:
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
        }
        full_env.update(env or {})
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.marks: list[tuple[float, int]] = []
        """(time since start, len(output)) after each read."""

    def read_for(self, seconds: float) -> None:
        self.read_until(lambda _out: False, seconds)

    def read_until(self, predicate, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
        """Read until ``predicate(output)`` is true; return seconds since start, or None on timeout."""
        deadline = time.perf_counter() + timeout
        while True:
            if predicate(self.output):
                return time.perf_counter() - self.started
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return None
                if not chunk:
                    return None
                self.output += chunk
                self.marks.append((time.perf_counter() - self.started, len(self.output)))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def close(self, quit_keys: bytes = b"q", timeout: float = 5.0) -> int:
        """Ask the program to quit with ``quit_keys``; kill it if it does not."""
        try:
            self.send(quit_keys)
        except OSError:
            pass
        end = time.perf_counter() + timeout
        while self.proc.poll() is None and time.perf_counter() < end:
            self.read_for(0.05)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait()
        os.close(self.master)
        return code
