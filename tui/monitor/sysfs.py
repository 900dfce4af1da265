"""Small, failure-proof reads of sysfs, procfs and device-tree files below a root.

Every GPU sampler beyond NVML reads files the kernel already exposes (no daemon, no subprocess).
They all read below one root, ``/`` by default and ``SLMDECK_SYS_ROOT`` when that is set, so a copy
of a machine's ``/sys`` and ``/proc`` (the recorded trees in ``tests/fixtures/sysfs``) reads exactly
like the machine did. A file that is missing, unreadable or holds no number reads as ``None``,
never an exception: a sysfs attribute can vanish between two ticks (a GPU going to sleep, a driver
unbinding).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "SLMDECK_SYS_ROOT"
"""Environment variable naming the root the samplers read below (default ``/``)."""

_MAX_READ = 4096
"""Bytes read from one attribute at most: sysfs values are a line; a bigger file is not one."""


def sys_root(env: dict[str, str] | None = None) -> Path:
    """The root the samplers read below: ``SLMDECK_SYS_ROOT`` when set and not empty, else ``/``."""
    environ = os.environ if env is None else env
    value = environ.get(ROOT_ENV, "")
    return Path(value).expanduser() if value else Path("/")


def is_recorded(root: Path) -> bool:
    """Whether ``root`` is a copied tree rather than this machine's own ``/`` (then NVML, which
    reads this machine's driver, says nothing about it and is not asked)."""
    return root != Path("/")


def below(root: Path, path: str) -> Path:
    """``path`` (absolute, as on the machine) below ``root``."""
    return root / path.lstrip("/")


def read_text(path: Path) -> str | None:
    """The stripped text of a small attribute file, or ``None`` when it cannot be read.

    NUL bytes are dropped (device-tree strings end with one) and bytes that are not UTF-8 are
    replaced: the text is for showing, and callers never parse it as markup.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_READ)
    except OSError:
        return None
    return data.replace(b"\x00", b"").decode("utf-8", "replace").strip()


def read_int(path: Path, base: int = 10) -> int | None:
    """An integer attribute (``0x1002`` with ``base`` 16 or 0), or ``None``."""
    text = read_text(path)
    if not text:
        return None
    try:
        return int(text.split()[0], base)
    except ValueError:
        return None


def read_meminfo(root: Path) -> dict[str, int]:
    """``/proc/meminfo`` below ``root`` in bytes (``kB`` values times 1024); ``{}`` if unreadable."""
    text = read_text_long(below(root, "/proc/meminfo"))
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        out[key.strip()] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


def read_text_long(path: Path, limit: int = 65536) -> str | None:
    """Like :func:`read_text` for a longer file (``/proc/meminfo``), up to ``limit`` bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def list_dir(path: Path) -> list[str]:
    """Names in a folder, sorted; ``[]`` when it is missing or unreadable."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def hwmon_dirs(device: Path) -> list[Path]:
    """The ``hwmon/hwmonN`` folders of a device, in order."""
    base = device / "hwmon"
    return [base / name for name in list_dir(base) if name.startswith("hwmon")]


def device_model(root: Path) -> str:
    """The board's model from the device tree (``/proc/device-tree/model`` or
    ``/sys/firmware/devicetree/base/model``); empty when there is none (a PC)."""
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        text = read_text(below(root, path))
        if text:
            return text
    return ""
