"""Short human forms of monitor values (bytes, rates, percentages, N/A), shared by the CLI and UI."""

from __future__ import annotations

NA = "N/A"

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(value: float | None) -> str:
    """``1536`` → ``1.5 KiB``; ``None`` → ``N/A``. Binary units, one decimal above bytes."""
    if value is None:
        return NA
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(value: float | None) -> str:
    """Bytes per second as ``12.0 KiB/s``; ``None`` → ``N/A``."""
    return NA if value is None else f"{format_bytes(value)}/s"


def format_percent(value: float | None, digits: int = 1) -> str:
    """``12.345`` → ``12.3 %``; ``None`` → ``N/A``."""
    return NA if value is None else f"{value:.{digits}f} %"


def format_number(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A number with an optional unit, or ``N/A``."""
    if value is None:
        return NA
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if unit else text
