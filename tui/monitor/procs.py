"""Finding backend processes and reading their CPU and memory cheaply.

The match rules look at the program a process runs (argv[0], or for a Python interpreter the
script or ``-m`` module it runs) and its first argument:

===================  =======================================================================
role                 matches
===================  =======================================================================
``ollama``           ``ollama serve``
``ollama-runner``    ``ollama runner ...`` (the model process) and ``ollama_llama_server``
``llama-server``     llama.cpp's ``llama-server``
``llama-cpp-python`` ``python -m llama_cpp.server``
``vllm``             ``vllm serve ...`` and ``python -m vllm.entrypoints...``
``slmdeck``          this process (in-process ONNX models live here)
===================  =======================================================================

A full scan of the process table happens only on slow ticks; in between, the known processes'
``psutil.Process`` objects are kept and read (their ``cpu_percent`` needs the same object across
calls to measure an interval).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from tui.monitor.sample import ProcessSample

ROLE_OLLAMA = "ollama"
ROLE_OLLAMA_RUNNER = "ollama-runner"
ROLE_LLAMA_SERVER = "llama-server"
ROLE_LLAMA_CPP_PYTHON = "llama-cpp-python"
ROLE_VLLM = "vllm"
ROLE_SELF = "slmdeck"

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})
"""Host names that are always this machine."""

Classifier = Callable[[Sequence[str]], "tuple[str, str] | None"]
"""Takes a command line, returns (role, label) for a backend process, else ``None``."""

# Interpreter options that consume the next argument; the script or -m module comes after them.
_PY_OPTS_WITH_ARG = frozenset({"-X", "-W", "--check-hash-based-pycs"})

# Process names (the kernel's 15-character comm) worth reading a command line for: the command
# line is a second /proc read per process, so only candidates pay for it.
_CANDIDATE_NAMES = frozenset(
    {"ollama", "ollama_llama_se", "ollama_llama_server", "llama-server", "vllm"}
)


def _program(path: str) -> str:
    base = os.path.basename(path.replace("\\", "/")).lower()
    return base[:-4] if base.endswith(".exe") else base


def _is_python(program: str) -> bool:
    return program.startswith(("python", "pypy"))


def classify(cmdline: Sequence[str]) -> tuple[str, str] | None:
    """Say which backend a command line runs.

    Args:
        cmdline: The process's argv.

    Returns:
        ``(role, label)``, e.g. ``("ollama", "ollama serve")``, or ``None`` for anything else.
    """
    if not cmdline:
        return None
    program = _program(cmdline[0])
    rest = list(cmdline[1:])
    if _is_python(program):
        i = 0
        while i < len(rest):
            arg = rest[i]
            if arg == "-m":
                module = rest[i + 1] if i + 1 < len(rest) else ""
                return _classify_module(module)
            if arg == "-c":
                return None
            if arg in _PY_OPTS_WITH_ARG:
                i += 2
                continue
            if arg.startswith("-"):
                i += 1
                continue
            program, rest = _program(arg), rest[i + 1 :]
            break
        else:
            return None
    first = rest[0] if rest else ""
    if program == "ollama":
        if first == "serve":
            return ROLE_OLLAMA, "ollama serve"
        if first == "runner":
            return ROLE_OLLAMA_RUNNER, "ollama runner"
        return None
    if program == "ollama_llama_server":
        return ROLE_OLLAMA_RUNNER, "ollama runner"
    if program == "llama-server":
        return ROLE_LLAMA_SERVER, "llama-server"
    if program == "vllm" and first == "serve":
        return ROLE_VLLM, "vllm serve"
    return None


def _classify_module(module: str) -> tuple[str, str] | None:
    if module == "llama_cpp.server" or module.startswith("llama_cpp.server."):
        return ROLE_LLAMA_CPP_PYTHON, "llama_cpp.server"
    if module.startswith("vllm.entrypoints"):
        return ROLE_VLLM, "vllm"
    return None


def _is_candidate(name: str) -> bool:
    return name in _CANDIDATE_NAMES or _is_python(name) or _program(name) in _CANDIDATE_NAMES


@dataclass(slots=True)
class _Tracked:
    proc: psutil.Process
    role: str
    label: str
    primed: bool = False


class ProcessTracker:
    """Keeps the backend processes found by the last scan and reads them each tick."""

    def __init__(self, classifier: Classifier = classify, *, include_self: bool = True) -> None:
        """Create a tracker; nothing is scanned until :meth:`rescan`.

        Args:
            classifier: The match rule (default :func:`classify`).
            include_self: Also report this process as ``slmdeck``.
        """
        self._classifier = classifier
        self._tracked: dict[int, _Tracked] = {}
        self._self: _Tracked | None = None
        if include_self:
            me = psutil.Process()
            self._self = _Tracked(me, ROLE_SELF, "slmdeck")
            self._tracked[me.pid] = self._self
        self.scans = 0
        """How many full scans ran (the slow-field cadence is observable through it)."""

    def rescan(self) -> None:
        """Walk the process table once: add new backend processes, forget ended ones."""
        self.scans += 1
        found: dict[int, _Tracked] = {}
        if self._self is not None:
            found[self._self.proc.pid] = self._self
        for proc in psutil.process_iter():
            pid = proc.pid
            if pid in found:
                continue
            old = self._tracked.get(pid)
            # psutil yields the same object for a pid while its create time matches, so identity
            # also guards against a reused pid.
            if old is not None and old.proc is proc:
                found[pid] = old
                continue
            try:
                if not _is_candidate(proc.name()):
                    continue
                cmdline = proc.cmdline()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            match = self._classifier(cmdline)
            if match is not None:
                found[pid] = _Tracked(proc, match[0], match[1])
        self._tracked = found

    def read(self) -> tuple[ProcessSample, ...]:
        """CPU percent and RSS of every tracked process; ended ones are dropped."""
        out: list[ProcessSample] = []
        gone: list[int] = []
        for pid, entry in self._tracked.items():
            proc = entry.proc
            cpu: float | None
            rss: int | None
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    try:
                        rss = int(proc.memory_info().rss)
                    except psutil.AccessDenied:
                        rss = None
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                gone.append(pid)
                continue
            except psutil.AccessDenied:
                cpu, rss = None, None
            if not entry.primed:
                # psutil's first cpu_percent has no interval behind it and returns 0.0.
                entry.primed = True
                cpu = None
            out.append(ProcessSample(pid, entry.role, entry.label, cpu, rss))
        for pid in gone:
            del self._tracked[pid]
        return tuple(out)

    @property
    def pids(self) -> frozenset[int]:
        """Pids currently tracked."""
        return frozenset(self._tracked)


# ------------------------------------------------------------------------------ for the bench


class ProcessRss:
    """Reads the summed RSS of some processes (and, if asked, their children) over and over.

    The ``psutil.Process`` objects are kept between reads; :meth:`rescan` picks up children that
    started since (a model runner that a server spawns mid-run).
    """

    def __init__(self, pids: Sequence[int], children: bool) -> None:
        self.pids = tuple(pids)
        self.children = children
        self._procs: dict[int, psutil.Process] = {}

    def rescan(self) -> None:
        """Find the processes again (their children may have changed)."""
        procs: dict[int, psutil.Process] = {}
        for pid in self.pids:
            try:
                proc = self._procs.get(pid) or psutil.Process(pid)
                procs[pid] = proc
                if self.children:
                    for child in proc.children(recursive=True):
                        procs[child.pid] = self._procs.get(child.pid) or child
            except psutil.Error:
                continue
        self._procs = procs

    def read(self) -> int | None:
        """Bytes of RSS over the processes found by the last :meth:`rescan`; None if none could
        be read."""
        rss: int | None = None
        for proc in list(self._procs.values()):
            try:
                rss = (rss or 0) + int(proc.memory_info().rss)
            except psutil.Error:
                continue
        return rss


class HostProcesses:
    """This machine's processes as the benchmark sees them (:class:`tui.core.benchmark.Processes`):
    which process listens on a port, what it is, and its RSS. Every method blocks."""

    def is_local(self, host: str) -> bool:
        """Whether ``host`` is an address of this machine (a loopback name or a NIC's address)."""
        if host in LOOPBACK_HOSTS or host.startswith("127."):
            return True
        try:
            addresses = {a.address for nic in psutil.net_if_addrs().values() for a in nic}
        except OSError:
            return False
        return host in addresses

    def listening_pids(self, port: int) -> list[int]:
        """Pids of this user's processes listening on TCP ``port``, sorted (empty if none or
        the table cannot be read)."""
        try:
            return sorted(
                {
                    c.pid
                    for c in psutil.net_connections("tcp")
                    if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
                }
            )
        except (psutil.AccessDenied, OSError):
            return []

    def describe(self, pid: int) -> str:
        """``ollama serve (pid 12)``, ``this process (pid 34)``: what a pid is, as a phrase."""
        if pid == os.getpid():
            return f"this process (pid {pid})"
        try:
            proc = psutil.Process(pid)
            match = classify(proc.cmdline())
            name = match[1] if match else proc.name()
        except (psutil.Error, OSError):
            name = "process"
        return f"{name} (pid {pid})"

    def rss_reader(self, pids: Sequence[int], children: bool) -> ProcessRss:
        """A reader of the RSS of ``pids`` (and their children)."""
        return ProcessRss(pids, children)
