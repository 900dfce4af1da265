"""Intel GPUs through the i915 and xe drivers' sysfs files (and hwmon where they expose it).

What is read, per card ``/sys/class/drm/cardN`` with ``device/vendor`` 0x8086:

- i915: ``gt_cur_freq_mhz`` and ``gt_max_freq_mhz`` in the card folder (MHz).
- xe: ``device/tile0/gt0/freq0/cur_freq`` and ``max_freq`` (MHz).
- hwmon (discrete cards only; an iGPU has none): ``temp1_input`` or ``temp2_input`` (m°C),
  ``power1_input`` or ``power1_average`` (µW), ``power1_max`` (µW, the limit).

Neither driver puts a busy percentage in sysfs (it is a perf PMU counter, which needs
``CAP_PERFMON``), so load is reported as n/a, never made up. An integrated GPU has no memory of its
own: it uses system RAM, so its memory figures are ``/proc/meminfo``'s and it is marked unified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.monitor.gpu_amd import drm_cards
from tui.monitor.sample import GpuSample
from tui.monitor.sysfs import hwmon_dirs, read_int, read_meminfo

VENDOR_INTEL = 0x8086
LOAD_NOTE = "load n/a: the {driver} driver exposes no busy % in sysfs"


def _first(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.exists()), None)


@dataclass(slots=True)
class IntelCard:
    """One i915/xe card and the files it was found to have."""

    index: int
    card: Path
    name: str
    driver: str
    cur_file: Path | None
    max_file: Path | None
    hwmon: Path | None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None

    @property
    def integrated(self) -> bool:
        """No hwmon: the kernel registers one only for discrete cards (DG1/DG2, Arc, BMG)."""
        return self.hwmon is None


def find_intel(root: Path, first_index: int = 0) -> list[IntelCard]:
    """Every i915 or xe card below ``root``, numbered from ``first_index``."""
    cards: list[IntelCard] = []
    for card in drm_cards(root, VENDOR_INTEL):
        dev = card / "device"
        xe = dev / "tile0" / "gt0" / "freq0"
        if (card / "gt_cur_freq_mhz").exists():
            driver, cur, top = "i915", card / "gt_cur_freq_mhz", card / "gt_max_freq_mhz"
        elif (xe / "cur_freq").exists():
            driver, cur, top = "xe", xe / "cur_freq", xe / "max_freq"
        else:
            continue  # no GT frequency files: not a render GPU we can read
        mons = hwmon_dirs(dev)
        device_id = read_int(dev / "device", 16)
        pci = f"8086:{device_id:04x}" if device_id is not None else "8086"
        kind = "Graphics" if not mons else "Arc GPU"
        cards.append(
            IntelCard(
                first_index + len(cards),
                card,
                f"Intel {kind} [{pci}]",
                driver,
                cur,
                top if top.exists() else None,
                mons[0] if mons else None,
            )
        )
    return cards


class IntelReader:
    """Reads cards found by :func:`find_intel`; temperature and power on slow ticks only."""

    def __init__(self, cards: list[IntelCard], root: Path) -> None:
        self.cards = cards
        self.root = root
        self.status = "" if cards else "no Intel GPU"

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        """One :class:`GpuSample` per card."""
        out: list[GpuSample] = []
        meminfo = read_meminfo(self.root) if any(c.integrated for c in self.cards) else {}
        for c in self.cards:
            cur = read_int(c.cur_file) if c.cur_file else None
            top = read_int(c.max_file) if c.max_file else None
            if slow and c.hwmon is not None:
                temp_file = _first([c.hwmon / "temp1_input", c.hwmon / "temp2_input"])
                power_file = _first([c.hwmon / "power1_input", c.hwmon / "power1_average"])
                temp = read_int(temp_file) if temp_file else None
                power = read_int(power_file) if power_file else None
                cap = read_int(c.hwmon / "power1_max")
                c.temperature_c = temp / 1000.0 if temp is not None else None
                c.power_w = power / 1e6 if power is not None else None
                c.power_limit_w = cap / 1e6 if cap else None
            used = total = free = None
            if c.integrated and "MemTotal" in meminfo and "MemAvailable" in meminfo:
                total, free = meminfo["MemTotal"], meminfo["MemAvailable"]
                used = total - free
            note = LOAD_NOTE.format(driver=c.driver)
            if not c.integrated:
                note += "; VRAM n/a"
            out.append(
                GpuSample(
                    index=c.index,
                    name=c.name,
                    util_percent=None,
                    memory_used=used,
                    memory_total=total,
                    memory_free=free,
                    temperature_c=c.temperature_c,
                    power_w=c.power_w,
                    power_limit_w=c.power_limit_w,
                    driver=c.driver,
                    unified=c.integrated,
                    memory_is_ram=c.integrated,
                    freq_mhz=float(cur) if cur is not None else None,
                    freq_max_mhz=float(top) if top else None,
                    note=note,
                )
            )
        return tuple(out)

    def close(self) -> None:
        """Nothing is held open between reads."""
