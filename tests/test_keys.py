"""Keys by keyboard: the footer bar shows a screen's own keys first and always fits, the keys panel
lists every key (screen, app, widget) and presses the one chosen, quitting asks while work would
be lost, and ctrl+c copies in a text field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.config import Config
from tui.controller import OperationState
from tui.monitor import Monitor, load_samples
from tui.screens.models import ModelsScreen
from tui.widgets.confirm import ConfirmDialog
from tui.widgets.key_bar import Hint, KeyBar, fit_hints
from tui.widgets.keys_panel import KeysPanel
from tui.widgets.model_table import ModelTable
from tui.widgets.prompt import PromptDialog

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


def app_for(server: ReplayServer, screen: str = "models") -> SlmdeckApp:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=[],
        retry_interval=0,
    )
    return make_app(cfg, start_screen=screen, monitor=Monitor.replay(SAMPLES, preload=True))


async def models_ready(pilot) -> ModelsScreen:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    screen = pilot.app.screen
    assert isinstance(screen, ModelsScreen)
    await until(pilot, lambda: screen.query_one(ModelTable).shown, "the model rows")
    return screen


def bar_text(app: SlmdeckApp) -> str:
    return str(app.screen.query_one(KeyBar).render())


def test_hints_that_do_not_fit_are_left_for_the_panel() -> None:
    hints = [Hint(k, k, "Word") for k in "abcdef"]
    tail = [Hint("q", "q", "Quit")]
    shown, cut = fit_hints(hints, tail, 8 + 3 * 8)
    assert [h.key for h in shown] == ["a", "b", "c"] and cut
    shown, cut = fit_hints(hints, tail, 200)
    assert len(shown) == 6 and not cut


@pytest.mark.parametrize("width", [80, 100])
async def test_footer_shows_the_screen_keys_first_and_fits(
    replay: ReplayServer, width: int
) -> None:
    app = app_for(replay)
    async with app.run_test(size=(width, 24)) as pilot:
        await models_ready(pilot)
        await until(pilot, lambda: "Pull" in bar_text(app), "the Models keys in the bar")
        line = bar_text(app)
        assert len(line) <= width
        assert line.lstrip().startswith("⏎ Chat  / Filter  s Sort  p Pull  d Delete")
        # The app's keys are one compact hint each, always at the right, never cut.
        assert line.rstrip().endswith("1-8 Screens  ? More  q Quit")


async def test_cancel_comes_first_while_a_pull_runs(replay: ReplayServer) -> None:
    replay.state.pull_rate = 2_000_000  # slow: the pull runs for the whole test
    app = app_for(replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await models_ready(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, PromptDialog)
        app.screen.query_one(Input).value = "smollm2:135m"
        await pilot.press("enter")
        await until(pilot, lambda: app.controller.running_operations(), "the pull")
        await until(pilot, lambda: "esc Cancel" in bar_text(app), "esc Cancel in the bar")
        assert bar_text(app).lstrip().startswith("esc Cancel")
        # Quitting now asks, naming the pull; n stays.
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "pull smollm2:135m is still running" in text
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen), "back on Models")
        assert app.is_running
        op = app.controller.running_operations()[0]
        assert op.state is OperationState.RUNNING
        # q, then q again in the question, quits.
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app to quit")


async def test_quit_asks_nothing_when_nothing_would_be_lost(replay: ReplayServer) -> None:
    app = app_for(replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await models_ready(pilot)
        assert app.unfinished_work() == []
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app to quit")


async def test_keys_panel_lists_screen_then_app_then_widget_keys(replay: ReplayServer) -> None:
    app = app_for(replay)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await models_ready(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysPanel), "the keys panel")
        panel = app.screen
        assert isinstance(panel, KeysPanel)
        sections = [row.section for row in panel.rows]
        assert sections[0] == "Models"
        # Screen first, app next, the focused widget's keys last, each section in one run.
        order = list(dict.fromkeys(sections))
        assert order == ["Models", "Everywhere", "In this field or list"]
        models = {row.description for row in panel.rows if row.section == "Models"}
        # Every action of the screen, the ones with no room in the footer included.
        assert {"Rename", "Reverse", "Copy", "Delete", "Pull", "Sort", "Filter"} <= models
        everywhere = {row.description for row in panel.rows if row.section == "Everywhere"}
        assert {"Quit", "Models", "Bench"} <= everywhere
        # It scrolls by keyboard, and enter presses the key of the chosen row.
        from textual.widgets import OptionList

        listing = panel.query_one(OptionList)
        first = listing.highlighted
        await pilot.press("pagedown")
        assert listing.highlighted is not None and first is not None
        assert listing.highlighted > first
        await pilot.press("home")
        sort_row = next(i for i, row in enumerate(panel.rows) if row.description == "Sort")
        listing.highlighted = listing.get_option_index(str(sort_row))
        table = screen.query_one(ModelTable)
        before = table.sort_column
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen, "the panel to close")
        await until(pilot, lambda: table.sort_column != before, "the sort the row pressed")
        # F1 again opens it, and F1 in it closes it.
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysPanel), "the keys panel")
        await pilot.press("f1")
        await until(pilot, lambda: app.screen is screen, "the panel to close")


async def test_ctrl_c_copies_in_a_text_field_and_quits_elsewhere(replay: ReplayServer) -> None:
    app = app_for(replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await models_ready(pilot)
        await pilot.press("slash")
        field = app.screen.focused
        assert isinstance(field, Input)
        field.value = "qwen"
        field.select_all()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running
        assert app.clipboard == "qwen"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen.focused, Input), "the filter closed")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "the app to quit")
