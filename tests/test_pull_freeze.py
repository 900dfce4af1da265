"""A pull whose progress arrives every 20 ms, while the user goes through every screen: the
controller hands listeners at most ~10 updates a second, screens that are not shown do no work for
them, and the footer is rebuilt when keys change, never per update (each rebuild leaked a watcher
in Textual 8.2.8 and froze the app for minutes)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.message import Message
from textual.widgets import Footer, Input, TextArea

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import start_replay_server
from tests.waiting import until
from tui.app import SCREEN_KEYS, make_app
from tui.config import Config
from tui.controller import OperationState, OperationUpdated
from tui.messages import ControllerEvent
from tui.monitor import Monitor, load_samples
from tui.screens.base import DeckScreen
from tui.screens.models import ModelsScreen
from tui.widgets.progress import OperationsPanel

WAIT_DEADLINE = 120.0


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def test_fast_pull_progress_never_floods_screens_or_footer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    composes = 0
    original = Footer.compose

    def counting(self: Footer):  # type: ignore[no-untyped-def]
        nonlocal composes
        composes += 1
        return original(self)

    monkeypatch.setattr(Footer, "compose", counting)
    hidden_posts: list[str] = []
    post = DeckScreen.post_message

    def watching(self: DeckScreen, message: Message) -> bool:
        if isinstance(message, ControllerEvent) and not self.is_current:
            hidden_posts.append(type(self).__name__)
        return post(self, message)

    monkeypatch.setattr(DeckScreen, "post_message", watching)

    with start_replay_server() as server:
        server.state.pull_rate = 2_000_000  # 270 MB: over two minutes, cancelled long before
        server.state.pull_tick = 0.02
        cfg = Config(
            probe_timeout=REACHABLE,
            ollama_host=server.host_port,
            model_dirs=[FIXTURES],
            retry_interval=0,
        )
        samples = load_samples(FIXTURES / "monitor_samples.json")
        app = make_app(cfg, start_screen="models", monitor=Monitor.replay(samples, preload=True))
        emitted: list[float] = []
        async with app.run_test(size=(80, 24)) as pilot:
            await app.controller.refresh_all()
            await pilot.pause()
            app.controller.subscribe(
                lambda e: (
                    emitted.append(time.monotonic()) if isinstance(e, OperationUpdated) else None
                )
            )
            models = app.screen
            assert isinstance(models, ModelsScreen)
            started = time.monotonic()
            op = models.start_pull("ollama", "smollm2:135m")
            panel = models.query_one(OperationsPanel)
            await wait_for(
                pilot, lambda: op.id in panel.transfers and panel.transfers[op.id].completed > 0, ""
            )
            switches = 0
            for _lap in range(2):
                # The first lap creates each screen; the second one shows screens made before.
                composes_before, switches_before = composes, switches
                for name, key in sorted(SCREEN_KEYS.items(), key=lambda kv: kv[1]):
                    if isinstance(app.focused, Input | TextArea):
                        await pilot.press("escape")  # leave the text field: digits type there
                    await pilot.press(key)
                    await wait_for(pilot, lambda n=name: app.current_mode == n, f"screen {name}")
                    switches += 1
                    # The pull's progress goes on while this screen is shown.
                    await wait_for(pilot, lambda s=switches: len(emitted) >= s + 1, "progress")
            if isinstance(app.focused, Input | TextArea):
                await pilot.press("escape")
            await pilot.press("2")
            await wait_for(pilot, lambda: app.screen is models, "back on Models")
            # Back on Models: it caught up with the progress made while it was hidden.
            await wait_for(
                pilot, lambda: panel.ops[op.id].progress == op.progress, "Models caught up"
            )
            app.controller.cancel_operation(op.id)
            await wait_for(pilot, lambda: op.state is OperationState.CANCELLED, "cancellation")
            await pilot.pause()
            elapsed = time.monotonic() - started
        # At most one update per 0.1 s since the start, plus the start and the end.
        assert len(emitted) <= elapsed / 0.1 + 3
        # No screen that was not shown was handed an operation event.
        assert hidden_posts == []
        # The footer was rebuilt for screen switches and the pull's start and end only: a few
        # per switch, not one per progress update (hundreds of them arrived meanwhile).
        assert composes - composes_before <= 3 * (switches - switches_before) + 4
