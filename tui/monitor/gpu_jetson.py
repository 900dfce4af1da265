"""NVIDIA Jetson's integrated GPU through devfreq and the shared memory; no tegrastats, no NVML.

NVML cannot see a Jetson's GPU before JetPack 7, so the L4T kernel's own files are read:

- the board: ``/proc/device-tree/model`` (or ``/sys/firmware/devicetree/base/model``), e.g.
  ``NVIDIA Jetson AGX Orin Developer Kit``;
- load: ``/sys/class/devfreq/<gpu>/device/load`` (Orin: ``17000000.gpu`` on JetPack 6,
  ``17000000.ga10b`` on JetPack 5; Xavier ``17000000.gv11b``), or the older
  ``/sys/devices/gpu.0/load`` and ``/sys/devices/platform/*gpu*/load``: per-mille (0..1000);
- clock: the devfreq ``cur_freq`` and ``max_freq``, in Hz;
- temperature: the thermal zone whose ``type`` names the GPU (``GPU-therm``), in m°C;
- memory: the GPU has none of its own; it allocates from system RAM, so its figures are
  ``/proc/meminfo``'s (``MemTotal``, ``MemAvailable``) and it is marked unified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.core.sanitize import sanitize
from tui.monitor.sample import GpuSample
from tui.monitor.sysfs import below, device_model, list_dir, read_int, read_meminfo, read_text

GPU_NAMES = ("gpu", "ga10b", "gv11b", "gp10b", "gm20b", "gb10b")
"""devfreq node or device-tree node names of Tegra GPUs."""


@dataclass(slots=True)
class JetsonGpu:
    """Where the Jetson GPU's files were found."""

    name: str
    load_file: Path
    freq_dir: Path | None
    thermal: Path | None
    temperature_c: float | None = None


def _is_gpu(name: str) -> bool:
    lowered = name.lower()
    return any(g in lowered for g in GPU_NAMES)


def _devfreq(root: Path) -> tuple[Path, Path] | None:
    base = below(root, "/sys/class/devfreq")
    for entry in list_dir(base):
        node = base / entry
        of_name = read_text(node / "device" / "of_node" / "name") or ""
        if (_is_gpu(entry) or _is_gpu(of_name)) and (node / "device" / "load").exists():
            return node / "device" / "load", node
    return None


def _platform_load(root: Path) -> Path | None:
    candidates = [below(root, "/sys/devices/gpu.0/load")]
    platform = below(root, "/sys/devices/platform")
    candidates += [platform / e / "load" for e in list_dir(platform) if _is_gpu(e)]
    return next((p for p in candidates if p.exists()), None)


def _thermal(root: Path) -> Path | None:
    base = below(root, "/sys/class/thermal")
    for entry in list_dir(base):
        if (
            entry.startswith("thermal_zone")
            and "gpu" in (read_text(base / entry / "type") or "").lower()
        ):
            return base / entry / "temp"
    return None


def find_jetson(root: Path) -> JetsonGpu | None:
    """The Jetson GPU below ``root``, or None when this is no Jetson (or its GPU load file is
    missing)."""
    model = device_model(root)
    if "jetson" not in model.lower() and "nvidia" not in model.lower():
        return None
    found = _devfreq(root)
    freq: Path | None
    if found is not None:
        load, freq = found
    else:
        platform = _platform_load(root)
        if platform is None:
            return None
        load = platform
        sub = list_dir(platform.parent / "devfreq")
        freq = platform.parent / "devfreq" / sub[0] if sub else None
    return JetsonGpu(sanitize(model), load, freq, _thermal(root))


class JetsonReader:
    """Reads the GPU found by :func:`find_jetson`; its temperature on slow ticks only."""

    def __init__(self, gpu: JetsonGpu, root: Path) -> None:
        self.gpu = gpu
        self.root = root
        self.status = ""

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        """The one integrated GPU."""
        g = self.gpu
        load = read_int(g.load_file)
        cur = read_int(g.freq_dir / "cur_freq") if g.freq_dir else None
        top = read_int(g.freq_dir / "max_freq") if g.freq_dir else None
        if slow and g.thermal is not None:
            temp = read_int(g.thermal)
            g.temperature_c = temp / 1000.0 if temp is not None else None
        meminfo = read_meminfo(self.root)
        total = meminfo.get("MemTotal")
        free = meminfo.get("MemAvailable")
        used = total - free if total is not None and free is not None else None
        return (
            GpuSample(
                index=0,
                name=g.name,
                util_percent=load / 10.0 if load is not None else None,
                memory_used=used,
                memory_total=total,
                memory_free=free,
                temperature_c=g.temperature_c,
                driver="jetson",
                unified=True,
                memory_is_ram=True,
                freq_mhz=cur / 1e6 if cur is not None else None,
                freq_max_mhz=top / 1e6 if top else None,
            ),
        )

    def close(self) -> None:
        """Nothing is held open between reads."""
