"""The Textual app: screens, global bindings and the command palette. It builds nothing else itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from tui import __version__
from tui.config import Config, config_dir, load_config
from tui.controller import Controller, Event, HostChanged, OperationState, OperationUpdated
from tui.messages import MonitorSampled
from tui.palette import DeckCommands
from tui.screens import SCREENS, load_screen
from tui.screens.base import DeckScreen

if TYPE_CHECKING:
    from textual.theme import Theme

    from tui.monitor.monitor import Monitor
    from tui.monitor.sample import Sample

SCREEN_TITLES = {
    "backends": "Backends",
    "models": "Models",
    "variants": "Variants",
    "editor": "Editor",
    "monitor": "Monitor",
    "chat": "Chat",
    "bench": "Bench",
    "fleet": "Fleet",
}
SCREEN_KEYS = {
    "backends": "1",
    "models": "2",
    "variants": "3",
    "editor": "4",
    "monitor": "5",
    "chat": "6",
    "bench": "7",
    "fleet": "8",
}


OUTCOME_TITLES = {"pull": "Pull", "import": "Import", "copy": "Copy"}
"""Operation kinds whose outcome the app toasts, and the toast's title."""


def _mode_factory(name: str) -> Callable[[], Screen[None]]:
    return lambda: load_screen(name)()


