"""One-off readings of this machine for the fit: free RAM, free VRAM, memory bandwidths.

The live gauges come from :class:`tui.monitor.Monitor`; these are the readings ``slmdeck fit`` and
the Variants screen take once: the memory the fit is graded against (:func:`detect_memory`: free
VRAM of discrete GPUs, or one unified pool on a Jetson, an APU or an iGPU), the host's memory
bandwidth (timed, then cached in the data dir) and the GPU's nominal bandwidth (NVML, cached too). A cache that cannot be written (a read-only or full
data dir) costs only the cache: the figure is returned and measured again next time.

Every function blocks; psutil, NVML and numpy are imported on first use.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from tui.core.quant import MemoryPool
from tui.monitor.sample import GpuSample
from tui.monitor.sysfs import is_recorded, read_meminfo, sys_root

HOST_BANDWIDTH_FILE = "bandwidth.json"
GPU_BANDWIDTH_FILE = "gpu_bandwidth.json"
BANDWIDTH_SAMPLE_MB = 256
"""MiB copied per timing of the host bandwidth (large enough to leave every CPU cache behind)."""


def free_ram(root: Path | None = None) -> int:
    """Bytes of RAM available now: ``MemAvailable`` of a copied tree's ``/proc/meminfo`` when
    ``root`` (default ``SLMDECK_SYS_ROOT``) is one, else psutil's reading of this machine."""
    where = root if root is not None else sys_root()
    if is_recorded(where):
        available = read_meminfo(where).get("MemAvailable")
        if available is not None:
            return available
    import psutil

    return int(psutil.virtual_memory().available)


def pool_from(gpus: Sequence[GpuSample], ram_available: int) -> MemoryPool:
    """The memory pool the fit grades against, from one reading of the GPUs and free RAM.

    Discrete GPUs give free VRAM (what other processes leave) and their use; unified GPUs make the
    whole pool one: available RAM plus the free carve-out of those whose memory is not RAM itself
    (an AMD APU's VRAM). With a discrete GPU present, the fit places layers on it, so it wins.
    """
    discrete = [g for g in gpus if not g.unified and g.memory_free is not None]
    unified = [g for g in gpus if g.unified]
    names = tuple(g.name for g in (discrete or unified))
    if discrete:
        return MemoryPool(
            free_ram=ram_available,
            free_vram=sum(g.memory_free or 0 for g in discrete),
            vram_total=sum(g.memory_total or 0 for g in discrete),
            vram_used=sum(g.memory_used or 0 for g in discrete),
            gpus=names,
        )
    if unified:
        carve = sum(g.memory_free or 0 for g in unified if not g.memory_is_ram)
        return MemoryPool(free_ram=ram_available, unified=True, carve_out_free=carve, gpus=names)
    return MemoryPool(free_ram=ram_available)


def detect_memory(root: Path | None = None) -> tuple[MemoryPool, str]:
    """Read the GPUs once (NVML first, else sysfs) and free RAM: the pool the fit grades against,
    and which sampler read it (``nvml``, ``jetson``, ``amdgpu``, ...; empty with no GPU)."""
    from tui.monitor.gpu_auto import AutoGpuReader

    where = root if root is not None else sys_root()
    reader = AutoGpuReader(where)
    try:
        gpus = reader.read(True)
    finally:
        reader.close()
    return pool_from(gpus, free_ram(where)), reader.kind


def gpu_free_and_bandwidth() -> tuple[int, float]:
    """Free VRAM summed over NVIDIA GPUs and the nominal bandwidth of the first; (0, 0) if none.

    Nominal bandwidth = max memory clock × 2 (double data rate) × bus width, from NVML.
    """
    try:
        import pynvml
    except ImportError:
        return 0, 0.0
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: quietly none
        return 0, 0.0
    try:
        free = 0
        bandwidth = 0.0
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            free += int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
            if i == 0:
                try:
                    clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
                    bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
                    bandwidth = clock_mhz * 1e6 * 2 * bus_bits / 8
                except Exception:
                    bandwidth = 0.0
        return free, bandwidth
    except Exception:
        return 0, 0.0
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


# ------------------------------------------------------------------------------------ caches


def read_cached_bandwidth(path: Path) -> float | None:
    """The positive ``bandwidth_bytes_s`` cached in ``path``, or None (missing, broken, not a file)."""
    from tui.core.safe_files import read_regular_text

    try:
        value = float(json.loads(read_regular_text(path))["bandwidth_bytes_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if value > 0 else None


def write_cache(path: Path, record: dict[str, object]) -> str:
    """Write ``record`` to ``path`` atomically, creating its folder; returns "" or why it could
    not (the caller goes on without the cache)."""
    from tui.store.files import FileSaveError, describe_os_error, save_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(path, json.dumps(record), backup=False)
    except FileSaveError as exc:
        return str(exc)
    except OSError as exc:  # the folder could not be made
        return describe_os_error(exc, path)
    return ""


# ---------------------------------------------------------------------------------- bandwidth


def measure_memory_bandwidth(
    cache_path: Path,
    *,
    size_mb: int | None = None,
    repeats: int = 3,
    refresh: bool = False,
    problems: list[str] | None = None,
) -> float:
    """Host memory bandwidth in bytes/s, from timing a large array copy; cached in ``cache_path``.

    A copy reads ``size_mb`` MiB and writes as many, so bandwidth = 2 × size ÷ best time of
    ``repeats`` copies (the best run is the least disturbed by other processes). A valid cached
    value is returned without measuring unless ``refresh``.

    Args:
        cache_path: The cache file (its folder is created).
        size_mb: MiB per copy (default :data:`BANDWIDTH_SAMPLE_MB`).
        repeats: Copies timed.
        refresh: Measure even when a value is cached.
        problems: Gets a sentence when the cache could not be written (the value is still returned).
    """
    if not refresh:
        cached = read_cached_bandwidth(cache_path)
        if cached is not None:
            return cached
    import numpy as np

    size = size_mb if size_mb is not None else BANDWIDTH_SAMPLE_MB
    n = max(size, 1) * 1024 * 1024 // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch faults the pages in; not timed
    best = math.inf
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    bandwidth = 2 * src.nbytes / max(best, 1e-9)
    record: dict[str, object] = {
        "bandwidth_bytes_s": bandwidth,
        "method": f"numpy copy of {size} MiB, best of {repeats}, counted as read + write",
        "measured_at": time.time(),
    }
    failed = write_cache(cache_path, record)
    if failed and problems is not None:
        problems.append(f"the bandwidth measurement is not cached: {failed}")
    return bandwidth


def gpu_bandwidth(folder: Path) -> float:
    """The first GPU's nominal memory bandwidth in bytes/s (0 without one), cached in ``folder``."""
    path = folder / GPU_BANDWIDTH_FILE
    cached = read_cached_bandwidth(path)
    if cached is not None:
        return cached
    value = gpu_free_and_bandwidth()[1]
    if value > 0:
        write_cache(
            path, {"bandwidth_bytes_s": value, "method": "NVML max memory clock x 2 x bus width"}
        )
    return value


def bandwidths(has_gpu: bool, folder: Path) -> tuple[float, float]:
    """Host and GPU memory bandwidth in bytes/s (0 when unknown), cached in ``folder`` (the
    data dir).

    The host figure is measured once (a large array copy); the GPU's is its nominal figure from
    NVML (memory clock × bus width).
    """
    host = measure_memory_bandwidth(folder / HOST_BANDWIDTH_FILE)
    return host, (gpu_bandwidth(folder) if has_gpu else 0.0)
