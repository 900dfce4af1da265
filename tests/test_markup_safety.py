"""No text from outside (servers, files, model names, paths) is ever parsed as Textual markup.

``notify()`` parses its message as markup unless ``markup=False``: a server error such as
``boom [/]`` raised MarkupError from Toast.render and ended the app, ``[DONE]`` vanished and
``[@click=app.quit]`` became a click action. Widgets get such text as ``rich.text.Text`` or with
markup off.
"""

from __future__ import annotations

import ast
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Markdown, Static
from textual.widgets._toast import Toast

from tests.chatpilot import ready as chat_ready
from tests.chatpilot import send
from tests.conftest import REACHABLE, REPO
from tests.ollama_replay import Faults, ReplayServer, seed_models, start_replay_server
from tui.app import SlmdeckApp, make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config
from tui.controller import Controller
from tui.screens.models import ModelsScreen
from tui.widgets.chat_message import MessageView
from tui.widgets.confirm import ConfirmDialog
from tui.widgets.model_table import ModelTable

MODEL = "qwen2.5:0.5b"
ERRORS = [
    "boom [/] [@click=app.quit]",
    # pydantic / vLLM style validation errors
    "1 validation error for ChatRequest\noptions.temperature\n  Input should be a valid number "
    "[type=float_parsing, input_value='x', input_type=str]",
    "[DONE] [b]not bold[/b] [link=https://example.com]x[/link] [red",
]


def notify_calls_without_markup_off(root: Path) -> list[str]:
    """``.notify(...)`` calls under ``root`` that do not pass ``markup=False`` literally."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "notify"
            ):
                continue
            markup = {k.arg: k.value for k in node.keywords}.get("markup")
            if not (isinstance(markup, ast.Constant) and markup.value is False):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_notify_turns_markup_off() -> None:
    """A guard: a new ``notify()`` without ``markup=False`` fails here, not in a user's terminal."""
    assert notify_calls_without_markup_off(REPO / "tui") == []


def test_the_guard_sees_a_notify_with_markup(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "self.notify(x)\nself.app.notify(x, markup=True)\nself.deck.notify(x, markup=False)\n"
    )
    found = notify_calls_without_markup_off(tmp_path)
    assert [f.rsplit(":", 1)[1] for f in found] == ["1", "2"]


# ------------------------------------------------------------------------------ helpers


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def toasts_text(app: SlmdeckApp) -> str:
    """What the toasts on screen render to (rendering is where the MarkupError came from)."""
    return "\n".join(toast.render().plain for toast in app.screen.query(Toast))


def chat_app(server: ReplayServer) -> SlmdeckApp:
    controller = Controller(
        [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    return make_app(
        Config(), controller=controller, start_screen="chat", screen_options={"model": MODEL}
    )


# ------------------------------------------------------------------------------ chat


@pytest.mark.parametrize("message", ERRORS)
async def test_server_error_with_markup_is_shown_literally(message: str) -> None:
    faults = Faults(error_status=500, error_message=message, paths=frozenset({"/api/chat"}))
    with start_replay_server(reply="x", faults=faults) as server:
        app = chat_app(server)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            screen = await chat_ready(pilot)
            await send(pilot, screen, "hello?")
            await wait_for(pilot, lambda: list(app.screen.query(Toast)), "the error toast")
            await pilot.pause()
            assert app.is_running and app.return_code is None
            (notification,) = [n for n in app._notifications if n.title == "Chat failed"]
            assert not notification.markup
            first_line = message.splitlines()[0]
            assert first_line in notification.message
            assert first_line in toasts_text(app)
            reply = [v for v in screen.query(MessageView) if v.role == "assistant"][-1]
            assert reply.status == "error"
            assert first_line in str(reply.query_one(".msg-stats", Static).render())
            # The app still works: the next prompt gets an answer.
            server.state.faults = Faults()
            await send(pilot, screen, "again?")
            assert [v for v in screen.query(MessageView)][-1].content == "x"


async def test_reply_with_markup_is_shown_literally() -> None:
    reply = "Finished [DONE] here [/] and [@click=app.quit]quit[/] [b]plain[/b]."
    with start_replay_server(reply=reply) as server:
        app = chat_app(server)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            screen = await chat_ready(pilot)
            await send(pilot, screen, "say it")
            view = [v for v in screen.query(MessageView) if v.role == "assistant"][-1]
            assert view.content == reply
            body = view.query_one(".msg-body", Markdown)
            shown = "".join(str(block._content.plain) for block in body.query("MarkdownBlock"))
            assert "[DONE]" in shown and "[@click=app.quit]" in shown and "[/]" in shown
            assert app.is_running


async def test_typed_parameter_with_markup_is_shown_literally() -> None:
    with start_replay_server(reply="x") as server:
        app = chat_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            await chat_ready(pilot)
            await pilot.press("ctrl+g")
            await pilot.pause()
            dialog = app.screen
            dialog.query_one("#param-temperature", Input).value = "[/]"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "not '[/]'" in str(dialog.query_one("#params-error", Static).render())
            assert app.is_running


# ------------------------------------------------------------------------------ models


ODD = "x[/]:latest"


@pytest.fixture
def odd_replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        base = next(m for m in seed_models() if m.name == "qwen3:0.6b")
        server.state.add_model(dataclasses.replace(base, name=ODD, family="[b]fam[/]"))
        yield server


async def test_model_named_with_markup_is_listed_and_its_deletion_reported(
    odd_replay: ReplayServer,
) -> None:
    cfg = Config(ollama_host=odd_replay.host_port, model_dirs=[], retry_interval=0)
    app = make_app(cfg, start_screen="models")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one(ModelTable)
        names = [r.info.name for r in table.shown]
        assert ODD in names
        table.move_cursor(row=names.index(ODD))
        await pilot.pause()
        details = screen.query_one("#details-body", Static)
        await wait_for(pilot, lambda: "[b]fam[/]" in str(details.render()), "the details")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        assert ODD in str(app.screen.query(Static)[1].render())
        await pilot.press("y")
        # Like Ollama, the replay server refuses the name (400 'name "x[/]:latest" is invalid'):
        # the toast quotes it twice, the server's words included.
        await wait_for(pilot, lambda: "Could not delete" in toasts_text(app), "the toast")
        await pilot.pause()
        assert f"Could not delete {ODD}: " in toasts_text(app)
        assert f'"{ODD}"' in toasts_text(app)
        assert odd_replay.state.get(ODD) is not None
        assert app.is_running and app.screen is screen
