"""The list of chat sessions, newest first, each with its model and date; Enter opens one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.sanitize import sanitize
from tui.types import Session


def session_date(stamp: float, now: float | None = None) -> str:
    """When a session was last used, short: ``14:02`` today, ``3 Mar`` this year, else
    ``Mar 2024``."""
    if stamp <= 0:
        return ""
    when = datetime.fromtimestamp(stamp)
    today = datetime.fromtimestamp(time.time() if now is None else now)
    if when.date() == today.date():
        return when.strftime("%H:%M")
    if when.year == today.year:
        return f"{when.day} {when.strftime('%b')}"
    return when.strftime("%b %Y")


def _cut(text: str, width: int) -> Text:
    """``text`` on one line of at most ``width`` cells, cut with an ellipsis, never wrapped."""
    line = Text(text, no_wrap=True, overflow="ellipsis")
    line.truncate(max(1, width), overflow="ellipsis")
    return line


class SessionList(OptionList):
    """Sessions as options whose id is the session id: the title on one line, the model and the
    date on the next, each cut to the list's width (a name is never broken across lines)."""

    DEFAULT_CSS = """
    SessionList { width: 24; height: 1fr; border: round $panel; }
    SessionList:focus { border: round $accent; }
    """

    class SessionChosen(Message):
        """The user picked a session."""

        def __init__(self, session_id: int) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[list[Session], int | None] = ([], None)
        self._width = 0

    def _label_width(self) -> int:
        width = self.scrollable_content_region.width if self.is_mounted else 0
        return max(8, (width or 21) - 1)  # the option's own padding

    def show_sessions(self, sessions: Sequence[Session], current: int | None) -> None:
        """Replace the options, keeping ``current`` highlighted."""
        self._shown = (list(sessions), current)
        width = self._width = self._label_width()
        self.clear_options()
        now = time.time()
        for s in sessions:
            label = _cut(sanitize(s.title) or "(untitled)", width)
            date = session_date(s.updated_at or s.created_at, now)
            room = width - (cell_len(date) + 1 if date else 0)
            second = _cut(sanitize(s.model), room)
            if date:
                second.append(" " * (room - second.cell_len + 1) + date)
            second.stylize("dim")
            label.append("\n")
            label.append_text(second)
            self.add_option(Option(label, id=str(s.id)))
        if current is not None:
            try:
                self.highlighted = self.get_option_index(str(current))
            except Exception:  # the current session is not listed (yet)
                pass

    def on_resize(self, _event: events.Resize) -> None:
        if self._label_width() != self._width and self._shown[0]:
            self.show_sessions(*self._shown)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.SessionChosen(int(event.option.id)))
