"""Which GPU sampler reads this machine: chosen once, on the first read, by what exists.

Order: NVML first (:class:`~tui.monitor.gpu.NvmlReader`) where it finds a GPU; else a Jetson's
integrated GPU (:mod:`tui.monitor.gpu_jetson`; NVML cannot see it before JetPack 7); else every
amdgpu and i915/xe card (:mod:`tui.monitor.gpu_amd`, :mod:`tui.monitor.gpu_intel`). All of them
read below :func:`~tui.monitor.sysfs.sys_root`; when that is a copied tree (``SLMDECK_SYS_ROOT``)
NVML is not asked, since it would describe this machine's driver and not the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tui.monitor.gpu import NOT_STARTED, NvmlReader
from tui.monitor.gpu_amd import AmdReader, find_amd
from tui.monitor.gpu_intel import IntelReader, find_intel
from tui.monitor.gpu_jetson import JetsonReader, find_jetson
from tui.monitor.sample import GpuSample
from tui.monitor.sysfs import is_recorded, sys_root


class GpuReader(Protocol):
    """What every GPU sampler offers."""

    status: str
    """Why there are no readings; empty once GPUs are being read."""

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]: ...

    def close(self) -> None: ...


NvmlFactory = Callable[[], GpuReader]


def _default_nvml() -> GpuReader:
    return NvmlReader()


class AutoGpuReader:
    """Picks the sampler on the first read and then reads through it; see the module docstring."""

    def __init__(self, root: Path | None = None, nvml: NvmlFactory | None = _default_nvml) -> None:
        """Create the chooser (nothing is read yet).

        Args:
            root: Where ``/sys`` and ``/proc`` are (default :func:`~tui.monitor.sysfs.sys_root`).
            nvml: Makes the NVML reader, tried first; ``None`` never asks NVML. When ``root`` is
                a copied tree, NVML is not asked unless a factory other than the default is given.
        """
        self.root = root if root is not None else sys_root()
        if nvml is _default_nvml and is_recorded(self.root):
            nvml = None
        self._nvml_factory = nvml
        self._readers: list[GpuReader] = []
        self._chosen = False
        self.kind = ""
        """The sampler chosen: ``nvml``, ``jetson``, ``amdgpu``, ``i915``/``xe`` (joined by
        ``+`` when cards of two vendors are found), or empty."""
        self.status = NOT_STARTED

    def _choose(self) -> tuple[GpuSample, ...]:
        self._chosen = True
        reason = ""
        if self._nvml_factory is not None:
            nvml = self._nvml_factory()
            first = nvml.read(True)
            if first:
                self._readers = [nvml]
                self.kind = "nvml"
                self.status = ""
                return first
            reason = nvml.status
            nvml.close()
        jetson = find_jetson(self.root)
        if jetson is not None:
            self._readers = [JetsonReader(jetson, self.root)]
        else:
            amd = find_amd(self.root)
            intel = find_intel(self.root, len(amd))
            if amd:
                self._readers.append(AmdReader(amd))
            if intel:
                self._readers.append(IntelReader(intel, self.root))
        if not self._readers:
            where = "in /sys" if not is_recorded(self.root) else f"below {self.root}"
            found = f"no AMD, Intel or Jetson GPU {where}"
            self.status = f"{reason}; {found}" if reason else f"no GPU: {found}"
            return ()
        self.status = ""
        samples = self._read(True)
        self.kind = "+".join(dict.fromkeys(g.driver for g in samples)) or "sysfs"
        return samples

    def _read(self, slow: bool) -> tuple[GpuSample, ...]:
        out: list[GpuSample] = []
        for reader in self._readers:
            out.extend(reader.read(slow))
        return tuple(out)

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        """Every GPU's reading; ``()`` with :attr:`status` saying why when there is none."""
        if not self._chosen:
            return self._choose()
        return self._read(slow) if self._readers else ()

    def close(self) -> None:
        """Release what the chosen sampler holds (NVML)."""
        for reader in self._readers:
            reader.close()
        self._readers = []
