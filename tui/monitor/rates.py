"""Turning monotonic OS counters into percentages and rates.

Pure arithmetic, separate from the samplers so the exact numbers can be tested on fixed readings.
"""

from __future__ import annotations

from collections.abc import Sequence


def counter_delta(prev: int, cur: int, wrap: int | None = None) -> int:
    """How much a monotonic counter grew between two readings.

    A counter that went down was either reset (interface re-created, driver reloaded) or wrapped
    past its width. With ``wrap`` (the counter's modulus, e.g. ``2**32``) a fall from the upper half
    of the range is taken as a wrap; any other fall is a reset, and then the counter counted ``cur``
    since restarting from zero (the rule Prometheus' ``rate`` uses).

    Args:
        prev: The earlier reading.
        cur: The later reading.
        wrap: The counter's modulus when it is known to wrap, else ``None``.

    Returns:
        The growth, never negative.
    """
    if cur >= prev:
        return cur - prev
    if wrap is not None and prev >= wrap // 2 and prev < wrap:
        return cur + wrap - prev
    return max(cur, 0)


def counter_rate(prev: int, cur: int, seconds: float, wrap: int | None = None) -> float:
    """Growth of a counter per second between two readings ``seconds`` apart.

    Returns 0.0 when no time passed (nothing can be said to have flowed in zero time).
    """
    if seconds <= 0:
        return 0.0
    return counter_delta(prev, cur, wrap) / seconds


def cpu_busy_total(times: Sequence[float], fields: Sequence[str]) -> tuple[float, float]:
    """Busy and total seconds of one CPU times reading (psutil's ``scputimes``), as psutil counts.

    Idle and iowait are not busy; on Linux guest time is already inside user/nice, so it is taken
    out of the total rather than counted twice.
    """
    total = 0.0
    idle = 0.0
    for name, value in zip(fields, times, strict=True):
        if name in ("guest", "guest_nice"):
            continue
        total += value
        if name in ("idle", "iowait"):
            idle += value
    return total - idle, total


def busy_percent(prev: tuple[float, float], cur: tuple[float, float]) -> float:
    """CPU busy percent between two (busy, total) readings, clamped to 0..100, one decimal.

    Kernels occasionally step a counter backwards (CPU hotplug, idle accounting); a negative
    difference is treated as no time rather than a negative load.
    """
    busy = cur[0] - prev[0]
    total = cur[1] - prev[1]
    if total <= 0:
        return 0.0
    busy = max(busy, 0.0)
    return round(min(100.0, 100.0 * busy / total), 1)
