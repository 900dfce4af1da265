"""Progress of long operations (pull, import): a bar with bytes, rate and ETA per operation.

:class:`Transfer` turns a stream of :class:`~tui.types.Progress` steps into totals, a rate
over the last few seconds and an ETA; it is plain Python. :class:`OperationsPanel` draws the
controller's operations with it. The operations themselves run in the controller, so the panel can
be recreated (or its screen hidden) without stopping them: it reads their state back on mount.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from tui.controller import Operation, OperationState
from tui.core.sanitize import sanitize
from tui.monitor.fmt import format_bytes
from tui.types import Progress
from tui.widgets.gauges import bar

RATE_WINDOW = 3.0
"""Seconds of history the rate is measured over."""
DONE_VISIBLE = 8.0
"""Seconds a finished operation stays in the panel (failed and cancelled ones stay)."""


def format_eta(seconds: float | None) -> str:
    """``75`` → ``1:15``, ``3700`` → ``1:01:40``; ``–`` when unknown."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "–"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Transfer:
    """Bytes done and to do over every part of one operation (layers of a pull, hash + upload)."""

    parts: dict[str, tuple[int, int]] = field(default_factory=dict)
    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))
    status: str = ""

    def update(self, progress: Progress, now: float | None = None) -> None:
        """Take one step into account (``now``: a monotonic time, for tests)."""
        self.status = progress.status
        if progress.total:
            part = progress.digest or progress.status
            self.parts[part] = (min(progress.completed or 0, progress.total), progress.total)
            self.history.append((time.monotonic() if now is None else now, self.completed))

    @property
    def completed(self) -> int:
        return sum(c for c, _ in self.parts.values())

    @property
    def total(self) -> int:
        return sum(t for _, t in self.parts.values())

    @property
    def fraction(self) -> float | None:
        return self.completed / self.total if self.total else None

    @property
    def rate(self) -> float | None:
        """Bytes per second over the last :data:`RATE_WINDOW` seconds; None before two points."""
        if len(self.history) < 2:
            return None
        t_end, b_end = self.history[-1]
        start = next(((t, b) for t, b in self.history if t_end - t <= RATE_WINDOW), self.history[0])
        if start[0] >= t_end:
            start = self.history[-2]
        dt = t_end - start[0]
        return (b_end - start[1]) / dt if dt > 0 else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if not rate or rate <= 0:
            return None
        return (self.total - self.completed) / rate


_MARKS = {
    OperationState.RUNNING: ("⟳", "bold $accent"),
    OperationState.DONE: ("✓", "bold green"),
    OperationState.FAILED: ("✗", "bold red"),
    OperationState.CANCELLED: ("■", "bold yellow"),
}


def describe(op: Operation, transfer: Transfer, width: int) -> Text:
    """One line for ``op`` fitted to ``width`` cells."""
    mark, style = _MARKS[op.state]
    line = Text()
    line.append(f"{mark} ", style=style.replace("$accent", "cyan"))
    line.append(sanitize(op.title), style="bold")
    if op.state is OperationState.FAILED:
        line.append(f"  failed: {sanitize(op.error)}", style="red")
        kept = transfer.completed or (op.progress.completed or 0 if op.progress else 0)
        if op.retryable and op.kind == "pull" and kept:
            # Ollama keeps the part already downloaded: the next pull goes on from there.
            line.append(f"  (kept {format_bytes(kept)}: pull it again to resume)", style="dim")
        elif op.retryable:
            line.append("  (run it again to retry)", style="dim")
        return line
    if op.state is OperationState.CANCELLED:
        done = f" at {format_bytes(transfer.completed)}" if transfer.completed else ""
        line.append(f"  cancelled{done}", style="yellow")
        line.append("  (run it again to resume)", style="dim")
        return line
    if op.state is OperationState.DONE:
        line.append("  done", style="green")
        if transfer.total:
            line.append(f"  {format_bytes(transfer.total)}", style="dim")
        return line
    fraction = transfer.fraction
    figures = ""
    if fraction is not None:
        figures = (
            f" {fraction:4.0%} {format_bytes(transfer.completed)}/{format_bytes(transfer.total)}"
        )
        rate = transfer.rate
        if rate is not None:
            figures += f" {format_bytes(rate)}/s ETA {format_eta(transfer.eta)}"
    status = f"  {sanitize(transfer.status)}" if transfer.status else ""
    room = width - line.cell_len - len(figures) - 2
    if fraction is not None and room >= 8:
        bar_width = min(30, max(8, room - len(status)))
        filled, empty = bar(fraction, bar_width)
        line.append(" ")
        line.append(filled, style="cyan")
        line.append(empty, style="dim")
    line.append(figures)
    line.append(status, style="dim")
    line.truncate(width, overflow="ellipsis")
    return line


