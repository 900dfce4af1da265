"""The Textual app: screens, global bindings and the command palette. It builds nothing else itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui import __version__
from tui.config import Config, config_dir, load_config
from tui.controller import Controller
from tui.screens import SCREENS, load_screen

SCREEN_TITLES = {
    "backends": "Backends",
    "models": "Models",
    "variants": "Variants",
    "editor": "Editor",
    "monitor": "Monitor",
    "chat": "Chat",
    "bench": "Bench",
}
SCREEN_KEYS = {
    "backends": "1",
    "models": "2",
    "variants": "3",
    "editor": "4",
    "monitor": "5",
    "chat": "6",
    "bench": "7",
}


def _mode_factory(name: str) -> Callable[[], Screen[None]]:
    return lambda: load_screen(name)()


class SlmdeckApp(App[None]):
    """slmdeck's app. Create it with :func:`make_app` (the CLI and the tests do)."""

    TITLE = "slmdeck"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        name: _mode_factory(name) for name in SCREENS
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit slmdeck"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
        *(
            Binding(
                SCREEN_KEYS[name],
                f"show_screen('{name}')",
                SCREEN_TITLES.get(name, name.title()),
                id=f"app.screen.{name}",
                tooltip=f"Go to the {SCREEN_TITLES.get(name, name)} screen",
            )
            for name in SCREENS
            if name in SCREEN_KEYS
        ),
    ]

    def __init__(
        self,
        config: Config,
        controller: Controller,
        *,
        start_screen: str = "backends",
        screen_options: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.controller = controller
        self.start_screen = start_screen
        self.screen_options = screen_options or {}
        """Extra start-up arguments for the start screen (e.g. ``model`` for chat)."""

    def on_mount(self) -> None:
        from tui.theming import load_themes

        themes, problems = load_themes(config_dir() / "themes")
        for theme in themes:
            self.register_theme(theme)
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        else:
            problems.append(f"theme {self.config.theme!r} is not installed; using slmdeck-dark")
            self.theme = "slmdeck-dark"
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        for problem in [*self.config.problems, *problems]:
            self.notify(problem, title="Settings", severity="warning", timeout=10)
        self.switch_mode(self.start_screen)
        # Probing starts after the first paint so a slow or dead backend never delays it.
        self.call_after_refresh(self.controller.start)

    async def action_quit(self) -> None:
        self.exit()

    async def on_unmount(self) -> None:
        await self.controller.aclose()

    def action_show_screen(self, name: str) -> None:
        if name in SCREENS:
            self.switch_mode(name)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name in SCREENS:
            title = SCREEN_TITLES.get(name, name.title())
            yield SystemCommand(
                f"Go to {title}",
                f"Show the {title} screen (key {SCREEN_KEYS.get(name, '-')})",
                partial(self.action_show_screen, name),
            )
        yield SystemCommand(
            "Re-probe backends",
            "Check every backend again now",
            self.reprobe,
        )

    def reprobe(self) -> None:
        """Probe every backend again now (key r on the Backends screen, and the palette)."""
        self.run_worker(self.controller.refresh_all(), group="probe", exclusive=True)


def make_app(
    config: Config | None = None,
    *,
    controller: Controller | None = None,
    start_screen: str = "backends",
    screen_options: dict[str, str] | None = None,
) -> SlmdeckApp:
    """Build the app the same way for the CLI and the tests."""
    config = config or load_config()
    if start_screen not in SCREENS:
        raise ValueError(
            f"unknown screen {start_screen!r}; choose one of: {', '.join(sorted(SCREENS))}"
        )
    controller = controller or Controller.from_config(config)
    return SlmdeckApp(config, controller, start_screen=start_screen, screen_options=screen_options)
