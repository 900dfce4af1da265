"""Small text helpers shared by screens and commands: counted nouns and parameter counts."""

from __future__ import annotations

_IRREGULAR = {"entry": "entries", "memory": "memories", "family": "families", "reply": "replies"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` with the noun agreeing: ``1 model``, ``2 models``, ``0 models``.

    Args:
        count: How many.
        word: The singular noun.
        many: The plural where it is not ``word + "s"`` (a few common ones are known).
    """
    if count == 1:
        return f"{count} {word}"
    return f"{count:,} {many or _IRREGULAR.get(word) or word + 's'}"


def format_params(n: float) -> str:
    """A parameter count in three significant cells: ``131K``, ``494M``, ``3.2B``, ``27B``.

    Below 10 of a unit one decimal is kept (``1.5B``); a count under a thousand is shown whole;
    0 (unknown) is ``–``.
    """
    if n <= 0:
        return "–"
    if n < 999.5:
        return f"{round(n)}"
    for unit, scale in (("K", 1e3), ("M", 1e6), ("B", 1e9), ("T", 1e12)):
        value = n / scale
        if value < 9.95:
            return f"{value:.1f}{unit}"
        if value < 999.5 or unit == "T":
            return f"{value:.0f}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def parse_params(text: str) -> float:
    """``3.2B`` → 3.2e9, ``494.03M`` → 4.9403e8, ``~131K`` → 131000; 0 when unreadable."""
    scale = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    t = text.strip().lstrip("~≈ ").upper()
    unit = t[-1:] if t[-1:] in scale and not t[-1:].isdigit() else ""
    try:
        return float(t[: len(t) - len(unit)] if unit else t) * scale[unit]
    except ValueError:
        return 0.0


def params_label(text: str) -> str:
    """A backend's parameter-size label as shown: kept as the backend wrote it when it reads well
    (``494.03M``, ``3.2B``), re-scaled when its number is below 1 (``0.00013B`` → ``130K``)."""
    t = text.strip()
    n = parse_params(t)
    if not n:
        return t
    digits = t.lstrip("~≈ ").rstrip("KMBTkmbt")
    try:
        small = float(digits) < 1
    except ValueError:
        return t
    return format_params(n) if small else t
