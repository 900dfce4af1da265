"""A chat's generation parameters: parsing them as typed in a form, building them for a backend."""

from __future__ import annotations

from typing import Any

from tui.backends.base import ChatOptions

OPTION_NAMES = ("temperature", "top_p", "num_ctx", "seed", "max_tokens")
_INT_OPTIONS = frozenset({"num_ctx", "seed", "max_tokens"})


def options_from_dict(values: dict[str, Any]) -> ChatOptions:
    """Build :class:`ChatOptions` from a session's stored options, ignoring unknown keys."""
    known: dict[str, Any] = {k: values[k] for k in OPTION_NAMES if values.get(k) is not None}
    if isinstance(values.get("think"), bool):  # not a form field: set by code, kept as given
        known["think"] = values["think"]
    return ChatOptions(**known)


def parse_option(name: str, text: str) -> int | float | None:
    """Parse one parameter as typed in a form; empty means the backend's default.

    Raises:
        ValueError: With a sentence naming the parameter and what it must be.
    """
    text = text.strip()
    if not text:
        return None
    if name in _INT_OPTIONS:
        try:
            value: int | float = int(text)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {text!r}") from None
        if name != "seed" and value <= 0:
            raise ValueError(f"{name} must be greater than 0")
        return value
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if name == "temperature" and not 0 <= value <= 2:
        raise ValueError("temperature must be between 0 and 2")
    if name == "top_p" and not 0 < value <= 1:
        raise ValueError("top_p must be greater than 0 and at most 1")
    return value
