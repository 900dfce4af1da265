"""Screens of the app. Each is imported only when first shown, so start-up stays fast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen

# name -> "module:Class"; each screen issue adds its entry (models, variants, editor, monitor, chat, bench).
SCREENS: dict[str, str] = {
    "backends": "tui.screens.backends:BackendsScreen",
    "models": "tui.screens.models:ModelsScreen",
    "variants": "tui.screens.variants:VariantsScreen",
    "editor": "tui.screens.editor:EditorScreen",
    "monitor": "tui.screens.monitor:MonitorScreen",
    "chat": "tui.screens.chat:ChatScreen",
    "bench": "tui.screens.bench:BenchScreen",
    "fleet": "tui.screens.fleet:FleetScreen",
}


def load_screen(name: str) -> type[Screen[None]]:
    """Import and return the screen class registered as ``name``."""
    module_name, _, class_name = SCREENS[name].partition(":")
    cls: type[Screen[None]] = getattr(importlib.import_module(module_name), class_name)
    return cls
