"""Typed snapshots of one monitor tick, and their JSON form.

Pure data: no psutil, no NVML. ``None`` in a field means "not available" (the UI shows N/A), never
zero; a zero is a real reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui.backends.base import RunningModel

FORMAT_VERSION = 1
"""Version of the JSON form written by :meth:`Sample.to_dict` (and the recorded-samples file)."""


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU as its sampler reports it (NVML, amdgpu, i915/xe or Jetson sysfs); each field is
    ``None`` where the GPU or its driver does not expose it.

    Units: bytes, percent, degrees Celsius, watts, MHz.
    """

    index: int
    name: str
    util_percent: float | None = None
    """Share of the last sample period in which a kernel ran (NVML's ``gpu`` utilisation)."""
    memory_used: int | None = None
    memory_total: int | None = None
    memory_free: int | None = None
    """Bytes NVML says are free; what a model can still be loaded into."""
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    driver: str = ""
    """Who reported it: ``nvml``, ``amdgpu``, ``i915``, ``xe`` or ``jetson`` (empty: an older
    recording, NVML)."""
    unified: bool = False
    """The GPU shares its memory with the CPU (Jetson, AMD APU, Intel iGPU): one pool, not two."""
    memory_is_ram: bool = False
    """The memory figures are the system RAM itself (Jetson, Intel iGPU), not a carve-out kept
    apart from it (an AMD APU's VRAM): the fit must not add them to free RAM."""
    shared_used: int | None = None
    """System memory the GPU has mapped (amdgpu GTT), in bytes."""
    shared_total: int | None = None
    freq_mhz: float | None = None
    freq_max_mhz: float | None = None
    note: str = ""
    """Why a figure is missing, when the driver never exposes it (``load n/a: ...``)."""

    @property
    def memory_percent(self) -> float | None:
        """Used VRAM as a percentage of total, or ``None`` when either is unknown."""
        if self.memory_used is None or not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One backend process (or slmdeck itself)."""

    pid: int
    role: str
    """What the process is: ``ollama``, ``ollama-runner``, ``llama-server``, ``llama-cpp-python``,
    ``vllm`` or ``slmdeck`` (see :mod:`tui.monitor.procs`)."""
    label: str
    """Short readable name, e.g. ``ollama serve``."""
    cpu_percent: float | None
    """Percent of one core since the previous tick, like ``top`` (a busy multi-threaded server can
    exceed 100). ``None`` on the tick the process was first seen: no interval to measure yet."""
    rss: int | None
    """Resident memory in bytes; ``None`` when the OS refused to say."""


@dataclass(frozen=True, slots=True)
class DiskSample:
    """Usage of the file system holding one model-store path."""

    path: str
    total: int
    used: int
    free: int
    mount: str = ""
    """The mount point of that file system ("" when unknown, as in older recordings)."""

    @property
    def label(self) -> str:
        """What the gauge calls it: the mount point, and the model store on it when it differs
        (``/ (models in /home/u/models)``)."""
        if not self.mount or self.mount == self.path:
            return self.path
        return f"{self.mount} (models in {self.path})"

    @property
    def percent(self) -> float:
        """Used space as a percentage of what users can have (used + free), as ``df`` counts:
        blocks reserved for root are neither."""
        room = self.used + self.free
        return 100.0 * self.used / room if room else 0.0


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything one monitor tick read.

    Slow fields (``disks``, ``processes`` membership, GPU temperature and power) are re-read every
    few ticks; between those ticks they carry the last reading, and ``slow`` is ``False``.
    """

    tick: int
    time: float
    """Wall-clock time of the reading (seconds since the epoch)."""
    interval: float
    """Seconds since the previous reading (the period CPU percentages and rates cover)."""
    cpu_percent: float
    """Whole-machine CPU busy percent (0..100) over ``interval``."""
    cpu_per_core: tuple[float, ...]
    load_avg: tuple[float, float, float] | None
    """1, 5 and 15 minute load averages; ``None`` where the OS has none."""
    ram_total: int
    ram_used: int
    ram_available: int
    """Bytes that can be given to a new process without swapping (the kernel's estimate)."""
    swap_total: int
    swap_used: int
    net_rx_rate: float | None
    """Bytes per second received over ``interval`` on all non-loopback interfaces."""
    net_tx_rate: float | None
    disks: tuple[DiskSample, ...] = ()
    gpus: tuple[GpuSample, ...] = ()
    gpu_status: str = ""
    """Why there are no GPU figures (e.g. ``no GPU: the NVIDIA driver is not loaded``); empty when
    ``gpus`` holds readings."""
    processes: tuple[ProcessSample, ...] = ()
    loaded_models: tuple[RunningModel, ...] = ()
    """Models the backends hold in memory; filled by the caller (the controller), not polled here."""
    slow: bool = False
    """Whether the slow fields were re-read on this tick."""

    @property
    def ram_percent(self) -> float:
        """Memory in use (total minus available) as a percentage of total."""
        if not self.ram_total:
            return 0.0
        return 100.0 * (self.ram_total - self.ram_available) / self.ram_total

    @property
    def swap_percent(self) -> float:
        """Swap in use as a percentage of swap size (0 when there is no swap)."""
        return 100.0 * self.swap_used / self.swap_total if self.swap_total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the form ``slmdeck top --json`` prints)."""
        return {
            "tick": self.tick,
            "time": self.time,
            "interval": self.interval,
            "cpu_percent": self.cpu_percent,
            "cpu_per_core": list(self.cpu_per_core),
            "load_avg": list(self.load_avg) if self.load_avg is not None else None,
            "ram_total": self.ram_total,
            "ram_used": self.ram_used,
            "ram_available": self.ram_available,
            "swap_total": self.swap_total,
            "swap_used": self.swap_used,
            "net_rx_rate": self.net_rx_rate,
            "net_tx_rate": self.net_tx_rate,
            "disks": [
                {"path": d.path, "total": d.total, "used": d.used, "free": d.free}
                | ({"mount": d.mount} if d.mount else {})
                for d in self.disks
            ],
            "gpus": [
                {
                    "index": g.index,
                    "name": g.name,
                    "util_percent": g.util_percent,
                    "memory_used": g.memory_used,
                    "memory_total": g.memory_total,
                    "memory_free": g.memory_free,
                    "temperature_c": g.temperature_c,
                    "power_w": g.power_w,
                    "power_limit_w": g.power_limit_w,
                    "driver": g.driver,
                    "unified": g.unified,
                    "memory_is_ram": g.memory_is_ram,
                    "shared_used": g.shared_used,
                    "shared_total": g.shared_total,
                    "freq_mhz": g.freq_mhz,
                    "freq_max_mhz": g.freq_max_mhz,
                    "note": g.note,
                }
                for g in self.gpus
            ],
            "gpu_status": self.gpu_status,
            "processes": [
                {
                    "pid": p.pid,
                    "role": p.role,
                    "label": p.label,
                    "cpu_percent": p.cpu_percent,
                    "rss": p.rss,
                }
                for p in self.processes
            ],
            "loaded_models": [_model_to_dict(m) for m in self.loaded_models],
            "slow": self.slow,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        """Build a sample from :meth:`to_dict` output.

        Raises:
            ValueError: ``data`` is not a sample (a key is missing or has the wrong type).
        """
        try:
            load = data.get("load_avg")
            return cls(
                tick=int(data["tick"]),
                time=float(data["time"]),
                interval=float(data["interval"]),
                cpu_percent=float(data["cpu_percent"]),
                cpu_per_core=tuple(float(v) for v in data["cpu_per_core"]),
                load_avg=(float(load[0]), float(load[1]), float(load[2])) if load else None,
                ram_total=int(data["ram_total"]),
                ram_used=int(data["ram_used"]),
                ram_available=int(data["ram_available"]),
                swap_total=int(data["swap_total"]),
                swap_used=int(data["swap_used"]),
                net_rx_rate=_opt_float(data.get("net_rx_rate")),
                net_tx_rate=_opt_float(data.get("net_tx_rate")),
                disks=tuple(
                    DiskSample(
                        str(d["path"]),
                        int(d["total"]),
                        int(d["used"]),
                        int(d["free"]),
                        str(d.get("mount", "")),
                    )
                    for d in data.get("disks", ())
                ),
                gpus=tuple(
                    GpuSample(
                        index=int(g["index"]),
                        name=str(g["name"]),
                        util_percent=_opt_float(g.get("util_percent")),
                        memory_used=_opt_int(g.get("memory_used")),
                        memory_total=_opt_int(g.get("memory_total")),
                        memory_free=_opt_int(g.get("memory_free")),
                        temperature_c=_opt_float(g.get("temperature_c")),
                        power_w=_opt_float(g.get("power_w")),
                        power_limit_w=_opt_float(g.get("power_limit_w")),
                        driver=str(g.get("driver", "")),
                        unified=bool(g.get("unified", False)),
                        memory_is_ram=bool(g.get("memory_is_ram", False)),
                        shared_used=_opt_int(g.get("shared_used")),
                        shared_total=_opt_int(g.get("shared_total")),
                        freq_mhz=_opt_float(g.get("freq_mhz")),
                        freq_max_mhz=_opt_float(g.get("freq_max_mhz")),
                        note=str(g.get("note", "")),
                    )
                    for g in data.get("gpus", ())
                ),
                gpu_status=str(data.get("gpu_status", "")),
                processes=tuple(
                    ProcessSample(
                        pid=int(p["pid"]),
                        role=str(p["role"]),
                        label=str(p["label"]),
                        cpu_percent=_opt_float(p.get("cpu_percent")),
                        rss=_opt_int(p.get("rss")),
                    )
                    for p in data.get("processes", ())
                ),
                loaded_models=tuple(_model_from_dict(m) for m in data.get("loaded_models", ())),
                slow=bool(data.get("slow", False)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not a monitor sample ({type(exc).__name__}: {exc})") from None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _model_to_dict(model: RunningModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "backend": model.backend,
        "size": model.size,
        "size_vram": model.size_vram,
        "expires_at": model.expires_at.isoformat() if model.expires_at else None,
        "context_length": model.context_length,
    }


def _model_from_dict(data: Mapping[str, Any]) -> RunningModel:
    expires = data.get("expires_at")
    return RunningModel(
        name=str(data["name"]),
        backend=str(data["backend"]),
        size=int(data.get("size", 0)),
        size_vram=int(data.get("size_vram", 0)),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        context_length=_opt_int(data.get("context_length")),
    )


VRAM_CHECK_SLACK = 256 * 1024**2
"""Bytes by which a backend's VRAM claim may exceed what the GPUs report before it is flagged
(allocator rounding, a reading taken a moment apart)."""


def vram_cross_check(models: tuple[RunningModel, ...], gpus: tuple[GpuSample, ...]) -> str:
    """A sentence when the backends' word on VRAM (Ollama's ``/api/ps`` ``size_vram``) disagrees
    with the GPU sampler, showing both figures; empty when they agree or there is nothing to check.

    A backend cannot have more in VRAM than the GPUs have in use (other processes only add to
    the GPUs' figure), so a claim above it by more than :data:`VRAM_CHECK_SLACK` (or 5 %) is
    flagged, as is a claim where no GPU memory is read at all.
    """
    from tui.monitor.fmt import format_bytes

    claimed = sum(m.size_vram for m in models if m.size_vram)
    if claimed <= 0:
        return ""
    used = [g.memory_used for g in gpus if g.memory_used is not None]
    if not used:
        return (
            f"backends say {format_bytes(claimed)} is in VRAM; the GPU sampler reads no GPU "
            "memory to check it against"
        )
    in_use = sum(used)
    if claimed > in_use + max(VRAM_CHECK_SLACK, claimed // 20):
        return (
            f"backends say {format_bytes(claimed)} is in VRAM; the GPU sampler reads "
            f"{format_bytes(in_use)} in use"
        )
    return ""
