"""Load Textual themes from TOML files: the shipped ones and the user's own in the config dir."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from textual.color import Color
from textual.theme import Theme

from tui.core.safe_files import read_regular_text

_FIELDS = {
    "name",
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
    "luminosity_spread",
    "text_alpha",
    "variables",
}
_COLOURS = _FIELDS - {"name", "dark", "luminosity_spread", "text_alpha", "variables"}


def theme_from_toml(text: str, origin: str) -> Theme:
    """Build a Theme from a TOML document; raises ValueError with ``origin`` in the message."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"theme {origin}: not valid TOML ({exc})") from None
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"theme {origin}: unknown keys {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError(f"theme {origin}: 'name' and 'primary' are required")
    for key, value in data.items():
        if key in _COLOURS:
            try:
                Color.parse(value)
            except Exception:
                raise ValueError(f"theme {origin}: {key} = {value!r} is not a colour") from None
    try:
        return Theme(**data)
    except Exception as exc:
        raise ValueError(f"theme {origin}: {exc}") from None


def _shipped() -> Iterator[tuple[str, str]]:
    for entry in sorted(resources.files("tui.themes").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            yield f"themes/{entry.name}", entry.read_text(encoding="utf-8")


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Return (themes, problems): shipped themes, then ``user_dir/*.toml`` ones (which may override)."""
    sources = list(_shipped())
    themes: list[Theme] = []
    problems: list[str] = []
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                # A FIFO named *.toml would block start-up forever: regular files only.
                sources.append((str(path), read_regular_text(path)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"theme {path}: could not be read ({exc})")
    for origin, text in sources:
        try:
            themes.append(theme_from_toml(text, origin))
        except ValueError as exc:
            problems.append(str(exc))
    return themes, problems