SHOWN_LINES = 4
"""Operations the panel shows at most, one line each."""
ENDED_KEPT = 8
"""Ended operations the panel keeps at most (it shows four lines)."""


class OperationsPanel(Widget):
    """The controller's operations that are running or recently ended, one line each."""

    DEFAULT_CSS = """
    OperationsPanel { height: auto; max-height: 4; padding: 0 1; display: none; }
    OperationsPanel.-active { display: block; }
    """

    def __init__(
        self, *, kinds: tuple[str, ...] = ("pull", "import", "copy"), id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.kinds = kinds
        self.transfers: dict[int, Transfer] = {}
        self.ops: dict[int, Operation] = {}

    def track(self, op: Operation) -> None:
        """Take an operation's latest state into account and redraw."""
        if op.kind not in self.kinds:
            return
        transfer = self.transfers.setdefault(op.id, Transfer())
        if op.progress is not None and op.state is OperationState.RUNNING:
            transfer.update(op.progress)
        self.ops[op.id] = op
        if op.state is OperationState.DONE:
            self.set_timer(DONE_VISIBLE + 0.1, self._refresh_visible)
        self._refresh_visible()

    def shown_operations(self) -> list[Operation]:
        """Running operations (always), then the latest that ended: finished in the last few
        seconds, or each title's latest failure; four lines at most."""
        showable = self._showable()
        running = [o for o in showable if o.state is OperationState.RUNNING]
        room = max(0, SHOWN_LINES - len(running))
        ended = [o for o in showable if o.state is not OperationState.RUNNING]
        return (running + (ended[-room:] if room else []))[:SHOWN_LINES]

    def _showable(self) -> list[Operation]:
        """What :meth:`shown_operations` chooses from: the running, those done in the last few
        seconds, and each title's latest failure (or cancellation)."""
        now = time.monotonic()
        out = []
        for op in self.ops.values():
            if op.state is OperationState.RUNNING:
                out.append(op)
            elif op.state is OperationState.DONE:
                if op.finished_at is not None and now - op.finished_at < DONE_VISIBLE:
                    out.append(op)
            elif not any(
                o.started_at > op.started_at and o.title == op.title for o in self.ops.values()
            ):
                out.append(op)
        return out

    def _forget(self) -> None:
        """Forget the operations that can never be shown again (done a while ago, or failed and
        run again since), and all but the last :data:`ENDED_KEPT` that ended: a long session pulls
        without end, and each kept one would stay for the session."""
        showable = self._showable()
        ended = [o for o in showable if o.state is not OperationState.RUNNING]
        keep = {o.id for o in showable} - {o.id for o in ended[: max(0, len(ended) - ENDED_KEPT)]}
        for op_id in [i for i in self.ops if i not in keep]:
            del self.ops[op_id]
            self.transfers.pop(op_id, None)

    def _refresh_visible(self) -> None:
        self._forget()
        self.set_class(bool(self.shown_operations()), "-active")
        self.refresh(layout=True)

    def running(self) -> list[Operation]:
        return [o for o in self.ops.values() if o.state is OperationState.RUNNING]

    def render(self) -> Text:
        width = max(20, self.content_region.width or self.size.width or 80)
        lines = [describe(op, self.transfers[op.id], width) for op in self.shown_operations()]
        return Text("\n").join(lines)