class SlmdeckApp(App[None]):
    """slmdeck's app. Create it with :func:`make_app` (the CLI and the tests do)."""

    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {DeckCommands}
    TITLE = "slmdeck"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        name: _mode_factory(name) for name in SCREENS
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit slmdeck"),
        # In a text field or text area with a selection ctrl+c copies it; elsewhere it quits.
        Binding(
            "ctrl+c",
            "copy_or_quit",
            "Copy or quit",
            show=False,
            priority=True,
            id="app.quit_ctrl_c",
        ),
        # Every key of the current screen, for when the footer is cut at 80 columns.
        Binding("f1,question_mark", "toggle_keys", "Keys", show=False, id="app.keys"),
        *(
            Binding(
                SCREEN_KEYS[name],
                f"show_screen('{name}')",
                SCREEN_TITLES.get(name, name.title()),
                id=f"app.screen.{name}",
                tooltip=f"Go to the {SCREEN_TITLES.get(name, name)} screen",
            )
            # Footer order follows the keys (1-8), whatever order screens were registered in.
            for name in sorted(SCREENS, key=lambda n: SCREEN_KEYS.get(n, "~"))
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
        self.last_sample: Sample | None = None
        """The latest resource sample (``None`` before the first)."""
        self._sampler: Timer | None = None
        self._sampling: Worker[None] | None = None
        self._deck_screens: dict[DeckScreen, None] = {}
        """Mounted deck screens, in mount order (a dict as an ordered set)."""

    def on_mount(self) -> None:
        from tui.logfile import file_log
        from tui.theming import load_themes

        file_log()  # warnings and tracebacks go to slmdeck.log in the data dir (opened on need)

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
            self.notify(problem, title="Settings", severity="warning", timeout=10, markup=False)
        # A theme picked from the palette is the theme of the next start too.
        self.theme_changed_signal.subscribe(self, self._theme_picked)
        self.controller.subscribe(self._operation_outcome)
        self.controller.subscribe(self._host_changed)
        self._show_host()
        self.switch_mode(self.start_screen)
        # Probing starts after the first paint so a slow or dead backend never delays it.
        self.call_after_refresh(self.controller.start)

    def _theme_picked(self, theme: Theme) -> None:
        if theme.name == self.config.theme:
            return
        self.config.theme = theme.name
        self.run_worker(self._save_theme(), group="settings", exit_on_error=False)

    async def _save_theme(self) -> None:
        problem = await self.controller.save_settings(self.config)
        if problem:
            self.notify(
                f"The theme is used now but not kept for the next start: {problem}",
                title="Settings",
                severity="warning",
                markup=False,
            )

    def _host_changed(self, event: Event) -> None:
        if isinstance(event, HostChanged):
            self._show_host()

    def _show_host(self) -> None:
        """The header says which host the screens act on, when it is not this machine."""
        from tui.core.sanitize import sanitize

        name = self.controller.current_host
        parts = [f"v{__version__}"] if name == "local" else [f"host {sanitize(name)}"]
        if self.controller.read_only():
            parts.append("read-only")
        self.sub_title = " · ".join(parts)

    def _operation_outcome(self, event: Event) -> None:
        """One toast per finished pull, import or copy, whichever screen is shown (creates and
        benches are told by the Editor and Bench screens that run them)."""
        if not isinstance(event, OperationUpdated):
            return
        op = event.operation
        if op.kind not in OUTCOME_TITLES or op.state is OperationState.RUNNING:
            return
        title = OUTCOME_TITLES[op.kind]
        if op.state is OperationState.FAILED:
            resume = op.kind == "pull" and op.retryable and op.progress and op.progress.completed
            self.notify(
                f"{op.title} failed: {op.error}" + ("; pull it again to resume." if resume else ""),
                title=title,
                severity="error",
                timeout=10,
                markup=False,
            )
        elif op.state is OperationState.CANCELLED:
            advice = "; pull it again to resume." if op.kind == "pull" else "."
            self.notify(f"{op.title} cancelled{advice}", title=title, markup=False)
        else:
            self.notify(f"{op.title}: done.", title=title, timeout=4, markup=False)

    async def action_quit(self) -> None:
        """Quit, after asking when an operation runs or an edit is unsaved (``q`` again quits)."""
        from tui.widgets.confirm import QuitDialog

        if isinstance(self.screen, QuitDialog):
            self.screen.dismiss(True)
            return
        reasons = self.unfinished_work()
        if not reasons:
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._keep_then_exit(), name="quit", exit_on_error=False)

        self.push_screen(QuitDialog(reasons), answer)

    async def _keep_then_exit(self) -> None:
        for screen in list(self._deck_screens):
            try:
                await screen.before_quit()
            except Exception as exc:  # quitting must never fail: say it in the log, go on
                from tui.logfile import log_error

                log_error(f"{type(screen).__name__}: keeping work before quitting", exc)
        self.exit()

    async def action_copy_or_quit(self) -> None:
        """ctrl+c: copy the selected text of the focused field or text area, else quit."""
        from textual.widgets import Input, TextArea

        focused = self.screen.focused
        if isinstance(focused, TextArea | Input) and focused.selected_text:
            focused.action_copy()
        else:
            await self.action_quit()

    def unfinished_work(self) -> list[str]:
        """What quitting now would stop or lose, one line each (empty: nothing)."""
        reasons = [
            f"{op.title} is still running; quitting stops it"
            + (" (pull it again to resume)." if op.kind == "pull" else ".")
            for op in self.controller.running_operations()
        ]
        for screen in list(self._deck_screens):
            reasons.extend(screen.unsaved_work())
        return reasons

    def track_screen(self, screen: DeckScreen) -> None:
        """Remember a mounted deck screen, to ask it about unsaved work before quitting."""
        self._deck_screens[screen] = None

    def untrack_screen(self, screen: DeckScreen) -> None:
        self._deck_screens.pop(screen, None)

    async def on_unmount(self) -> None:
        from tui.logfile import close_file_log

        await self.controller.aclose()
        close_file_log()

    def start_sampling(self) -> None:
        """Sample resources every ``monitor_interval`` from now on; later calls do nothing.

        Deck screens call it after their first paint. Each sample goes to the active deck screen
        only, so a screen that is not shown costs nothing.
        """
        if self._sampler is None:
            self._sampler = self.set_interval(self.config.monitor_interval, self._sample_tick)
            self._sample_tick()  # the first figures now, not an interval later

    def _sample_tick(self) -> None:
        # One short worker per tick (never a forever-worker, which workers.wait_for_complete()
        # would wait on); a tick that finds the last sample still being read is skipped.
        if self._sampling is None or self._sampling.is_finished:
            self._sampling = self.run_worker(
                self._sample_once(), name="monitor", group="monitor", exit_on_error=False
            )

    async def _sample_once(self) -> None:
        controller = self.controller
        try:
            # Creating the live monitor imports psutil, and a reading blocks on /proc and NVML:
            # both run in a thread, off the event loop.
            monitor = await asyncio.to_thread(lambda: controller.monitor)
            sample = await asyncio.to_thread(monitor.sample)
        except Exception as exc:  # the gauges are an extra: say why they stopped, keep the app
            if self._sampler is not None:
                self._sampler.stop()
            self.notify(
                f"The resource monitor stopped ({type(exc).__name__}: {exc}).",
                title="Monitor",
                severity="warning",
                timeout=10,
                markup=False,
            )
            return
        self._deliver_sample(sample)

    def _deliver_sample(self, sample: Sample) -> None:
        self.last_sample = sample
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DeckScreen):
                screen.post_message(MonitorSampled(sample))
                return

    def action_toggle_keys(self) -> None:
        """Show (or hide) the panel listing every key of this screen; enter presses one."""
        from tui.widgets.keys_panel import KeysPanel, key_rows

        if isinstance(self.screen, KeysPanel):
            self.screen.dismiss(None)
            return
        title = SCREEN_TITLES.get(self.current_mode, self.current_mode.title())
        screen = self.screen
        if not isinstance(screen, DeckScreen):
            title = screen.__class__.__name__.removesuffix("Dialog").removesuffix("Screen")

        def press(key: str | None) -> None:
            if key:
                self.call_after_refresh(self.simulate_key, key)

        self.push_screen(KeysPanel(key_rows(screen, title), f"Keys: {title}"), press)

    def action_show_screen(self, name: str) -> None:
        if name in SCREENS:
            self.switch_mode(name)

    def open_screen(self, name: str, **options: str) -> bool:
        """Show screen ``name`` for ``options`` (``model``, ``backend``), e.g. from the Models screen.

        The options replace :attr:`screen_options`; a screen reads them when it mounts and, if it
        was shown before, when it resumes. Returns False, switching nothing, when no screen of that
        name is registered (yet).
        """
        if name not in SCREENS:
            return False
        self.screen_options = dict(options)
        if self.current_mode == name:
            # Already shown: no switch, so no resume; a message says there are new options
            # (a synthetic ScreenResume would restyle and refresh the whole screen).
            from tui.messages import OptionsGiven

            self.screen.post_message(OptionsGiven())
        else:
            self.switch_mode(name)
        return True

    def reprobe(self) -> None:
        """Probe every backend again now (key r on the Backends screen, and the palette)."""
        self.run_worker(self.controller.refresh_all(), group="probe", exclusive=True)


def make_app(
    config: Config | None = None,
    *,
    controller: Controller | None = None,
    start_screen: str = "backends",
    screen_options: dict[str, str] | None = None,
    monitor: Monitor | None = None,
) -> SlmdeckApp:
    """Build the app the same way for the CLI and the tests.

    ``monitor`` replaces the live resource monitor of the controller built here (tests pass
    ``Monitor.replay(...)`` for fixed figures); with ``controller``, give that one its monitor.
    """
    config = config or load_config()
    if start_screen not in SCREENS:
        raise ValueError(
            f"unknown screen {start_screen!r}; choose one of: {', '.join(sorted(SCREENS))}"
        )
    if controller is not None and monitor is not None:
        raise ValueError("pass the monitor to the Controller you give, not to make_app")
    controller = controller or Controller.from_config(config, monitor=monitor)
    return SlmdeckApp(config, controller, start_screen=start_screen, screen_options=screen_options)
