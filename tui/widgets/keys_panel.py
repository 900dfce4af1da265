"""Every key of the screen shown, in a list that scrolls by keyboard (F1 or ``?``).

The screen's own actions come first (including those the footer has no room for), then the
app's keys, then the focused widget's (cursor movement and the like). Enter on a row closes the
panel and presses that key, so an action found here is one keypress away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

DESCRIPTIONS = {"command_palette": "Command palette (every action by name)"}
"""Better words for Textual's own actions."""


def _bindings_of(cls: type[Screen[object]]) -> list[Binding]:
    return [b for b in cls.BINDINGS if isinstance(b, Binding)]


@dataclass(frozen=True)
class KeyRow:
    """One action of the panel, with every key bound to it."""

    section: str
    keys: tuple[str, ...]
    """The keys as bound (the first is pressed when the row is chosen)."""
    display: str
    description: str


def key_rows(screen: Screen[object], screen_title: str) -> list[KeyRow]:
    """The keys active on ``screen``: the screen's, then the app's, then the widgets'."""
    app = screen.app
    # Keys every screen inherits from Textual's Screen (focus next, copy) are not this screen's.
    inherited = {binding.action for binding in _bindings_of(Screen)}
    found: dict[tuple[str, int, str], list[tuple[str, Binding]]] = {}
    for key, (node, binding, _enabled, _tooltip) in screen.active_bindings.items():
        if binding.system or key.startswith("super+"):
            continue
        if node is screen and binding.action not in inherited:
            section = "0"
        elif node is app or node is screen:
            section = "1"
        else:
            section = "2"
        found.setdefault((section, id(node), binding.action), []).append((key, binding))
    titles = {"0": screen_title, "1": "Everywhere", "2": "In this field or list"}
    rows: list[KeyRow] = []
    for (section, _node, action), keyed in sorted(found.items(), key=lambda item: item[0][0]):
        binding = keyed[0][1]
        display = " ".join(app.get_key_display(Binding(k, action)) for k, _ in keyed)
        description = DESCRIPTIONS.get(action) or binding.description or binding.tooltip
        description = description or action.replace("_", " ")
        rows.append(KeyRow(titles[section], tuple(k for k, _ in keyed), display, description))
    return rows


class KeysPanel(ModalScreen[str | None]):
    """Lists :func:`key_rows`; dismisses with the key to press, or ``None``."""

    DEFAULT_CSS = """
    KeysPanel { align: right middle; }
    KeysPanel > Vertical {
        width: 46; max-width: 100%; height: 100%;
        border-left: tall $primary; background: $surface;
    }
    KeysPanel .keys-title { text-style: bold; padding: 0 1; }
    KeysPanel OptionList { height: 1fr; border: none; }
    KeysPanel .keys-hint { color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark", "close", "Close", id="keys.close"),
    ]

    def __init__(self, rows: list[KeyRow], title: str) -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        width = max((len(row.display) for row in self.rows), default=4)
        options: list[Option | None] = []
        section = None
        for index, row in enumerate(self.rows):
            if row.section != section:
                if section is not None:
                    options.append(None)
                section = row.section
                options.append(Option(Text(row.section, style="bold underline"), disabled=True))
            line = Text(no_wrap=False)
            line.append(row.display.ljust(width), style="bold")
            line.append("  ")
            line.append(row.description)
            options.append(Option(line, id=str(index)))
        with Vertical():
            yield Static(self.title_text, classes="keys-title", markup=False)
            yield OptionList(*options, id="keys-list")
            yield Static("↑↓ PgUp PgDn move · enter press · esc close", classes="keys-hint")

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.focus()
        # The first row that is a key, not a section heading.
        for index in range(listing.option_count):
            if not listing.get_option_at_index(index).disabled:
                listing.highlighted = index
                break

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.dismiss(self.rows[int(event.option.id)].keys[0])

    def action_close(self) -> None:
        self.dismiss(None)
