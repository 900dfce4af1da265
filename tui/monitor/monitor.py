"""The :class:`Monitor`: ticks a source, keeps ring buffers per series, answers "how much is free".

Threading: :meth:`Monitor.sample` blocks for a few hundred microseconds of /proc reads and is meant
to run off the event loop (``asyncio.to_thread`` or a Textual thread worker); :meth:`history`,
:attr:`latest`, :meth:`free_ram` and :meth:`free_vram` may be called from any thread meanwhile.

The loop: :meth:`Monitor.run` is a ready-made asyncio loop (sample in a thread, hand the sample to a
callback, sleep to the next deadline without drift). A Textual app may use it from a worker, or keep
its own ``set_interval`` timer and call :meth:`sample` from a thread worker; both are supported.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from tui.backends.base import RunningModel
from tui.core.quant import MemoryPool
from tui.monitor.recorded import RecordedSource
from tui.monitor.sample import Sample

DEFAULT_INTERVAL = 1.0
DEFAULT_HISTORY = 300
"""Ring-buffer length: five minutes at the default interval."""
DEFAULT_SLOW_EVERY = 5
"""Slow fields are re-read on every fifth tick (every 5 s at the default interval)."""

SERIES_DOC = """\
Series names for Monitor.history:
  cpu            whole-machine CPU percent
  core<N>        CPU percent of core N
  load1          1-minute load average
  ram            RAM in use, percent (total minus available)
  swap           swap in use, percent
  net_rx net_tx  bytes per second on non-loopback interfaces
  gpu<N>.util    GPU N utilisation percent
  gpu<N>.vram    GPU N memory in use, percent
  gpu<N>.temp    GPU N temperature, degrees C
  gpu<N>.power   GPU N power draw, watts
