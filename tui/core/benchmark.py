"""Benchmarking models: the same prompts on several models and backends, llama-bench style figures.

For each model, one untimed warm-up loads it (its time is reported as the load time), then every
prompt of the set runs ``repetitions`` times with ``temperature 0`` and a fixed seed. Each run
measures:

* **TTFT**: request sent to first streamed token, timed here (the user-visible latency).
* **prompt tokens and prompt tok/s**: from the backend's own counters where it gives them (Ollama's
  ``prompt_eval_count``/``prompt_eval_duration``), else the backend's prompt count over TTFT.
* **generated tokens and decode tok/s**: the backend's counters where given (``eval_count``/
  ``eval_duration``), else streamed chunks counted and timed here (first to last chunk).
* **peak RSS** of the process(es) doing the work, sampled in a thread while the run streams: the
  server listening on the backend's port and its children (e.g. ``ollama serve`` and its runner),
  or this process for in-process ONNX Runtime; **peak VRAM** where a reader for it is given.
  The processes are found and read through an injected :class:`Processes` (the monitor's
  :class:`tui.monitor.procs.HostProcesses`): this module samples nothing itself.

Each figure carries its :class:`Source`, so a table never mixes a server's own timer with a client
estimate silently. Aggregates are medians with the low-high spread over the runs.

Cancellation: cancelling the task iterating :meth:`Benchmark.run` closes the chat stream in flight
(which stops generation: see :meth:`tui.backends.base.Backend.chat`) and keeps the completed runs
as a ``cancelled`` result.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from tui.backends.base import (
    Backend,
    BackendError,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ChatStats,
    InvalidInput,
)
from tui.core.bench_prompts import PROMPT_SETS, BenchPrompt

if TYPE_CHECKING:
    from tui.monitor.sample import Sample

VramReader = Callable[[], int | None]
"""Returns bytes of GPU memory in use now, or ``None`` when there is no reading."""

SAMPLE_INTERVAL = 0.05
"""Seconds between memory samples during a run."""
CHILD_RESCAN_EVERY = 20
"""Samples between re-reading a server's child processes (a runner may start mid-run)."""
DEFAULT_SEED = 42


class Source(enum.StrEnum):
    """Where a figure came from."""

    BACKEND = "backend"
    """The backend's own counters and timers (e.g. Ollama's eval_count / eval_duration)."""
    CLIENT = "client"
    """Counted and timed here, from the streamed chunks."""
    NONE = "none"
    """Not available."""


# ------------------------------------------------------------------------------------------ figures


