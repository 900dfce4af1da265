"""Which model Chat talks to (Pilot, against the Ollama replay): a model that is not installed is
said so, naming the backends checked, and does not reopen the last session; an embedding-only
model (capabilities ``embedding`` without ``completion``) is neither offered nor taken."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chatpilot import ready
from tests.conftest import REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config, data_dir
from tui.controller import Controller
from tui.store.chats import open_chat_store
from tui.widgets.chat_message import MessageView
from tui.widgets.chat_params import ModelPicker

EMBED = "nomic-embed-text:latest"


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply="Noted.") as server:
        yield server


def chat_app(server: ReplayServer, model: str) -> SlmdeckApp:
    controller = Controller(
        [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    return make_app(
        Config(), controller=controller, start_screen="chat", screen_options={"model": model}
    )


def toasts(app: SlmdeckApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def seed_session() -> None:
    store = open_chat_store(data_dir())
    old = store.create_session("The last chat", "ollama", "qwen2.5:0.5b")
    store.add_message(old.id, "user", "hello")
    store.db.close()


async def test_a_model_not_installed_is_said_and_the_last_session_stays_closed(
    replay: ReplayServer,
) -> None:
    seed_session()
    app = chat_app(replay, "nosuch:model")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        said = "nosuch:model is not installed: not listed by ollama (4 models)."
        await until(pilot, lambda: screen.model_problem == said, "the not-installed line")
        assert said in toasts(app)
        assert said in str(screen.query_one("#chat-status").render())
        assert "cannot be used" in str(screen.query_one("#chat-model").render())
        assert screen.session is None and not list(screen.query(MessageView))
        # Sending says why, and offers the picker, instead of a request that must fail.
        await pilot.press("h", "i", "enter")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the model picker")
        assert not [r for r in replay.requests if r.path == "/api/chat"]


async def test_a_model_that_is_listed_does_not_reopen_the_last_session(
    replay: ReplayServer,
) -> None:
    seed_session()
    app = chat_app(replay, "llama3.2")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: screen.backend_id == "ollama", "the model resolved")
        assert screen.model == "llama3.2:latest" and screen.model_problem == ""
        assert screen.session is None


async def test_embedding_models_are_not_offered_nor_taken_for_chat(replay: ReplayServer) -> None:
    app = chat_app(replay, "nomic-embed-text")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        listed = {m.name: m for m in app.controller.all_models()}
        assert listed[EMBED].capabilities == ("embedding",)  # as the backend reports it
        said = f"{EMBED} cannot chat: ollama reports embedding, not completion."
        await until(pilot, lambda: screen.model_problem == said, "the cannot-chat line")
        assert said in toasts(app) and screen.backend_id == ""
        names = [m.name for m in screen.chat_models()]
        assert EMBED not in names and "qwen2.5:0.5b" in names
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the model picker")
        assert EMBED not in [m.name for m in app.screen._models]


async def test_the_model_picker_filters_as_you_type(replay: ReplayServer) -> None:
    app = chat_app(replay, "qwen2.5:0.5b")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: screen.backend_id == "ollama", "the model resolved")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the model picker")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        everything = [m.name for m in picker.shown]
        assert len(everything) > 1
        await pilot.press(*"llama3")
        assert [m.name for m in picker.shown] == ["llama3.2:latest"]
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen, "the picker closed")
        assert screen.model == "llama3.2:latest"
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the model picker")
        await pilot.press(*"nothing-like-it")
        assert app.screen.shown == []
        await pilot.press("enter", "escape")  # enter on an empty list picks nothing
        await until(pilot, lambda: app.screen is screen, "the picker closed")
        assert screen.model == "llama3.2:latest"