Values are None where the reading was not available (N/A)."""


class Source(Protocol):
    """Where samples come from: this machine (:class:`~tui.monitor.live.LiveSource`) or a
    recording (:class:`~tui.monitor.recorded.RecordedSource`)."""

    def read(
        self, tick: int, slow: bool, loaded_models: tuple[RunningModel, ...] | None = None
    ) -> Sample: ...

    def close(self) -> None: ...


class Monitor:
    """Samples resources on demand and keeps the recent history of each series."""

    def __init__(
        self,
        source: Source | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        history_size: int = DEFAULT_HISTORY,
        slow_every: int = DEFAULT_SLOW_EVERY,
        disk_paths: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        """Create a monitor.

        Args:
            source: Where readings come from; default a live source for this machine.
            interval: Seconds between samples in :meth:`run` (the caller's timer otherwise).
            history_size: How many values each series keeps.
            slow_every: Re-read slow fields (process scan, disks, GPU temperature and power) on
                every ``slow_every``-th tick, starting with the first.
            disk_paths: Model-store paths whose disks to report (live source only).

        Raises:
            ValueError: ``interval``, ``history_size`` or ``slow_every`` is not positive.
        """
        if interval <= 0:
            raise ValueError(f"the sampling interval must be positive, not {interval}")
        if history_size < 1:
            raise ValueError(f"the history size must be at least 1, not {history_size}")
        if slow_every < 1:
            raise ValueError(f"slow fields must be read every 1 or more ticks, not {slow_every}")
        if source is None:
            from tui.monitor.live import LiveSource

            source = LiveSource(disk_paths)
        self.source: Source = source
        self.interval = float(interval)
        self.history_size = history_size
        self.slow_every = slow_every
        self._tick = 0
        self._latest: Sample | None = None
        self._series: dict[str, deque[float | None]] = {}
        self._loaded: tuple[RunningModel, ...] | None = None
        self._core_names: list[str] = []
        self._gpu_names: dict[int, tuple[str, str, str, str]] = {}
        self._lock = threading.Lock()
        self._sample_lock = threading.Lock()

    @classmethod
    def replay(
        cls,
        samples: Sequence[Sample],
        *,
        preload: bool = False,
        history_size: int = DEFAULT_HISTORY,
    ) -> Monitor:
        """A monitor that plays recorded samples back instead of reading this machine.

        Args:
            samples: The recording (e.g. from :func:`~tui.monitor.recorded.load_samples`).
            preload: Feed every sample at once, so ``history`` is full and ``latest`` is the last
                one; later :meth:`sample` calls keep returning that last sample.
            history_size: Ring-buffer length.

        Raises:
            ValueError: ``samples`` is empty.
        """
        interval = samples[1].time - samples[0].time if len(samples) > 1 else DEFAULT_INTERVAL
        monitor = cls(
            RecordedSource(samples),
            interval=interval if interval > 0 else DEFAULT_INTERVAL,
            history_size=history_size,
        )
        if preload:
            for _ in samples:
                monitor.sample()
        return monitor

    # ------------------------------------------------------------------------------------ sampling

    def sample(self) -> Sample:
        """Take one reading, add it to the history and return it (blocking; run it in a thread)."""
        with self._sample_lock:
            tick = self._tick
            slow = tick % self.slow_every == 0
            sample = self.source.read(tick, slow, self._loaded)
            self._tick = tick + 1
            with self._lock:
                last = self._latest
                if last is None or sample.tick != last.tick or sample.time != last.time:
                    self._push(sample)
                self._latest = sample
            return sample

    def _push(self, s: Sample) -> None:
        put = self._put
        put("cpu", s.cpu_percent)
        core_names = self._core_names
        if len(core_names) < len(s.cpu_per_core):
            # Names are built once, so a 128-core machine does not format 128 strings a tick.
            core_names.extend(f"core{i}" for i in range(len(core_names), len(s.cpu_per_core)))
        for name, value in zip(core_names, s.cpu_per_core, strict=False):
            put(name, value)
        put("load1", s.load_avg[0] if s.load_avg is not None else None)
        put("ram", s.ram_percent)
        put("swap", s.swap_percent)
        put("net_rx", s.net_rx_rate)
        put("net_tx", s.net_tx_rate)
        for g in s.gpus:
            names = self._gpu_names.get(g.index)
            if names is None:
                i = g.index
                names = (f"gpu{i}.util", f"gpu{i}.vram", f"gpu{i}.temp", f"gpu{i}.power")
                self._gpu_names[i] = names
            put(names[0], g.util_percent)
            put(names[1], g.memory_percent)
            put(names[2], g.temperature_c)
            put(names[3], g.power_w)

    def _put(self, name: str, value: float | None) -> None:
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = deque(maxlen=self.history_size)
        series.append(value)

    async def run(
        self,
        callback: Callable[[Sample], object | Awaitable[object]],
        interval: float | None = None,
    ) -> None:
        """Sample forever (until cancelled), handing each sample to ``callback``.

        :meth:`sample` runs in ``asyncio.to_thread`` so the loop never blocks on /proc or NVML.
        Deadlines are fixed (no drift); if a tick runs late the next one is not bunched up.

        Args:
            callback: Called with each sample; may be a coroutine function.
            interval: Seconds between samples (default :attr:`interval`).
        """
        period = self.interval if interval is None else interval
        if period <= 0:
            raise ValueError(f"the sampling interval must be positive, not {period}")
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            sample = await asyncio.to_thread(self.sample)
            result = callback(sample)
            if inspect.isawaitable(result):
                await result
            deadline += period
            delay = deadline - loop.time()
            if delay < 0:
                deadline = loop.time()
                delay = 0.0
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------------------------- reading

    @property
    def latest(self) -> Sample | None:
        """The last sample taken, or ``None`` before the first."""
        return self._latest

    @property
    def ticks(self) -> int:
        """How many samples were taken."""
        return self._tick

    def history(self, series: str) -> tuple[float | None, ...]:
        """Recent values of one series, oldest first; ``()`` for a series not seen (yet).

        See :data:`SERIES_DOC` for the names.
        """
        with self._lock:
            values = self._series.get(series)
            return tuple(values) if values is not None else ()

    def series(self) -> tuple[str, ...]:
        """Names of every series with at least one value."""
        with self._lock:
            return tuple(self._series)

    def set_loaded_models(self, models: Iterable[RunningModel]) -> None:
        """Tell the monitor which models the backends hold; copied into every later sample."""
        self._loaded = tuple(models)

    def free_ram(self) -> int:
        """Bytes of RAM available for a new model now (the kernel's ``available`` estimate).

        Takes a reading first if none was taken yet. This is the figure the fit checks use.
        """
        latest = self._latest or self.sample()
        return latest.ram_available

    def free_vram(self, gpu: int | None = None) -> int | None:
        """Free GPU memory in bytes, from the latest reading (taken now if there is none).

        Args:
            gpu: One GPU's index; ``None`` sums every GPU (backends such as Ollama split a model
                across GPUs).

        Returns:
            Bytes free, or ``None`` when there is no GPU or it does not report memory. A unified
            GPU (Jetson, APU, iGPU) is left out: its memory is RAM, counted by :meth:`free_ram`.
        """
        latest = self._latest or self.sample()
        free = [
            g.memory_free
            for g in latest.gpus
            if g.memory_free is not None and not g.unified and (gpu is None or g.index == gpu)
        ]
        return sum(free) if free else None

    def memory_pool(self) -> MemoryPool:
        """What the fit is graded against now: free VRAM of discrete GPUs and free RAM, or one
        unified pool (see :func:`~tui.monitor.resources.pool_from`); from the latest reading."""
        from tui.monitor.resources import pool_from

        latest = self._latest or self.sample()
        return pool_from(latest.gpus, latest.ram_available)

    def close(self) -> None:
        """Release what the source holds (NVML)."""
        self.source.close()
