"""What every cell of the fault matrix needs: apps wired to a faulty server, a clock for keys,
the messages the app showed, and the replies the chat store kept.

Keys are timed by event: :class:`KeyClock` wraps the app's own action handlers (switching screens,
the keys panel) so each records when it runs; the latency of a key is the app time
(tests/keytime.py) from the moment ``pilot.press`` posted it to that one, the best of up to
:data:`~tests.keytime.TRIES` presses while the fault is still active. Nothing sleeps for time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from tests.conftest import FIXTURES, REPO, closed_port
from tests.keytime import CLOCK, Mark, within_budget
from tests.waiting import DEADLINE, until
from tui.app import SlmdeckApp, make_app
from tui.backends.base import Backend
from tui.backends.ollama import OllamaBackend
from tui.backends.onnx_genai import OnnxGenAIBackend
from tui.backends.openai_compat import OpenAICompatBackend
from tui.config import Config, data_dir
from tui.controller import BackendStatus, Controller
from tui.monitor import Monitor, load_samples

TIMEOUT = 1.0
"""Seconds the backends under test wait (probe, list, a silent stream): short, so silence and
drips end in a message quickly; a healthy loopback server answers in milliseconds."""
SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
ONNX_MODEL = "tiny-llama"
"""The ONNX model in ``tests/fixtures``: listed whatever the faulty server does."""
OPENAI_ID = "openai:faulty"

MARKUP = "boom [/] [@click=app.quit] [DONE]"
ESCAPES = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m boom"
ESCAPES_SHOWN = "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x9b31m boom"
""":data:`ESCAPES` as slmdeck shows it: every control character visible, none sent."""
RAW_CONTROLS = ("\x1b", "\x07", "\x9b")
HTML_500 = (
    b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    b"<body><h1>Internal Server Error</h1><p>nginx</p></body></html>\n"
)


def ollama_backend(url: str, **kw: Any) -> OllamaBackend:
    return OllamaBackend(
        url,
        timeout=kw.get("timeout", TIMEOUT),
        list_timeout=kw.get("list_timeout", TIMEOUT),
        stream_timeout=kw.get("stream_timeout", TIMEOUT),
        connect_timeout=TIMEOUT,
    )


def openai_backend(url: str, **kw: Any) -> OpenAICompatBackend:
    return OpenAICompatBackend(
        url,
        backend_id=OPENAI_ID,
        timeout=kw.get("timeout", TIMEOUT),
        list_timeout=kw.get("list_timeout", TIMEOUT),
        stream_timeout=kw.get("stream_timeout", TIMEOUT),
        connect_timeout=TIMEOUT,
    )


def deck_app(
    backend: Backend,
    start_screen: str = "backends",
    options: dict[str, str] | None = None,
    *,
    probe_timeout: float = 3 * TIMEOUT,
) -> SlmdeckApp:
    """The app with ``backend`` and the ONNX fixtures, short timeouts, no retry loop, replayed
    gauges."""
    controller = Controller(
        [backend, OnnxGenAIBackend([FIXTURES])],
        # Longer than the backends' own bounds, so that theirs (naming what did not come) fire.
        probe_timeout=probe_timeout,
        retry_interval=0,
        monitor=Monitor.replay(SAMPLES, preload=True),
    )
    return make_app(
        Config(model_dirs=[FIXTURES]),
        controller=controller,
        start_screen=start_screen,
        screen_options=options,
    )


class KeyClock:
    """Times keys by the handlers they reach (see the module docstring); records every
    notification the app shows, and checks none is parsed as markup."""

    def __init__(self, app: SlmdeckApp) -> None:
        self.app = app
        self.handled: list[Mark] = []
        self.notes: list[tuple[str, str]] = []
        show, toggle, notify = app.action_show_screen, app.action_toggle_keys, app.notify

        def show_screen(name: str) -> None:
            self.handled.append(CLOCK.mark())
            show(name)

        def toggle_keys() -> None:
            self.handled.append(CLOCK.mark())
            toggle()

        def noted(message: str, *, title: str = "", markup: bool = True, **kw: Any) -> None:
            assert markup is False, f"notify() with markup on: {message!r}"
            self.notes.append((title, message))
            notify(message, title=title, markup=markup, **kw)

        app.action_show_screen = show_screen  # type: ignore[method-assign]
        app.action_toggle_keys = toggle_keys  # type: ignore[method-assign]
        app.notify = noted  # type: ignore[method-assign]

    async def latency(self, pilot: Any, key: str) -> float:
        """Press ``key``; seconds until its handler ran."""
        count = len(self.handled)
        pressed = CLOCK.mark()
        await pilot.press(key)
        await until(pilot, lambda: len(self.handled) > count, f"the handler of {key!r}")
        return CLOCK.since(pressed, self.handled[count])

    async def keys_answer(self, pilot: Any) -> None:
        """f1 reaches the app's handler (opening the keys panel) within the budget, the best of
        up to :data:`~tests.keytime.TRIES` presses; f1 again closes the panel each time."""
        from tui.widgets.keys_panel import KeysPanel

        async def press() -> float:
            waited = await self.latency(pilot, "f1")
            await until(pilot, lambda: isinstance(self.app.screen, KeysPanel), "the keys panel")
            await pilot.press("f1")
            await until(pilot, lambda: not isinstance(self.app.screen, KeysPanel), "panel gone")
            return waited

        await within_budget(press, "f1")

    async def switch(self, pilot: Any, key: str, screen: type) -> None:
        """Switch screens with ``key`` and wait for the screen; the key (pressed again on the
        screen it shows, which switches nothing) reaches its handler within the budget, the best
        of up to :data:`~tests.keytime.TRIES` presses."""

        async def press() -> float:
            waited = await self.latency(pilot, key)
            await until(pilot, lambda: isinstance(self.app.screen, screen), screen.__name__)
            return waited

        await within_budget(press, key)

    def said(self, *parts: str) -> str:
        """The one notification holding every one of ``parts``; fails naming all shown."""
        found = [m for _, m in self.notes if all(p in m for p in parts)]
        assert found, f"no notification holds {parts}; shown: {self.notes}"
        for raw in RAW_CONTROLS:
            assert raw not in found[0]
        return found[0]


def alive(app: SlmdeckApp) -> None:
    assert app.is_running and app.return_code is None, "the app ended"


async def wait_state(pilot: Any, app: SlmdeckApp, backend_id: str, status: BackendStatus) -> str:
    state = app.controller.states
    await until(pilot, lambda: state[backend_id].status is status, f"{backend_id} {status}")
    return state[backend_id].detail


def stored_replies() -> list[tuple[str, str]]:
    """(status, content) of every assistant reply in the chat store, read from disk."""
    from tui.store.chats import open_chat_store

    store = open_chat_store(data_dir())
    try:
        return [
            (m.status, m.content)
            for s in store.sessions()
            for m in store.messages(s.id)
            if m.role == "assistant"
        ]
    finally:
        store.close()


# ------------------------------------------------------------------------ servers in a process


@dataclasses.dataclass
class Spawned:
    """A fault server running as its own process (so a test can kill it mid-stream)."""

    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(DEADLINE)


@contextlib.contextmanager
def spawn(module: str, args: Sequence[str], port: int | None = None) -> Iterator[Spawned]:
    """``python -m module --port P args...`` until its first line says it serves; killed on exit."""
    port = port or closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert " on http://" in line, f"{module} did not start: {line}"
        yield Spawned(process, port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)
        if process.stdout is not None:
            process.stdout.close()


def onnx_listed(app: SlmdeckApp) -> bool:
    return any(m.name == ONNX_MODEL for m in app.controller.all_models())


def shown_models(app: SlmdeckApp) -> list[str]:
    from tui.widgets.model_table import ModelTable

    return [r.info.name for r in app.screen.query_one(ModelTable).shown]


def detail_text(app: SlmdeckApp) -> str:
    """What the Backends screen's detail pane shows."""
    from textual.widgets import Static

    return str(app.screen.query_one("#backend-detail", Static).render())


