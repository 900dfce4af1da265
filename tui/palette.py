"""The command palette's slmdeck commands: the screens in key order (1-7), then every action of
the screen shown, each with its key, so anything reachable by key is reachable by name too.

Textual's own system commands (themes, keys, quit, screenshot) come last. This provider replaces
Textual's, which sorts every command by name ("Go to Bench" before "Go to Models").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from textual.screen import Screen


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], object]


def screen_actions(screen: Screen[object], screen_title: str) -> list[PaletteCommand]:
    """The actions of ``screen`` now offered (what its keys do), one command each."""
    from tui.widgets.keys_panel import key_rows

    commands: list[PaletteCommand] = []
    app = screen.app
    for row in key_rows(screen, screen_title):
        if row.section != screen_title:
            continue
        commands.append(
            PaletteCommand(
                f"{screen_title}: {row.description}",
                f"key {row.display}",
                partial(app.simulate_key, row.keys[0]),
            )
        )
    return commands


class DeckCommands(Provider):
    """Screens in key order, then the shown screen's actions (see the module docstring)."""

    def _commands(self) -> list[PaletteCommand]:
        from tui.app import SCREEN_KEYS, SCREEN_TITLES, SlmdeckApp

        app = self.app
        commands: list[PaletteCommand] = []
        for name in sorted(SCREEN_KEYS, key=SCREEN_KEYS.__getitem__):
            title = SCREEN_TITLES[name]
            commands.append(
                PaletteCommand(
                    f"Go to {title}",
                    f"Show the {title} screen (key {SCREEN_KEYS[name]})",
                    partial(app.action_show_screen, name)
                    if isinstance(app, SlmdeckApp)
                    else partial(app.switch_mode, name),
                )
            )
        if isinstance(app, SlmdeckApp):
            commands.append(
                PaletteCommand("Re-probe backends", "Check every backend again now", app.reprobe)
            )
            mode = app.current_mode
            # The screen the palette was opened over (the palette is a screen of its own).
            commands.extend(screen_actions(self.screen, SCREEN_TITLES.get(mode, mode.title())))
        # Textual's own (theme, keys, screenshot, quit) last, in the order Textual gives them.
        for system in app.get_system_commands(self.screen):
            if system.discover:
                commands.append(PaletteCommand(system.title, system.help, system.callback))
        return commands

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
