"""NVIDIA GPU readings through NVML (``nvidia-ml-py``), loaded on first use.

``pynvml`` is imported and NVML started once, on the first read; a machine with no NVIDIA driver
gets a quiet "no GPU" state with the reason as a sentence, never an exception. Each field is read
on its own: one the GPU does not support is ``None`` (N/A), and after a "not supported" answer it
is not asked again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tui.monitor.sample import GpuSample

T = TypeVar("T")

NOT_STARTED = "GPU figures not read yet"


@dataclass(slots=True)
class _Device:
    index: int
    handle: Any
    name: str
    unsupported: set[str] = field(default_factory=set)
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None


def _reason(nvml: Any, err: Exception) -> str:
    """A sentence saying why NVML could not start."""
    if isinstance(err, nvml.NVMLError_LibraryNotFound):
        return "no GPU: the NVIDIA driver library (libnvidia-ml) was not found"
    if isinstance(err, nvml.NVMLError_DriverNotLoaded):
        return "no GPU: the NVIDIA driver is not loaded"
    if isinstance(err, nvml.NVMLError_NoPermission):
        return "no GPU figures: no permission to query the NVIDIA driver"
    return f"no GPU figures: NVML did not start ({err})"


class NvmlReader:
    """Reads every NVIDIA GPU through NVML; see the module docstring for the failure rules."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._devices: list[_Device] = []
        self._tried = False
        self._started = False
        self.init_attempts = 0
        """How many times NVML start-up was tried (at most once per reader)."""
        self.status = NOT_STARTED
        """Why there are no readings; empty once GPUs are being read."""

    def _start(self) -> None:
        self._tried = True
        self.init_attempts += 1
        try:
            import pynvml
        except ImportError:
            self.status = "no GPU figures: nvidia-ml-py is not installed"
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            self.status = _reason(pynvml, err)
            return
        self._started = True
        try:
            count = int(pynvml.nvmlDeviceGetCount())
            for i in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = self._call(None, "name", pynvml.nvmlDeviceGetName, handle)
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "replace")
                self._devices.append(_Device(i, handle, str(name or f"GPU {i}")))
        except pynvml.NVMLError as err:
            self.status = f"no GPU figures: NVML could not list the GPUs ({err})"
            self._devices.clear()
            return
        self.status = "" if self._devices else "no GPU: the NVIDIA driver sees no GPUs"

    def _call(self, device: _Device | None, key: str, fn: Callable[..., T], *args: Any) -> T | None:
        """One NVML call; ``None`` when it fails, and never asked again if unsupported."""
        if device is not None and key in device.unsupported:
            return None
        nvml = self._nvml
        try:
            return fn(*args)
        except nvml.NVMLError as err:
            if device is not None and isinstance(
                err, nvml.NVMLError_NotSupported | nvml.NVMLError_FunctionNotFound
            ):
                device.unsupported.add(key)
            return None

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        """Read every GPU; temperature and power only when ``slow`` (else the last values).

        Returns:
            One :class:`GpuSample` per GPU, or ``()`` with :attr:`status` saying why.
        """
        if not self._tried:
            self._start()
        if not self._devices:
            return ()
        nvml = self._nvml
        out: list[GpuSample] = []
        for dev in self._devices:
            h = dev.handle
            util = self._call(dev, "util", nvml.nvmlDeviceGetUtilizationRates, h)
            mem = self._call(dev, "memory", nvml.nvmlDeviceGetMemoryInfo, h)
            if slow:
                temp = self._call(
                    dev, "temp", nvml.nvmlDeviceGetTemperature, h, nvml.NVML_TEMPERATURE_GPU
                )
                power = self._call(dev, "power", nvml.nvmlDeviceGetPowerUsage, h)
                limit = self._call(dev, "power_limit", nvml.nvmlDeviceGetEnforcedPowerLimit, h)
                dev.temperature_c = float(temp) if temp is not None else None
                dev.power_w = power / 1000.0 if power is not None else None
                dev.power_limit_w = limit / 1000.0 if limit is not None else None
            out.append(
                GpuSample(
                    index=dev.index,
                    name=dev.name,
                    util_percent=float(util.gpu) if util is not None else None,
                    memory_used=int(mem.used) if mem is not None else None,
                    memory_total=int(mem.total) if mem is not None else None,
                    memory_free=int(mem.free) if mem is not None else None,
                    temperature_c=dev.temperature_c,
                    power_w=dev.power_w,
                    power_limit_w=dev.power_limit_w,
                    driver="nvml",
                )
            )
        return tuple(out)

    def close(self) -> None:
        """Shut NVML down if this reader started it."""
        if self._started:
            self._started = False
            self._devices.clear()
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
