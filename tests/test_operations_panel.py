"""The operations panel (Models, Variants, Editor) keeps what it can show, not every operation of
the session: a long session pulls without end."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from tui.controller import Operation, OperationState
from tui.widgets.progress import DONE_VISIBLE, ENDED_KEPT, OperationsPanel


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield OperationsPanel()


def ended(op_id: int, state: OperationState, title: str, ago: float) -> Operation:
    now = time.monotonic()
    return Operation(
        op_id, "pull", title, "ollama", state, started_at=now - ago - 1, finished_at=now - ago
    )


async def test_ended_operations_are_forgotten_once_they_cannot_be_shown() -> None:
    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(OperationsPanel)
        running = Operation(1, "pull", "pull big", "ollama")
        panel.track(running)
        # Done long ago: shown for DONE_VISIBLE seconds only, then forgotten.
        for i in range(2, 40):
            panel.track(ended(i, OperationState.DONE, f"pull m{i}", DONE_VISIBLE + 5))
        # Failed, then run again under the same title: only the latest counts.
        panel.track(ended(40, OperationState.FAILED, "pull again", 30))
        panel.track(ended(41, OperationState.FAILED, "pull again", 20))
        # Failures of many titles: each is the latest of its title, but only the last few stay.
        for i in range(42, 42 + 3 * ENDED_KEPT):
            panel.track(ended(i, OperationState.FAILED, f"pull f{i}", 10))
        await pilot.pause()
        assert set(panel.ops) == set(panel.transfers)
        assert 1 in panel.ops and panel.running() == [running]
        assert len(panel.ops) == 1 + ENDED_KEPT
        assert max(panel.ops) == 42 + 3 * ENDED_KEPT - 1
        # What is shown is what it showed before forgetting: the running one and the latest.
        shown = [op.id for op in panel.shown_operations()]
        assert shown[0] == 1 and shown[1:] == sorted(panel.ops)[-3:]
