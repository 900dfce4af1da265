"""AMD GPUs through the amdgpu driver's sysfs files; no ROCm, no daemon.

What is read (Documentation/gpu/amdgpu/driver-misc.rst and thermal.rst), per card
``/sys/class/drm/cardN/device`` with ``vendor`` 0x1002:

============================ ===================================================== =========
file                         meaning                                               unit
============================ ===================================================== =========
``gpu_busy_percent``         share of time the GPU was busy                        percent
``mem_info_vram_used/total`` VRAM in use / size (an APU's BIOS carve-out)          bytes
``mem_info_gtt_used/total``  system memory mapped into the GPU (GTT)               bytes
``mem_info_vram_vendor``     the VRAM chips' maker; amdgpu hides it when there is   text
                             no VRAM vendor, i.e. on an APU
``hwmon/hwmonN/temp1_input`` edge temperature                                      m°C
``hwmon/hwmonN/power1_average`` (older) or ``power1_input`` (newer): GPU power     µW
``hwmon/hwmonN/power1_cap``  the power limit                                       µW
``hwmon/hwmonN/freq1_input`` the shader clock (sclk)                               Hz
============================ ===================================================== =========

An APU's VRAM is a carve-out the BIOS keeps apart from system RAM (it is not in ``MemTotal``), so
its free part adds to free RAM without counting anything twice; the GPU's GTT is system RAM and is
shown, never added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.sanitize import sanitize
from tui.monitor.sample import GpuSample
from tui.monitor.sysfs import below, hwmon_dirs, list_dir, read_int, read_text

VENDOR_AMD = 0x1002
_CARD = re.compile(r"card\d+")


def drm_cards(root: Path, vendor: int) -> list[Path]:
    """``/sys/class/drm/cardN`` folders (not connectors such as ``card0-DP-1``) whose
    ``device/vendor`` is ``vendor``, in card order."""
    base = below(root, "/sys/class/drm")
    names = [n for n in list_dir(base) if _CARD.fullmatch(n)]
    names.sort(key=lambda n: int(n[4:]))
    return [base / n for n in names if read_int(base / n / "device" / "vendor", 16) == vendor]


def _first(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.exists()), None)


@dataclass(slots=True)
class AmdCard:
    """One amdgpu card and the files it was found to have."""

    index: int
    card: Path
    name: str
    apu: bool
    hwmon: Path | None
    power_file: Path | None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    missing: set[str] = field(default_factory=set)


def find_amd(root: Path, first_index: int = 0) -> list[AmdCard]:
    """Every amdgpu card below ``root`` that reports memory or load, numbered from
    ``first_index``."""
    cards: list[AmdCard] = []
    for card in drm_cards(root, VENDOR_AMD):
        dev = card / "device"
        if not (dev / "mem_info_vram_total").exists() and not (dev / "gpu_busy_percent").exists():
            continue  # radeon (pre-amdgpu) or a card without the driver bound
        apu = (dev / "mem_info_vram_total").exists() and not (dev / "mem_info_vram_vendor").exists()
        product = sanitize(read_text(dev / "product_name") or "")
        device_id = read_int(dev / "device", 16)
        pci = f"1002:{device_id:04x}" if device_id is not None else "1002"
        name = product or f"AMD Radeon {'Graphics (APU)' if apu else 'GPU'} [{pci}]"
        mons = [h for h in hwmon_dirs(dev) if read_text(h / "name") in (None, "amdgpu")]
        mon = mons[0] if mons else None
        power = _first([mon / "power1_average", mon / "power1_input"]) if mon else None
        cards.append(AmdCard(first_index + len(cards), card, name, apu, mon, power))
    return cards


class AmdReader:
    """Reads amdgpu cards found by :func:`find_amd`; temperature and power on slow ticks only."""

    def __init__(self, cards: list[AmdCard]) -> None:
        self.cards = cards
        self.status = "" if cards else "no AMD GPU"

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        """One :class:`GpuSample` per card."""
        out: list[GpuSample] = []
        for c in self.cards:
            dev = c.card / "device"
            busy = read_int(dev / "gpu_busy_percent")
            used = read_int(dev / "mem_info_vram_used")
            total = read_int(dev / "mem_info_vram_total")
            freq = read_int(c.hwmon / "freq1_input") if c.hwmon else None
            if slow and c.hwmon is not None:
                temp = read_int(c.hwmon / "temp1_input")
                power = read_int(c.power_file) if c.power_file else None
                cap = read_int(c.hwmon / "power1_cap")
                c.temperature_c = temp / 1000.0 if temp is not None else None
                c.power_w = power / 1e6 if power is not None else None
                c.power_limit_w = cap / 1e6 if cap else None
            free = total - used if total is not None and used is not None else None
            out.append(
                GpuSample(
                    index=c.index,
                    name=c.name,
                    util_percent=float(busy) if busy is not None else None,
                    memory_used=used,
                    memory_total=total,
                    memory_free=max(free, 0) if free is not None else None,
                    temperature_c=c.temperature_c,
                    power_w=c.power_w,
                    power_limit_w=c.power_limit_w,
                    driver="amdgpu",
                    unified=c.apu,
                    memory_is_ram=False,
                    shared_used=read_int(dev / "mem_info_gtt_used"),
                    shared_total=read_int(dev / "mem_info_gtt_total"),
                    freq_mhz=freq / 1e6 if freq else None,
                )
            )
        return tuple(out)

    def close(self) -> None:
        """Nothing is held open between reads."""
