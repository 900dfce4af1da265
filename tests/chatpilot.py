"""Driving the Chat screen in Pilot tests: wait until it is ready, send a prompt and wait for the
whole turn."""

from __future__ import annotations

from tui.screens.chat import ChatScreen


async def ready(pilot) -> ChatScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    await screen.ready.wait()
    await pilot.pause()
    return screen


async def send(pilot, screen: ChatScreen, text: str) -> None:  # type: ignore[no-untyped-def]
    """Put ``text`` in the prompt (every line of it, as a paste would), press enter, wait for the
    whole turn."""
    screen.prompt.value = text
    screen.prompt.focus()
    await pilot.press("enter")
    await pilot.pause()
    assert screen._turn_worker is not None
    await screen._turn_worker.wait()
    await pilot.pause()
