"""A worker that raises is handled in one place: a readable toast naming what failed, the traceback
in ``slmdeck.log`` in the data dir, and a screen that stays usable (no pane stuck waiting)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Static

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.logfile import LOG_NAME
from tui.monitor import Monitor, load_samples
from tui.screens.models import ModelsScreen
from tui.types import ModelDetails
from tui.widgets.model_table import ModelTable

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
BOOM = "show exploded [/] on purpose"
"""The error's text; its ``[/]`` would end the app if any of it were read as markup."""


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


def models_app(server: ReplayServer) -> SlmdeckApp:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=[FIXTURES],
        retry_interval=0,
    )
    return make_app(cfg, start_screen="models", monitor=Monitor.replay(SAMPLES, preload=True))


def names(screen: ModelsScreen) -> list[str]:
    return [r.info.name for r in screen.query_one(ModelTable).shown]


async def test_a_failing_worker_is_told_logged_and_the_screen_goes_on(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = models_app(replay)
    calls: list[str] = []

    async def broken_show(backend_id: str, name: str) -> ModelDetails:
        calls.append(name)
        raise RuntimeError(BOOM)

    # Not a BackendError: nothing on the way catches it, so the details worker itself fails.
    monkeypatch.setattr(app.controller, "show", broken_show)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one(ModelTable)
        table.move_cursor(row=names(screen).index("qwen3:0.6b"))
        await pilot.pause()
        body = screen.query_one("#details-body", Static)
        await until(pilot, lambda: "could not be read" in str(body.render()), "the error shown")
        text = str(body.render())
        assert "qwen3:0.6b" in text and "Reading details" not in text
        assert f"RuntimeError: {BOOM}" in text
        assert "qwen3:0.6b" in calls

        toasts = [n for n in app._notifications if n.severity == "error"]
        assert toasts, "no error toast"
        told = [n.message for n in toasts if "Models: fetch details failed" in n.message]
        assert told and f"RuntimeError: {BOOM}" in told[-1]
        log = data_dir() / LOG_NAME
        assert str(log) in told[-1]  # the toast says where the traceback is

        written = log.read_text(encoding="utf-8")
        assert "Models: fetch details failed" in written
        assert "Traceback (most recent call last)" in written
        assert f"RuntimeError: {BOOM}" in written and "broken_show" in written

        # Keys still work: filter, then another screen and back.
        await pilot.press("slash", *"qwen")
        assert sorted(names(screen)) == ["qwen2.5:0.5b", "qwen3:0.6b"]
        await pilot.press("escape")
        assert len(names(screen)) == 5
        await pilot.press("1")
        await until(pilot, lambda: app.screen is not screen, "the Backends screen")
        await pilot.press("2")
        await until(pilot, lambda: app.screen is screen, "the Models screen again")

        # Once the backend answers again, moving to a row reads its details as usual.
        monkeypatch.undo()
        table.move_cursor(row=names(screen).index("llama3.2:latest"))
        await until(pilot, lambda: "llama3.2" in str(body.render()), "details again")
        await until(pilot, lambda: "could not be read" not in str(body.render()), "the error gone")


async def test_a_failing_variants_read_says_so_instead_of_reading_forever(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=replay.host_port,
        model_dirs=[FIXTURES],
        retry_interval=0,
    )
    app = make_app(
        cfg,
        start_screen="variants",
        screen_options={"model": "qwen2.5:0.5b", "backend": "ollama"},
        monitor=Monitor.replay(SAMPLES[-1:], preload=True),
    )

    async def broken_show(backend_id: str, name: str) -> ModelDetails:
        raise RuntimeError(BOOM)

    monkeypatch.setattr(app.controller, "show", broken_show)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        from tui.screens.variants import VariantsScreen

        screen = app.screen
        assert isinstance(screen, VariantsScreen)
        note = screen.query_one("#variants-note", Static)
        await until(pilot, lambda: "could not be read" in str(note.render()), "the failure")
        assert "Reading" not in str(note.render()) and f"RuntimeError: {BOOM}" in screen._problem
        assert any("Variants: load failed" in n.message for n in app._notifications)
        assert "Variants: load failed" in (data_dir() / LOG_NAME).read_text(encoding="utf-8")
        await pilot.press("2")  # keys still work
        await until(pilot, lambda: app.current_mode == "models", "the Models screen")
