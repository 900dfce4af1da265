"""Readings of this machine: psutil for the host and processes, NVML or sysfs for GPUs.

Made to cost almost nothing per tick: one ``/proc/stat`` read gives both the per-core and the total
CPU figures, no subprocess is ever started, process objects are kept between ticks, and the
expensive parts (process-table scan, disk usage, GPU temperature and power) run only on slow ticks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

from tui.backends.base import RunningModel
from tui.monitor.gpu_auto import AutoGpuReader, GpuReader
from tui.monitor.procs import Classifier, ProcessTracker, classify
from tui.monitor.rates import busy_percent, counter_delta, cpu_busy_total
from tui.monitor.sample import DiskSample, GpuSample, ProcessSample, Sample
from tui.monitor.sysfs import is_recorded, read_meminfo, sys_root


def is_loopback(nic: str) -> bool:
    """Whether a network interface name is the loopback one (``lo``, ``lo0``, Windows' pseudo)."""
    return nic == "lo" or (nic.startswith("lo") and nic[2:].isdigit()) or "loopback" in nic.lower()


def nic_deltas(
    prev: Mapping[str, tuple[int, int]], cur: Mapping[str, tuple[int, int]]
) -> tuple[int, int]:
    """Bytes received and sent between two per-interface (rx, tx) counter readings.

    Summed per interface, so one interface appearing, vanishing or being reset does not throw
    the total off: a new interface has no baseline and is left out until the next reading.
    """
    rx = tx = 0
    for nic, (r, t) in cur.items():
        before = prev.get(nic)
        if before is not None:
            rx += counter_delta(before[0], r)
            tx += counter_delta(before[1], t)
    return rx, tx


def _existing(path: Path) -> Path | None:
    """The path itself or its nearest existing parent (a model store not created yet still sits
    on a file system whose free space matters)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def read_disks(paths: Iterable[str | os.PathLike[str]]) -> tuple[DiskSample, ...]:
    """Usage of the file system under each path; paths that cannot be read are left out."""
    out: list[DiskSample] = []
    for raw in paths:
        path = Path(raw).expanduser()
        where = _existing(path)
        if where is None:
            continue
        try:
            usage = psutil.disk_usage(str(where))
        except OSError:
            continue
        disk = DiskSample(
            str(path), int(usage.total), int(usage.used), int(usage.free), _mount_of(where)
        )
        out.append(disk)
    return tuple(out)


def _mount_of(path: Path) -> str:
    """The mount point holding ``path`` (its nearest parent that is one)."""
    try:
        for candidate in (path, *path.parents):
            if os.path.ismount(candidate):
                return str(candidate)
    except OSError:
        pass
    return ""


class LiveSource:
    """Reads this machine; the :class:`~tui.monitor.monitor.Monitor` decides which ticks are slow.

    The CPU and network baselines are taken at construction, so the first reading already covers
    a real interval.
    """

    def __init__(
        self,
        disk_paths: Sequence[str | os.PathLike[str]] = (),
        *,
        classifier: Classifier = classify,
        gpu: GpuReader | None = None,
        include_self: bool = True,
        root: Path | None = None,
    ) -> None:
        """Create the source.

        Args:
            disk_paths: Model-store paths whose file systems to report.
            classifier: The backend-process match rule.
            gpu: The GPU reader (default: an :class:`~tui.monitor.gpu_auto.AutoGpuReader`,
                which picks NVML or a sysfs sampler on the first read).
            include_self: Report this process among the backend processes.
            root: Where ``/sys`` and ``/proc`` are (default ``SLMDECK_SYS_ROOT`` or ``/``). Below
                a copied tree, RAM and swap come from its ``/proc/meminfo`` too, so a unified
                GPU's memory and the RAM gauge agree.
        """
        self.disk_paths = tuple(disk_paths)
        self.processes = ProcessTracker(classifier, include_self=include_self)
        self.root = root if root is not None else sys_root()
        self.gpu: GpuReader = gpu if gpu is not None else AutoGpuReader(self.root)
        self._fields: tuple[str, ...] = ()
        self._cpu_prev = self._read_cpu()
        self._net_prev = self._read_net()
        self._t_prev = time.monotonic()
        self._disks: tuple[DiskSample, ...] = ()
        self._load = hasattr(os, "getloadavg")

    def _read_cpu(self) -> list[tuple[float, float]]:
        per_core = psutil.cpu_times(percpu=True)
        if not self._fields and per_core:
            self._fields = per_core[0]._fields
        fields = self._fields
        return [cpu_busy_total(t, fields) for t in per_core]

    @staticmethod
    def _read_net() -> dict[str, tuple[int, int]]:
        counters = psutil.net_io_counters(pernic=True)
        return {
            nic: (c.bytes_recv, c.bytes_sent) for nic, c in counters.items() if not is_loopback(nic)
        }

    def _memory(self) -> tuple[int, int, int, int, int]:
        """RAM total, used, available and swap total, used in bytes."""
        if is_recorded(self.root):
            info = read_meminfo(self.root)
            if "MemTotal" in info and "MemAvailable" in info:
                total, available = info["MemTotal"], info["MemAvailable"]
                used = total - info.get("MemFree", 0) - info.get("Buffers", 0)
                used -= info.get("Cached", 0) + info.get("SReclaimable", 0)
                swap = info.get("SwapTotal", 0)
                return total, max(used, 0), available, swap, swap - info.get("SwapFree", swap)
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        return int(vm.total), int(vm.used), int(vm.available), int(sw.total), int(sw.used)

    def read(
        self, tick: int, slow: bool, loaded_models: tuple[RunningModel, ...] | None = None
    ) -> Sample:
        """Take one reading.

        Args:
            tick: The tick number to stamp on the sample.
            slow: Re-read the slow fields (process scan, disks, GPU temperature and power).
            loaded_models: Models the caller knows are loaded, copied into the sample.
        """
        now = time.monotonic()
        dt = now - self._t_prev
        self._t_prev = now

        cpu = self._read_cpu()
        prev_cpu = self._cpu_prev
        self._cpu_prev = cpu
        if len(cpu) == len(prev_cpu):
            per_core = tuple(busy_percent(a, b) for a, b in zip(prev_cpu, cpu, strict=True))
            total = busy_percent(
                (sum(b for b, _ in prev_cpu), sum(t for _, t in prev_cpu)),
                (sum(b for b, _ in cpu), sum(t for _, t in cpu)),
            )
        else:
            # A core went on- or offline: no common baseline this once.
            per_core = (0.0,) * len(cpu)
            total = 0.0

        net = self._read_net()
        rx, tx = nic_deltas(self._net_prev, net)
        self._net_prev = net
        rx_rate = rx / dt if dt > 0 else 0.0
        tx_rate = tx / dt if dt > 0 else 0.0

        ram_total, ram_used, ram_available, swap_total, swap_used = self._memory()
        load = os.getloadavg() if self._load else None

        if slow:
            self.processes.rescan()
            self._disks = read_disks(self.disk_paths)
        procs: tuple[ProcessSample, ...] = self.processes.read()
        gpus: tuple[GpuSample, ...] = self.gpu.read(slow)

        return Sample(
            tick=tick,
            time=time.time(),
            interval=dt,
            cpu_percent=total,
            cpu_per_core=per_core,
            load_avg=load,
            ram_total=ram_total,
            ram_used=ram_used,
            ram_available=ram_available,
            swap_total=swap_total,
            swap_used=swap_used,
            net_rx_rate=rx_rate,
            net_tx_rate=tx_rate,
            disks=self._disks,
            gpus=gpus,
            gpu_status=self.gpu.status,
            processes=procs,
            loaded_models=loaded_models or (),
            slow=slow,
        )

    def close(self) -> None:
        """Release what the GPU reader holds (NVML)."""
        self.gpu.close()
