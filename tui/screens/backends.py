"""The Backends screen: every backend slmdeck knows, its URL or path, up/down, models and why."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import ColumnKey

from tui.controller import BackendChanged, BackendState, BackendStatus, HostChanged
from tui.core.sanitize import sanitize
from tui.messages import ControllerEvent
from tui.screens.base import DeckScreen
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.key_bar import KeyBar

_STATUS_LOOK = {
    BackendStatus.UP: ("● up", "bold green"),
    BackendStatus.DOWN: ("● down", "bold red"),
    BackendStatus.PROBING: ("◌ probing", "yellow"),
}


def status_text(state: BackendState) -> Text:
    label, style = _STATUS_LOOK[state.status]
    return Text(label, style=style)


class BackendsScreen(DeckScreen):
    """Lists backends with their state; ``r`` probes them all again."""

    CSS_PATH = "backends.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "r", "refresh", "Re-probe", id="backends.refresh", tooltip="Probe every backend now"
        ),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="backends-body"):
            yield Static("Backends", classes="section-title", id="backends-title")
            yield DataTable(id="backends-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="backend-detail", markup=False)
        yield GaugeStrip()
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#backends-table", DataTable)
        table.add_column("Backend", key="id")
        table.add_column("Status", key="status", width=10)
        table.add_column("Models", key="models", width=6)
        table.add_column("Location", key="location")
        table.add_column("Detail", key="detail")
        self.reload()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_detail_column)

    def _fit_detail_column(self) -> None:
        """Give the Detail column whatever width the others leave (DataTable has no fill column)."""
        table = self.query_one("#backends-table", DataTable)
        others = sum(
            c.get_render_width(table) for key, c in table.columns.items() if key.value != "detail"
        )
        detail = table.columns.get(ColumnKey("detail"))
        if detail is None:
            return
        width = max(10, table.scrollable_content_region.width - others - 2 * table.cell_padding)
        if detail.width != width or detail.auto_width:
            detail.auto_width = False
            detail.width = width
            table.refresh()

    def reload(self) -> None:
        """Show the controller's current states (rows of backends it no longer has go)."""
        controller = self.deck.controller
        table = self.query_one("#backends-table", DataTable)
        for key in [k for k in table.rows if str(k.value) not in controller.states]:
            table.remove_row(key)
        for state in controller.states.values():
            self._show(state)
        self._update_title()
        if table.row_count == 0:
            self.query_one("#backend-detail", Static).update("")
        self._update_detail()

    def _update_title(self) -> None:
        from tui.fleet.hosts import LOCAL

        host = self.deck.controller.current_host
        title = "Backends" if host == LOCAL else f"Backends of host {sanitize(host)}"
        self.query_one("#backends-title", Static).update(Text(title))

    def _show(self, state: BackendState) -> None:
        table = self.query_one("#backends-table", DataTable)
        cells = (
            Text(state.id, style="bold"),
            status_text(state),
            Text(str(state.model_count) if state.status is BackendStatus.UP else "–"),
            Text(sanitize(state.location), overflow="ellipsis", no_wrap=True),
            Text(sanitize(state.detail), overflow="ellipsis", no_wrap=True),
        )
        if state.id in table.rows:
            for column, cell in zip(
                ("id", "status", "models", "location", "detail"), cells, strict=True
            ):
                table.update_cell(state.id, column, cell)
        else:
            table.add_row(*cells, key=state.id)
        self.call_after_refresh(self._fit_detail_column)

    def _update_detail(self) -> None:
        table = self.query_one("#backends-table", DataTable)
        controller = self.deck.controller
        detail = self.query_one("#backend-detail", Static)
        if table.row_count == 0:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        state = controller.states.get(str(row_key.value))
        if state is None:
            return
        text = Text()
        text.append(f"{state.id}", style="bold")
        text.append(f"  ({state.kind})\n")
        text.append(f"{sanitize(state.location)}\n")
        text.append(sanitize(state.detail) or state.status.value)
        if state.capabilities:
            caps = ", ".join(sorted(c.value for c in state.capabilities))
            text.append(f"\ncan: {caps}", style="dim")
        if state.problems:
            count = len(state.problems)
            text.append(
                f"\n{count} {'entry' if count == 1 else 'entries'} not read:", style="yellow"
            )
            for problem in state.problems[:5]:
                text.append(f"\n  • {sanitize(problem)}", style="yellow")
            if count > 5:
                text.append(f"\n  … and {count - 5} more (slmdeck models lists them all)")
        detail.update(text)

    @on(DataTable.RowHighlighted, "#backends-table")
    def _highlighted(self) -> None:
        self._update_detail()

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, HostChanged):
            # Another host's backends: the rows of the host left must go, not linger.
            self.reload()
        elif isinstance(event, BackendChanged):
            # The controller's state now, not the event's: one replayed after a host switch may
            # belong to the host left (and is dropped when this host has no such backend).
            state = self.deck.controller.states.get(event.state.id)
            if state is not None:
                self._show(state)
                self._update_detail()

    def action_refresh(self) -> None:
        self.notify("Probing backends…", timeout=2, markup=False)
        self.deck.reprobe()