async def listing_cell(
    backend: Backend, backend_id: str, where: str, cause: str, model: str, heal: Any
) -> None:
    """The listing cell of a backend that is down: Backends shows it down, the detail starting
    with ``where`` and holding ``cause`` (no raw control character); Models keeps the ONNX model
    and names the backend down; keys switch screens in time; after ``heal()``, r on Backends
    brings ``model`` back."""
    from tests.waiting import until
    from tui.screens.backends import BackendsScreen
    from tui.screens.models import ModelsScreen

    app = deck_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        detail = await wait_state(pilot, app, backend_id, BackendStatus.DOWN)
        assert detail.startswith(f"{where} ") and cause in detail, detail
        await pilot.pause()
        shown = detail_text(app)
        assert cause in shown and not any(c in shown for c in RAW_CONTROLS)
        await keys.switch(pilot, "2", ModelsScreen)
        await until(pilot, lambda: ONNX_MODEL in shown_models(app), "the ONNX model kept")
        from textual.widgets import Static

        title = str(app.screen.query_one("#models-title", Static).render())
        assert f"down: {backend_id}" in title, title
        await keys.switch(pilot, "1", BackendsScreen)
        heal()
        await pilot.press("r")
        await wait_state(pilot, app, backend_id, BackendStatus.UP)
        await keys.switch(pilot, "2", ModelsScreen)
        await until(pilot, lambda: model in shown_models(app), "the backend's models back")
        alive(app)


async def chat_cell(
    backend: Backend, backend_id: str, model: str, complete: str, inject: Any, heal: Any
) -> tuple[KeyClock, list[tuple[str, str]]]:
    """The chat cell: Chat on ``model``, ``inject()``, send (keys answer while it runs); then
    ``heal()`` and send again, which completes with ``complete``. Returns the key clock (for the
    messages shown) and the replies stored after the faulty turn."""
    from tests.chatpilot import ready, send

    app = deck_app(backend, "chat", {"model": model, "backend": backend_id})
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = await ready(pilot)
        inject()
        screen.prompt.value = "hello"
        screen.prompt.focus()
        await pilot.press("enter")
        await keys.keys_answer(pilot)
        assert screen._turn_worker is not None
        await screen._turn_worker.wait()
        await pilot.pause()
        alive(app)
        faulted = stored_replies()
        heal()
        await send(pilot, screen, "again")
        assert stored_replies()[-1] == ("complete", complete)
        alive(app)
        return keys, faulted
