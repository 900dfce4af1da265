"""The session list (Pilot): dates, names cut with an ellipsis instead of wrapped mid-word, and
f4 hides it so that the conversation gets its columns at 80."""

from __future__ import annotations

import time

from tests.test_snapshots_chat import seeded_app, settle
from tui.screens.chat import ChatScreen
from tui.widgets.chat_sessions import SessionList, session_date


def test_session_dates_are_short() -> None:
    noon = 1709467200.0  # 2024-03-03 12:00 UTC
    assert session_date(noon, noon + 60) == time.strftime("%H:%M", time.localtime(noon))
    assert session_date(noon - 86400 * 10, noon) in ("22 Feb", "23 Feb")
    assert session_date(noon, noon + 86400 * 400) == "Mar 2024"
    assert session_date(0) == ""


async def test_f4_hides_the_session_list_and_f2_brings_it_back() -> None:
    app = seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        sessions = screen.query_one(SessionList)
        # Two lines per session, each within the list: a name is cut, never wrapped.
        for i in range(sessions.option_count):
            prompt = sessions.get_option_at_index(i).prompt
            lines = str(prompt).split("\n")
            assert len(lines) == 2 and "Mar 2024" in lines[1]
            assert all(len(line) <= sessions.scrollable_content_region.width for line in lines)
        main = screen.query_one("#chat-main")
        narrow = main.size.width
        await pilot.press("f4")
        await pilot.pause()
        assert not sessions.display and app.focused is screen.prompt
        assert main.size.width == narrow + 24
        await pilot.press("f2")
        await pilot.pause()
        assert sessions.display and sessions.has_focus
        await pilot.press("f4")
        await pilot.pause()
        assert not sessions.display and app.focused is screen.prompt
