"""The Chat screen against real backends: the in-process ONNX model and a real llama.cpp
OpenAI-compatible server, both on the tiny trained fixture that answers "The capital of France is
Paris." Stream, stop, regenerate, switch sessions and export on each."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.worker import WorkerCancelled

from tests import llamacpp_server
from tests.conftest import TINY_GGUF, TINY_ONNX
from tests.waiting import workers_done
from tui.app import SlmdeckApp, make_app
from tui.backends.base import Backend
from tui.backends.onnx_genai import OnnxGenAIBackend
from tui.backends.openai_compat import OpenAICompatBackend
from tui.config import Config, data_dir
from tui.controller import Controller
from tui.screens.chat import ChatScreen
from tui.store.chats import open_chat_store
from tui.widgets.chat_message import MessageView

QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."
GREEDY = {"temperature": 0.0, "seed": 0, "max_tokens": 40}


def app_for(backend: Backend, model: str) -> SlmdeckApp:
    controller = Controller([backend], retry_interval=0)
    return make_app(
        Config(),
        controller=controller,
        start_screen="chat",
        screen_options={"model": model, "backend": backend.id},
    )


async def ready(pilot) -> ChatScreen:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await screen.ready.wait()
    screen.chat.set_parameters(screen.system_prompt, dict(GREEDY))  # deterministic replies
    await pilot.pause()
    return screen


async def ask(pilot, screen: ChatScreen, text: str | None) -> MessageView:  # type: ignore[no-untyped-def]
    if text is None:
        await pilot.press("ctrl+r")
    else:
        screen.prompt.value = text
        screen.prompt.focus()
        await pilot.press("enter")
    await pilot.pause()
    assert screen._turn_worker is not None
    await screen._turn_worker.wait()
    await pilot.pause()
    return list(screen.query(MessageView))[-1]


async def stop_early(pilot, screen: ChatScreen) -> MessageView:  # type: ignore[no-untyped-def]
    """Press Escape's action the moment the first token is shown: the tiny models answer faster
    than a key press travels, so the stop is triggered from the delta callback itself."""
    shown = screen._on_delta

    def on_delta(text: str, thinking: str) -> None:
        shown(text, thinking)
        screen.action_stop()

    screen._on_delta = on_delta  # type: ignore[method-assign]
    screen.prompt.value = QUESTION
    await pilot.press("enter")
    await pilot.pause()
    assert screen._turn_worker is not None
    with pytest.raises(WorkerCancelled):
        await screen._turn_worker.wait()
    await pilot.pause()
    del screen._on_delta
    return list(screen.query(MessageView))[-1]


async def exercise(app: SlmdeckApp) -> None:
    """Stream, regenerate, stop, new session, switch back, export: the same on every backend."""
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        reply = await ask(pilot, screen, QUESTION)
        assert reply.status == "complete"
        assert reply.content.strip() == ANSWER
        assert "tok/s" in str(reply.query_one(".msg-stats").render())

        again = await ask(pilot, screen, None)
        assert again.content.strip() == ANSWER
        assert len(list(screen.query(MessageView))) == 2
        first = screen.session
        assert first is not None

        await pilot.press("ctrl+n")
        await workers_done(app)
        stopped = await stop_early(pilot, screen)
        assert stopped.status == "stopped"
        assert stopped.content and ANSWER.startswith(stopped.content)
        assert len(stopped.content) < len(ANSWER)
        assert screen.prompt.value == QUESTION
        assert screen.session is not None
        (_, kept) = open_chat_store(data_dir()).messages(screen.session.id)
        assert (kept.status, kept.content) == ("stopped", stopped.content)

        await pilot.press("f2", "end", "enter")
        await workers_done(app)
        await pilot.pause()
        assert screen.session is not None and screen.session.id == first.id
        assert [v.content.strip() for v in screen.query(MessageView)] == [QUESTION, ANSWER]

        await pilot.press("ctrl+o")
        await workers_done(app)
    exported = json.loads(
        next((data_dir() / "exports").glob(f"session-{first.id}-*.json")).read_text()
    )
    assert [m["content"].strip() for m in exported["messages"]] == [QUESTION, ANSWER]
    stored = open_chat_store(data_dir()).messages(first.id)
    assert [m.status for m in stored] == ["complete", "complete"]


@pytest.fixture
def onnx_models(tmp_path: Path) -> Path:
    if not (TINY_ONNX / "genai_config.json").is_file():
        pytest.fail(f"{TINY_ONNX} is missing: it is committed, restore it")
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / TINY_ONNX.name)
    return root


async def test_chat_with_onnx_in_process(onnx_models: Path) -> None:
    backend = OnnxGenAIBackend([onnx_models])
    models = await backend.list_models()
    assert models, "the tiny ONNX model was not found"
    await exercise(app_for(backend, models[0].name))


@pytest.fixture(scope="module")
def llama() -> Iterator[llamacpp_server.LlamaServer]:
    if not (llamacpp_server.available() and TINY_GGUF.is_file()):
        # A test dependency (the test extras install it) and a committed fixture: never a skip.
        pytest.fail(
            f"{llamacpp_server.MISSING} (pip install -e '.[test]'), or the tiny GGUF is missing"
        )
    with llamacpp_server.llamacpp_server(TINY_GGUF) as server:
        yield server


@pytest.mark.llamacpp
async def test_chat_with_openai_compatible_llamacpp(llama: llamacpp_server.LlamaServer) -> None:
    backend = OpenAICompatBackend(llama.url, backend_id="openai:llama.cpp")
    await exercise(app_for(backend, llama.model_id))
