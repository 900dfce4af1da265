"""The list of chat sessions, newest first; Enter opens one."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.sanitize import sanitize
from tui.types import Session


class SessionList(OptionList):
    """Sessions as options whose id is the session id."""

    DEFAULT_CSS = """
    SessionList { width: 24; height: 1fr; border: round $panel; }
    SessionList:focus { border: round $accent; }
    """

    class SessionChosen(Message):
        """The user picked a session."""

        def __init__(self, session_id: int) -> None:
            super().__init__()
            self.session_id = session_id

    def show_sessions(self, sessions: Sequence[Session], current: int | None) -> None:
        """Replace the options, keeping ``current`` highlighted."""
        self.clear_options()
        for s in sessions:
            label = Text(sanitize(s.title) or "(untitled)", no_wrap=True, overflow="ellipsis")
            label.append(f"\n{sanitize(s.model)}", style="dim")
            self.add_option(Option(label, id=str(s.id)))
        if current is not None:
            try:
                self.highlighted = self.get_option_index(str(current))
            except Exception:  # the current session is not listed (yet)
                pass

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.SessionChosen(int(event.option.id)))