@dataclass(frozen=True, slots=True)
class RunResult:
    """The figures of one timed run (one prompt, one repetition)."""

    prompt: str
    repetition: int
    ttft_s: float | None
    prompt_tokens: int | None
    prompt_tps: float | None
    prompt_source: Source
    gen_tokens: int | None
    gen_tokens_source: Source
    decode_tps: float | None
    decode_source: Source
    total_s: float
    chunks: int
    peak_rss: int | None = None
    peak_vram: int | None = None
    done_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "prompt": self.prompt,
            "repetition": self.repetition,
            "ttft_s": self.ttft_s,
            "prompt_tokens": self.prompt_tokens,
            "prompt_tps": self.prompt_tps,
            "prompt_source": str(self.prompt_source),
            "gen_tokens": self.gen_tokens,
            "gen_tokens_source": str(self.gen_tokens_source),
            "decode_tps": self.decode_tps,
            "decode_source": str(self.decode_source),
            "total_s": self.total_s,
            "chunks": self.chunks,
            "peak_rss": self.peak_rss,
            "peak_vram": self.peak_vram,
            "done_reason": self.done_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a run from :meth:`to_dict` output (raises KeyError/ValueError on bad data)."""
        return cls(
            prompt=str(data["prompt"]),
            repetition=int(data["repetition"]),
            ttft_s=_opt_float(data.get("ttft_s")),
            prompt_tokens=_opt_int(data.get("prompt_tokens")),
            prompt_tps=_opt_float(data.get("prompt_tps")),
            prompt_source=Source(data.get("prompt_source", "none")),
            gen_tokens=_opt_int(data.get("gen_tokens")),
            gen_tokens_source=Source(data.get("gen_tokens_source", "none")),
            decode_tps=_opt_float(data.get("decode_tps")),
            decode_source=Source(data.get("decode_source", "none")),
            total_s=float(data["total_s"]),
            chunks=int(data.get("chunks", 0)),
            peak_rss=_opt_int(data.get("peak_rss")),
            peak_vram=_opt_int(data.get("peak_vram")),
            done_reason=str(data.get("done_reason", "")),
        )


def run_figures(
    *,
    prompt: str,
    repetition: int,
    stats: ChatStats | None,
    started: float,
    first: float | None,
    last: float | None,
    ended: float,
    chunks: int,
) -> RunResult:
    """Turn one run's timestamps and the backend's final stats into figures, with their sources.

    Args:
        prompt: The prompt's name.
        repetition: 1-based repetition number.
        stats: What the backend reported with its last chunk (``None``: nothing).
        started: ``perf_counter`` when the request was made.
        first: When the first token arrived (``None``: none did).
        last: When the last token arrived.
        ended: When the stream finished.
        chunks: How many chunks carried text.
    """
    s = stats or ChatStats()
    ttft = first - started if first is not None else None
    prompt_tps: float | None = None
    prompt_source = Source.NONE
    if s.prompt_tokens and s.prompt_eval_duration_ns:
        prompt_tps = s.prompt_tokens / (s.prompt_eval_duration_ns / 1e9)
        prompt_source = Source.BACKEND
    elif s.prompt_tokens and ttft:
        # No prefill timer from the backend: its prompt count over the time to first token
        # (which also holds the network and the first decode step, so it reads low).
        prompt_tps = s.prompt_tokens / ttft
        prompt_source = Source.CLIENT
    if s.completion_tokens is not None:
        gen_tokens: int | None = s.completion_tokens
        gen_source = Source.BACKEND
    else:
        gen_tokens, gen_source = chunks, Source.CLIENT
    decode_tps = s.tokens_per_second
    decode_source = Source.BACKEND if decode_tps is not None else Source.NONE
    if (
        decode_tps is None
        and chunks > 1
        and first is not None
        and last is not None
        and last > first
    ):
        # The first chunk closes the prefill; the rate counts the chunks after it.
        decode_tps = (chunks - 1) / (last - first)
        decode_source = Source.CLIENT
    return RunResult(
        prompt=prompt,
        repetition=repetition,
        ttft_s=ttft,
        prompt_tokens=s.prompt_tokens,
        prompt_tps=prompt_tps,
        prompt_source=prompt_source,
        gen_tokens=gen_tokens,
        gen_tokens_source=gen_source,
        decode_tps=decode_tps,
        decode_source=decode_source,
        total_s=ended - started,
        chunks=chunks,
        done_reason=s.done_reason,
    )


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and range of one figure over the runs."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread | None:
        """The spread of the known values, or ``None`` when there are none."""
        known = [v for v in values if v is not None]
        if not known:
            return None
        return cls(float(statistics.median(known)), min(known), max(known), len(known))

    @property
    def relative(self) -> float:
        """Half the range as a fraction of the median (0 for a single run)."""
        return (self.high - self.low) / 2 / self.median if self.median else 0.0


def _source_of(sources: Sequence[Source]) -> str:
    kinds = {s for s in sources if s is not Source.NONE}
    if not kinds:
        return str(Source.NONE)
    return str(kinds.pop()) if len(kinds) == 1 else "mixed"


@dataclass(frozen=True, slots=True)
class ModelResult:
    """Every run of one prompt on one model, and where its memory figures came from."""

    backend: str
    model: str
    prompt: str
    prompt_set: str
    repetitions: int
    max_tokens: int
    started_at: float
    """Wall-clock time (seconds since the epoch) the model's first run started."""
    runs: tuple[RunResult, ...] = ()
    load_s: float | None = None
    """Wall time of the warm-up request (loading the model, if it was not loaded)."""
    memory_source: str = ""
    """Which processes the peak RSS covers, or why there is none."""
    vram_source: str = ""
    status: str = "complete"
    """``complete``, ``cancelled`` or ``error``."""
    error: str = ""
    id: int | None = None
    """Row id once stored."""

    @property
    def ttft(self) -> Spread | None:
        return Spread.of([r.ttft_s for r in self.runs])

    @property
    def prompt_tps(self) -> Spread | None:
        return Spread.of([r.prompt_tps for r in self.runs])

    @property
    def decode_tps(self) -> Spread | None:
        return Spread.of([r.decode_tps for r in self.runs])

    @property
    def total_s(self) -> Spread | None:
        return Spread.of([r.total_s for r in self.runs])

    @property
    def gen_tokens(self) -> Spread | None:
        return Spread.of(
            [float(r.gen_tokens) if r.gen_tokens is not None else None for r in self.runs]
        )

    @property
    def prompt_tokens(self) -> int | None:
        return next((r.prompt_tokens for r in self.runs if r.prompt_tokens is not None), None)

    @property
    def peak_rss(self) -> int | None:
        values = [r.peak_rss for r in self.runs if r.peak_rss is not None]
        return max(values) if values else None

    @property
    def peak_vram(self) -> int | None:
        values = [r.peak_vram for r in self.runs if r.peak_vram is not None]
        return max(values) if values else None

    @property
    def prompt_source(self) -> str:
        return _source_of([r.prompt_source for r in self.runs])

    @property
    def decode_source(self) -> str:
        return _source_of([r.decode_source for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the settings, every run, the aggregates and their sources."""

        def spread(s: Spread | None) -> dict[str, float] | None:
            return (
                None if s is None else {"median": s.median, "low": s.low, "high": s.high, "n": s.n}
            )

        return {
            "backend": self.backend,
            "model": self.model,
            "prompt": self.prompt,
            "prompt_set": self.prompt_set,
            "repetitions": self.repetitions,
            "max_tokens": self.max_tokens,
            "started_at": self.started_at,
            "status": self.status,
            "error": self.error,
            "load_s": self.load_s,
            "memory_source": self.memory_source,
            "vram_source": self.vram_source,
            "summary": {
                "ttft_s": spread(self.ttft),
                "prompt_tps": spread(self.prompt_tps),
                "prompt_source": self.prompt_source,
                "decode_tps": spread(self.decode_tps),
                "decode_source": self.decode_source,
                "gen_tokens": spread(self.gen_tokens),
                "total_s": spread(self.total_s),
                "peak_rss": self.peak_rss,
                "peak_vram": self.peak_vram,
            },
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, id: int | None = None) -> ModelResult:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            ValueError: ``data`` is not a bench result.
        """
        try:
            return cls(
                backend=str(data["backend"]),
                model=str(data["model"]),
                prompt=str(data["prompt"]),
                prompt_set=str(data.get("prompt_set", "")),
                repetitions=int(data.get("repetitions", 0)),
                max_tokens=int(data.get("max_tokens", 0)),
                started_at=float(data["started_at"]),
                runs=tuple(RunResult.from_dict(r) for r in data.get("runs", ())),
                load_s=_opt_float(data.get("load_s")),
                memory_source=str(data.get("memory_source", "")),
                vram_source=str(data.get("vram_source", "")),
                status=str(data.get("status", "complete")),
                error=str(data.get("error", "")),
                id=id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a bench result ({type(exc).__name__}: {exc})") from None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------------------------------- memory


@dataclass(frozen=True, slots=True)
class MemoryTarget:
    """The processes whose RSS a run's peak covers."""

    pids: tuple[int, ...]
    children: bool
    """Also count the processes' children (a server's model runners), re-read during the run."""
    label: str
    """What the figure covers, or why there is none, as a phrase."""


class RssReader(Protocol):
    """Reads the summed RSS of a run's processes (:class:`tui.monitor.procs.ProcessRss`)."""

    def rescan(self) -> None:
        """Find the processes again (a server's children may have changed)."""
        ...

    def read(self) -> int | None:
        """Bytes of RSS now; None when nothing could be read."""
        ...


class Processes(Protocol):
    """What the benchmark asks about this machine's processes; every method may block.

    :class:`tui.monitor.procs.HostProcesses` reads the real ones; the benchmark never samples
    processes itself.
    """

    def is_local(self, host: str) -> bool:
        """Whether ``host`` is this machine."""
        ...

    def listening_pids(self, port: int) -> list[int]:
        """Pids listening on TCP ``port`` here."""
        ...

    def describe(self, pid: int) -> str:
        """What ``pid`` is, as a phrase (``ollama serve (pid 12)``)."""
        ...

    def rss_reader(self, pids: Sequence[int], children: bool) -> RssReader:
        """A reader of the RSS of ``pids`` (and their children)."""
        ...


def _host_port(location: str) -> tuple[str, int | None]:
    text = location if "://" in location else f"http://{location}"
    try:
        parts = urlsplit(text)
        return (parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "", None


def memory_target(backend: Backend, processes: Processes | None) -> MemoryTarget:
    """Find the processes doing ``backend``'s work on this machine; blocking (run in a thread).

    In-process backends (ONNX Runtime GenAI) work in this process. A server backend is the
    process listening on its port, with its children; a server on another machine cannot be
    measured from here, nor anything without ``processes`` to ask.
    """
    if processes is None:
        return MemoryTarget((), False, "not measured: no process readings")
    if backend.kind == "onnx":
        return MemoryTarget((os.getpid(),), False, "this process (in-process ONNX Runtime)")
    host, port = _host_port(backend.location)
    if port is None:
        return MemoryTarget((), False, f"not measured: cannot read a port from {backend.location}")
    if not processes.is_local(host):
        return MemoryTarget((), False, f"not measured: {host} is another machine")
    listeners = processes.listening_pids(port)
    if not listeners:
        return MemoryTarget(
            (), False, f"not measured: no process of this user listens on port {port}"
        )
    label = " + ".join(processes.describe(p) for p in listeners)
    # Children of this process are test helpers and UI threads' subprocesses, not the server.
    children = os.getpid() not in listeners
    return MemoryTarget(tuple(listeners), children, label + (" and children" if children else ""))


class MemoryWatch:
    """Samples the peak RSS of some processes (and VRAM in use) in a thread until stopped."""

    def __init__(
        self,
        rss: RssReader | None,
        vram: VramReader | None = None,
        interval: float = SAMPLE_INTERVAL,
        *,
        rescan_every: int = 0,
    ) -> None:
        """Prepare a watch; nothing is read until :meth:`start`.

        Args:
            rss: Reads the processes' RSS; None: no RSS figure.
            vram: Reads GPU memory in use; None: no VRAM figure.
            interval: Seconds between samples.
            rescan_every: Samples between asking ``rss`` to find the processes again (0: never).
        """
        self.rss = rss
        self.vram = vram
        self.interval = interval
        self.rescan_every = rescan_every
        self.peak_rss: int | None = None
        self.peak_vram: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take a first sample and start the sampling thread (blocking for one sample)."""
        if self.rss is not None:
            self.rss.rescan()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._thread.start()

    def stop(self, *, wait: bool = True) -> tuple[int | None, int | None]:
        """Stop sampling; returns ``(peak RSS, peak VRAM)`` in bytes.

        Args:
            wait: Wait for the thread's last sample (blocking for a moment).
        """
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=5.0)
        with self._lock:
            return self.peak_rss, self.peak_vram

    def _loop(self) -> None:
        count = 0
        while not self._stop.wait(self.interval):
            count += 1
            if self.rss is not None and self.rescan_every and count % self.rescan_every == 0:
                self.rss.rescan()
            self._sample()
        self._sample()

    def _sample(self) -> None:
        rss = None
        if self.rss is not None:
            try:
                rss = self.rss.read()
            except Exception:  # a failing reader only costs the RSS figure
                rss = None
        vram = None
        if self.vram is not None:
            try:
                vram = self.vram()
            except Exception:  # a failing reader only costs the VRAM figure
                vram = None
        with self._lock:
            self.samples += 1
            if rss is not None and (self.peak_rss is None or rss > self.peak_rss):
                self.peak_rss = rss
            if vram is not None and (self.peak_vram is None or vram > self.peak_vram):
                self.peak_vram = vram


def watch_for(
    target: MemoryTarget,
    processes: Processes | None,
    vram: VramReader | None = None,
    interval: float = SAMPLE_INTERVAL,
) -> MemoryWatch:
    """A :class:`MemoryWatch` of ``target``'s processes, read through ``processes``."""
    rss = (
        processes.rss_reader(target.pids, target.children)
        if processes is not None and target.pids
        else None
    )
    rescan = CHILD_RESCAN_EVERY if target.children else 0
    return MemoryWatch(rss, vram, interval, rescan_every=rescan)


def gpu_memory_used(sample: Sample | None) -> int | None:
    """GPU memory in use over every GPU of a monitor sample, or ``None`` without a reading."""
    if sample is None:
        return None
    used = [g.memory_used for g in sample.gpus if g.memory_used is not None]
    return sum(used) if used else None


# ------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True, slots=True)
class BenchSpec:
    """What to run on every model."""

    prompt_set: str = "short"
    repetitions: int = 3
    max_tokens: int = 128
    seed: int = DEFAULT_SEED
    warmup: bool = True

    def __post_init__(self) -> None:
        if self.prompt_set not in PROMPT_SETS:
            raise InvalidInput(
                f"There is no prompt set {self.prompt_set!r}; choose one of "
                f"{', '.join(PROMPT_SETS)}."
            )
        if self.repetitions < 1:
            raise InvalidInput(f"Repetitions must be at least 1, not {self.repetitions}.")
        if self.max_tokens < 1:
            raise InvalidInput(f"Max tokens must be at least 1, not {self.max_tokens}.")

    @property
    def prompts(self) -> tuple[BenchPrompt, ...]:
        return PROMPT_SETS[self.prompt_set]

    def options(self, max_tokens: int | None = None) -> ChatOptions:
        """Greedy decoding with a fixed seed, so repetitions generate the same tokens."""
        return ChatOptions(
            temperature=0.0, seed=self.seed, max_tokens=max_tokens or self.max_tokens
        )


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """One step of a benchmark: a status line, runs done of runs planned, and what just finished."""

    status: str
    completed: int
    total: int
    run: RunResult | None = None
    result: ModelResult | None = None


async def _close(stream: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def measure_run(
    backend: Backend,
    model: str,
    prompt: BenchPrompt,
    options: ChatOptions,
    *,
    repetition: int = 1,
    memory: MemoryTarget | None = None,
    vram: VramReader | None = None,
    interval: float = SAMPLE_INTERVAL,
    processes: Processes | None = None,
) -> RunResult:
    """Stream one reply and measure it; closing happens even when the caller is cancelled.

    The peak RSS covers ``memory``'s processes, read through ``processes`` (none without both).

    Raises:
        BackendError: The backend failed (its message says why).
    """
    watch = watch_for(memory or MemoryTarget((), False, ""), processes, vram, interval)
    await asyncio.to_thread(watch.start)
    stats: ChatStats | None = None
    first: float | None = None
    last: float | None = None
    chunks = 0
    started = time.perf_counter()
    stream: AsyncIterator[ChatChunk] | None = None
    finished = False
    try:
        stream = backend.chat(model, [ChatMessage("user", prompt.text)], options)
        async for chunk in stream:
            if chunk.content or chunk.thinking:
                now = time.perf_counter()
                if first is None:
                    first = now
                last = now
                chunks += 1
            if chunk.done:
                stats = chunk.stats
        ended = time.perf_counter()
        finished = True
    finally:
        if stream is not None:
            await _close(stream)
        if not finished:
            watch.stop(wait=False)
    peak_rss, peak_vram = await asyncio.to_thread(watch.stop)
    result = run_figures(
        prompt=prompt.name,
        repetition=repetition,
        stats=stats,
        started=started,
        first=first,
        last=last,
        ended=ended,
        chunks=chunks,
    )
    return _with_memory(result, peak_rss, peak_vram)


def _with_memory(run: RunResult, rss: int | None, vram: int | None) -> RunResult:
    from dataclasses import replace

    return replace(run, peak_rss=rss, peak_vram=vram)


@dataclass(slots=True)
class _Partial:
    backend: str
    model: str
    prompt: str
    spec: BenchSpec
    started_at: float
    runs: list[RunResult] = field(default_factory=list)
    load_s: float | None = None
    memory_source: str = ""
    vram_source: str = ""

    def finish(self, status: str, error: str = "") -> ModelResult:
        return ModelResult(
            backend=self.backend,
            model=self.model,
            prompt=self.prompt,
            prompt_set=self.spec.prompt_set,
            repetitions=self.spec.repetitions,
            max_tokens=self.spec.max_tokens,
            started_at=self.started_at,
            runs=tuple(self.runs),
            load_s=self.load_s,
            memory_source=self.memory_source,
            vram_source=self.vram_source,
            status=status,
            error=error,
        )


class Benchmark:
    """Runs a :class:`BenchSpec` on several models one after another.

    Iterate :meth:`run` for progress; :attr:`results` holds one :class:`ModelResult` per model and
    prompt as each finishes, failed and cancelled ones included.
    """

    def __init__(
        self,
        targets: Sequence[tuple[Backend, str]],
        spec: BenchSpec,
        *,
        vram: VramReader | None = None,
        vram_source: str = "",
        interval: float = SAMPLE_INTERVAL,
        processes: Processes | None = None,
    ) -> None:
        """Prepare a benchmark.

        Args:
            targets: ``(backend, model name)`` pairs, run in this order.
            spec: Prompts, repetitions and generation settings.
            vram: Reads GPU memory in use (sampled with RSS); ``None``: no VRAM figures.
            vram_source: What ``vram`` reads, for the results (e.g. ``GPU memory in use``).
            interval: Seconds between memory samples.
            processes: Finds and reads the processes doing the work
                (:class:`tui.monitor.procs.HostProcesses`); ``None``: no RSS figures.
        """
        self.targets = list(targets)
        self.spec = spec
        self.processes = processes
        self.vram = vram
        self.vram_source = vram_source if vram is not None else "no GPU reading"
        self.interval = interval
        self.results: list[ModelResult] = []

    @property
    def total_runs(self) -> int:
        return len(self.targets) * len(self.spec.prompts) * self.spec.repetitions

    async def run(self) -> AsyncIterator[BenchEvent]:
        """Run every model; yields a :class:`BenchEvent` before and after each run.

        A model that fails (not found, backend down, prompt longer than its context) gets an
        ``error`` result with the reason and the next model runs.
        """
        spec = self.spec
        total = self.total_runs
        done = 0
        per_model = len(spec.prompts) * spec.repetitions
        for backend, model in self.targets:
            start_done = done
            now = time.time()
            partials = {
                p.name: _Partial(backend.id, model, p.name, spec, now, vram_source=self.vram_source)
                for p in spec.prompts
            }
            try:
                memory = await asyncio.to_thread(memory_target, backend, self.processes)
                for partial in partials.values():
                    partial.memory_source = memory.label
                load_s: float | None = None
                if spec.warmup:
                    yield BenchEvent(f"{model} on {backend.id}: loading (warm-up)", done, total)
                    load_s = await self._warmup(backend, model)
                    for partial in partials.values():
                        partial.load_s = load_s
                for rep in range(1, spec.repetitions + 1):
                    for prompt in spec.prompts:
                        where = f"{model} on {backend.id}: {prompt.name}, run {rep} of "
                        yield BenchEvent(f"{where}{spec.repetitions}", done, total)
                        run = await measure_run(
                            backend,
                            model,
                            prompt,
                            spec.options(),
                            repetition=rep,
                            memory=memory,
                            vram=self.vram,
                            interval=self.interval,
                            processes=self.processes,
                        )
                        partials[prompt.name].runs.append(run)
                        done += 1
                        yield BenchEvent(f"{where}{spec.repetitions} done", done, total, run=run)
            except BackendError as exc:
                finished = [p.finish("error", str(exc)) for p in partials.values()]
            except BaseException:
                # Cancelled (or closed): keep the runs that completed, then let it end.
                kept = [p for p in partials.values() if p.runs] or list(partials.values())[:1]
                self.results.extend(p.finish("cancelled", "cancelled") for p in kept)
                raise
            else:
                finished = [p.finish("complete") for p in partials.values()]
            done = start_done + per_model
            for result in finished:
                self.results.append(result)
                yield BenchEvent(
                    f"{model} on {backend.id}: {_outcome(result)}", done, total, result=result
                )

    async def _warmup(self, backend: Backend, model: str) -> float:
        """Load the model with a one-token request; returns its wall time in seconds."""
        started = time.perf_counter()
        stream = backend.chat(model, [ChatMessage("user", "Hi")], self.spec.options(max_tokens=1))
        try:
            async for _ in stream:
                pass
        finally:
            await _close(stream)
        return time.perf_counter() - started


def _outcome(result: ModelResult) -> str:
    if result.status == "error":
        return f"failed: {result.error}"
    if result.status == "cancelled":
        return "cancelled"
    decode = result.decode_tps
    rate = f"{decode.median:.1f} tok/s" if decode is not None else "no decode figure"
    return f"{result.prompt} done, {rate}"


# ------------------------------------------------------------------------------------------- export


def export_json(results: Sequence[ModelResult]) -> str:
    """The results as a JSON document (every run, aggregates and sources)."""
    doc = {
        "format": "slmdeck-bench",
        "version": 1,
        "sources": {s.value: s.__doc__ for s in Source} | {"mixed": "differs between runs"},
        "results": [r.to_dict() for r in results],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def _fmt_spread(s: Spread | None, digits: int = 1, unit: str = "") -> str:
    if s is None:
        return "–"
    if s.n == 1 or s.low == s.high:
        return _fmt(s.median, digits, unit)
    return f"{s.median:.{digits}f}{unit} ({s.low:.{digits}f}–{s.high:.{digits}f})"


def _fmt_mib(value: int | None) -> str:
    return "–" if value is None else f"{value / 2**20:.0f} MiB"


def export_markdown(results: Sequence[ModelResult]) -> str:
    """The results as a Markdown table (median, with the low–high range) and its notes."""
    lines = [
        "# slmdeck bench",
        "",
        "| model | backend | prompt | runs | TTFT | prompt tok/s | decode tok/s | tokens "
        "| peak RSS | VRAM | status |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        tokens = r.gen_tokens
        cells = [
            _md(r.model),
            _md(r.backend),
            _md(r.prompt),
            str(len(r.runs)),
            _fmt_spread(r.ttft, 3, " s"),
            _fmt_spread(r.prompt_tps),
            _fmt_spread(r.decode_tps),
            _fmt(tokens.median if tokens else None, 0),
            _fmt_mib(r.peak_rss),
            _fmt_mib(r.peak_vram),
            _md(r.status + (f": {r.error}" if r.status == "error" else "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Figures are medians over the runs, with the low–high range in brackets.", ""]
    for r in results:
        lines.append(
            f"- {_md(r.model)} on {_md(r.backend)} ({_md(r.prompt)}): prompt tok/s from "
            f"{r.prompt_source}, decode tok/s from {r.decode_source}; TTFT timed by slmdeck; "
            f"peak RSS of {_md(r.memory_source) or 'nothing'}; VRAM: {_md(r.vram_source)}; "
            f"load {_fmt(r.load_s, 2, ' s')}; max tokens {r.max_tokens}, temperature 0."
        )
    lines += [
        "",
        "Sources: *backend* = the backend's own counters (e.g. Ollama's eval_count / "
        "eval_duration); *client* = counted and timed by slmdeck from the streamed chunks.",
        "",
    ]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
