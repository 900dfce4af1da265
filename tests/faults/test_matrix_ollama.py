"""The fault matrix for Ollama, on screens: Backends + Models (listing), Models (pull), Chat.

One replay server for the module, its state reset per test. Every cell checks: the app is still
running; keys reach their handlers within 250 ms while the fault is active (by event: see
:class:`~tests.faults.harness.KeyClock`); what arrived before the fault is kept (the ONNX models
listed, the tokens of a reply in the store, the bytes of a pull); a message names Ollama, its
address and the cause; and the same action works once the server is healthy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from tests.chatpilot import ready as chat_ready
from tests.chatpilot import send
from tests.conftest import REACHABLE, closed_port
from tests.faults import harness
from tests.faults.harness import (
    ESCAPES,
    ESCAPES_SHOWN,
    HTML_500,
    MARKUP,
    ONNX_MODEL,
    RAW_CONTROLS,
    KeyClock,
    alive,
    deck_app,
    ollama_backend,
    shown_models,
    spawn,
    stored_replies,
    wait_state,
)
from tests.ollama_replay import ReplayServer, ReplayState, many_models, seed_models
from tests.ollama_replay import start_replay_server as start_replay
from tests.waiting import DEADLINE, until
from tui.controller import BackendStatus, OperationState
from tui.screens.backends import BackendsScreen
from tui.screens.models import ModelsScreen
from tui.widgets.progress import OperationsPanel

MODEL = "qwen2.5:0.5b"
PULL = "smollm2:135m"
REPLY = "one two three four five six seven eight"
PROBE = {"/api/version", "/api/tags"}


@pytest.fixture(scope="module")
def module_server() -> Iterator[ReplayServer]:
    with start_replay() as srv:
        yield srv


@pytest.fixture
def server(module_server: ReplayServer) -> ReplayServer:
    """The module's server with a fresh state (seed models, no faults) for this test."""
    module_server.state = module_server.httpd.state = ReplayState()
    module_server.set_reply(REPLY)
    return module_server


def tags_body(server: ReplayServer) -> bytes:
    with urllib.request.urlopen(f"{server.url}/api/tags", timeout=DEADLINE) as response:
        body: bytes = response.read()
    return body


def where(server: ReplayServer) -> str:
    return f"Ollama at {server.host_port}"


# ------------------------------------------------------------------ Backends + Models (listing)

DOWN: dict[str, tuple[dict[str, Any], str]] = {
    "silence": (dict(delay_first_byte=DEADLINE), "did not answer within 1 s"),
    "drip": (
        dict(drip_interval=0.05, paths={"/api/tags"}),
        "did not send its model list (/api/tags) within 1 s",
    ),
    "500-json": (
        dict(error_status=500, error_message="out of memory"),
        "answered 500: out of memory",
    ),
    "500-html": (
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
    ),
    "500-markup": (dict(error_status=500, error_message=MARKUP), f"answered 500: {MARKUP}"),
    "500-escapes": (
        dict(error_status=500, error_message=ESCAPES),
        f"answered 500: {ESCAPES_SHOWN}",
    ),
    "404": (
        dict(error_status=404, error_body=b"404 page not found", error_content_type="text/plain"),
        "has no /api/version (HTTP 404): the URL is wrong or the server there is not Ollama",
    ),
    "garbage": (dict(garbage_after_chunks=0), "answered an HTML page saying 'this is not JSON'"),
}


async def listing_cell(url: str, cause: str, heal: Any) -> None:
    where = f"Ollama at {url.removeprefix('http://')}"
    await harness.listing_cell(ollama_backend(url), "ollama", where, cause, MODEL, heal)


@pytest.mark.parametrize("scenario", list(DOWN))
async def test_listing(server: ReplayServer, scenario: str) -> None:
    faults, cause = DOWN[scenario]
    server.set_faults(**{"paths": PROBE, **faults})
    await listing_cell(server.url, cause, server.clear_faults)


async def test_listing_refused() -> None:
    port = closed_port()
    servers: list[ReplayServer] = []
    try:
        await listing_cell(
            f"http://127.0.0.1:{port}",
            "is not running (connection refused)",
            lambda: servers.append(start_replay(port=port)),
        )
    finally:
        for srv in servers:
            srv.stop()


async def test_listing_bad_utf8_name(server: ReplayServer) -> None:
    """One name that is not UTF-8 hides that model only, and Backends says which and why."""
    body = (await asyncio.to_thread(tags_body, server)).replace(
        b'"qwen3:0.6b"', b'"qwen3:0.6b\xff"'
    )
    server.set_faults(replace_body=body, paths={"/api/tags"})
    app = deck_app(ollama_backend(server.url))
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await wait_state(pilot, app, "ollama", BackendStatus.UP)
        await pilot.pause()
        assert "not valid UTF-8" in harness.detail_text(
            app
        ) and "qwen3:0.6b" in harness.detail_text(app)
        await keys.switch(pilot, "2", ModelsScreen)
        await until(pilot, lambda: MODEL in shown_models(app), "the other models")
        assert "qwen3:0.6b" not in shown_models(app) and ONNX_MODEL in shown_models(app)
        await keys.switch(pilot, "1", BackendsScreen)
        server.clear_faults()
        await pilot.press("r")
        await until(pilot, lambda: app.controller.states["ollama"].model_count == 4, "all four")
        assert app.controller.states["ollama"].problems == ()
        alive(app)


HOSTILE = ("x[/]:latest", "[@click=app.quit]:latest", "esc\x1b]0;pwn\x07:latest")


@pytest.mark.parametrize("scenario", ["10000-models", "hostile-names"])
async def test_listing_up(server: ReplayServer, scenario: str) -> None:
    """10,000 models, or names with markup and escape sequences: listed, filterable, keys in
    time; the list follows the server when it changes back."""
    base = next(m for m in seed_models() if m.name == MODEL)
    extra = (
        many_models(10_000)
        if scenario == "10000-models"
        else [dataclasses.replace(base, name=n, family="[b]x[/]") for n in HOSTILE]
    )
    for model in extra:
        server.state.add_model(model)
    # A healthy server here: the bounds a machine's pace cannot reach, not the fault tests' 1 s
    # (10,000 entries parsed on a busy 2-core machine can take longer than that).
    backend = ollama_backend(server.url, timeout=REACHABLE, list_timeout=REACHABLE)
    app = deck_app(backend, start_screen="models", probe_timeout=3 * REACHABLE)
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await wait_state(pilot, app, "ollama", BackendStatus.UP)
        await until(pilot, lambda: len(shown_models(app)) == 5 + len(extra), "every model")
        typed, wanted = ("09999", extra[-1].name) if len(extra) > 3 else ("pwn", HOSTILE[2])
        await pilot.press("slash", *typed)
        await until(pilot, lambda: shown_models(app) == [wanted], "the filtered model")
        await pilot.press("escape")
        await keys.keys_answer(pilot)
        await keys.switch(pilot, "1", BackendsScreen)
        await keys.switch(pilot, "2", ModelsScreen)
        screenshot = app.export_screenshot()
        assert not any(c in screenshot for c in RAW_CONTROLS)
        with server.state.lock:
            for model in extra:
                del server.state.models[model.name]
        app.reprobe()
        await until(pilot, lambda: len(shown_models(app)) == 5, "the list back to five")
        alive(app)


# ----------------------------------------------------------------------------------- Chat

CHAT: dict[str, tuple[dict[str, Any], str, str]] = {
    # scenario: (faults on /api/chat, the cause, tokens kept before the fault)
    "silence": (dict(delay_first_byte=DEADLINE), "did not answer within 1 s", ""),
    "500-json": (
        dict(error_status=500, error_message="out of memory"),
        "answered 500: out of memory",
        "",
    ),
    "500-html": (
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
        "",
    ),
    "500-markup": (dict(error_status=500, error_message=MARKUP), f"answered 500: {MARKUP}", ""),
    "500-escapes": (
        dict(error_status=500, error_message=ESCAPES),
        f"answered 500: {ESCAPES_SHOWN}",
        "",
    ),
    "404": (
        dict(error_status=404, error_body=b"404 page not found", error_content_type="text/plain"),
        "answered 404 (404 page not found): the URL is wrong",
        "",
    ),
    "garbage": (dict(garbage_after_chunks=2), "'this is not json {' is not JSON", "one two"),
    "cut": (
        dict(die_after_chunks=2),
        "closed the connection before the reply was complete",
        "one two",
    ),
    "no-done": (dict(end_after_chunks=2), "cut the reply off", "one two"),
}


async def chat_cell(url: str, inject: Any, heal: Any) -> tuple[KeyClock, Any]:
    return await harness.chat_cell(ollama_backend(url), "ollama", MODEL, REPLY, inject, heal)


@pytest.mark.parametrize("scenario", list(CHAT))
async def test_chat(server: ReplayServer, scenario: str) -> None:
    faults, cause, kept = CHAT[scenario]
    keys, faulted = await chat_cell(
        server.url, lambda: server.set_faults(paths={"/api/chat"}, **faults), server.clear_faults
    )
    keys.said(where(server), cause)
    assert faulted == [("error", kept)]


async def test_chat_refused(tmp_path: Path) -> None:
    """The server goes away (its process killed: no connection survives), then comes back on
    the same port."""
    (tmp_path / "reply.txt").write_text(REPLY, encoding="utf-8")
    args = ["--reply-file", str(tmp_path / "reply.txt")]
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(spawn("tests.ollama_replay", args))
        keys, faulted = await chat_cell(
            first.url,
            first.kill,
            lambda: stack.enter_context(spawn("tests.ollama_replay", args, port=first.port)),
        )
    keys.said(f"Ollama at 127.0.0.1:{first.port}", "is not running (connection refused)")
    assert faulted == [("error", "")]


async def test_chat_bad_utf8(server: ReplayServer) -> None:
    """Bytes that are not UTF-8 mid-stream become U+FFFD; the reply completes and is kept."""
    keys, faulted = await chat_cell(
        server.url,
        lambda: server.set_faults(paths={"/api/chat"}, bad_utf8_after_chunks=2),
        server.clear_faults,
    )
    assert faulted == [
        ("complete", "one twobad \ufffd\ufffd bytes three four five six seven eight")
    ]
    assert not [t for t, _ in keys.notes if t == "Chat failed"]


async def test_chat_hostile_output(server: ReplayServer) -> None:
    """A reply holding markup and escape sequences is kept with its markup as sent and its
    control characters made visible (none reaches the terminal), and drawn literally."""
    keys, faulted = await chat_cell(
        server.url,
        lambda: server.set_reply(f"{MARKUP} {ESCAPES}"),
        lambda: server.set_reply(REPLY),
    )
    assert faulted == [("complete", f"{MARKUP} {ESCAPES_SHOWN}")]
    assert all(title != "Chat failed" for title, _ in keys.notes)


async def test_chat_slow_drip_stopped_keeps_tokens(server: ReplayServer) -> None:
    """A slow model: keys answer while it streams; esc stops it; the tokens so far are kept."""
    app = deck_app(ollama_backend(server.url), "chat", {"model": MODEL, "backend": "ollama"})
    server.set_reply(" ".join(f"w{i}" for i in range(400)))
    server.state.token_rate = 20.0
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = await chat_ready(pilot)
        screen.prompt.value = "hello"
        screen.prompt.focus()
        await pilot.press("enter")
        await until(pilot, lambda: len(server.state.requests) and screen.streaming, "streaming")
        await until(pilot, lambda: stored_replies()[-1][1].startswith("w0 w1"), "tokens stored")
        await keys.keys_answer(pilot)
        await pilot.press("escape")
        worker = screen._turn_worker
        assert worker is not None
        await until(pilot, lambda: worker.is_finished, "the stop")  # cancelled: no wait()
        await pilot.pause()
        status, content = stored_replies()[-1]
        assert status == "stopped" and content.startswith("w0 w1") and "w399" not in content
        assert "Stopped" in str(screen.query_one("#chat-status", Static).render())
        server.state.token_rate = None
        server.set_reply(REPLY)
        await send(pilot, screen, "again")
        assert stored_replies()[-1] == ("complete", REPLY)
        alive(app)


# ------------------------------------------------------------------------------ Models: pull

PULL_FAULTS: dict[str, tuple[dict[str, Any], str, bool]] = {
    # scenario: (faults on /api/pull, the cause, whether bytes arrived before the fault)
    "silence": (dict(delay_first_byte=DEADLINE), "did not answer within 1 s", False),
    "500-json": (
        dict(error_status=500, error_message="out of memory"),
        "answered 500: out of memory",
        False,
    ),
    "500-html": (
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
        False,
    ),
    "500-markup": (dict(error_status=500, error_message=MARKUP), f"answered 500: {MARKUP}", False),
    "500-escapes": (
        dict(error_status=500, error_message=ESCAPES),
        f"answered 500: {ESCAPES_SHOWN}",
        False,
    ),
    "404": (
        dict(error_status=404, error_body=b"404 page not found", error_content_type="text/plain"),
        "answered 404 (404 page not found)",
        False,
    ),
    "garbage": (dict(garbage_after_chunks=3), "'this is not json {' is not JSON", True),
    "cut": (dict(die_after_chunks=3), "closed the connection before the reply was complete", True),
    "no-success": (
        dict(end_after_chunks=3),
        "ended the pull of 'smollm2:135m' without 'success'",
        True,
    ),
}


async def pull_cell(url: str, inject: Any, heal: Any) -> tuple[KeyClock, Any]:
    app = deck_app(ollama_backend(url), "models")
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await wait_state(pilot, app, "ollama", BackendStatus.UP)
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        inject()
        op = screen.start_pull("ollama", PULL)
        await keys.keys_answer(pilot)
        await until(pilot, lambda: op.state is not OperationState.RUNNING, "the pull's end")
        assert op.state is OperationState.FAILED
        panel = screen.query_one(OperationsPanel)
        await until(pilot, lambda: "failed" in str(panel.render()), "the panel's failure line")
        failed = dataclasses.replace(op, task=None)
        line = str(panel.render())
        assert not any(c in line for c in RAW_CONTROLS)
        heal()
        again = screen.start_pull("ollama", PULL)
        await until(pilot, lambda: again.state is not OperationState.RUNNING, "the second pull")
        assert again.state is OperationState.DONE, again.error
        await until(pilot, lambda: PULL in shown_models(app), "the pulled model listed")
        alive(app)
        return keys, (failed, line)


@pytest.mark.parametrize("scenario", list(PULL_FAULTS))
async def test_pull(server: ReplayServer, scenario: str) -> None:
    faults, cause, partial = PULL_FAULTS[scenario]
    keys, (op, line) = await pull_cell(
        server.url,
        lambda: server.set_faults(paths={"/api/pull"}, **faults),
        server.clear_faults,
    )
    message = keys.said(where(server), cause)
    assert cause in line
    if partial:
        # The bytes already pulled are kept; both the panel and the toast say it resumes.
        assert op.progress is not None and (op.progress.completed or 0) > 0
        assert "pull it again to resume" in line and "pull it again to resume" in message


async def test_pull_refused() -> None:
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(spawn("tests.ollama_replay", []))
        keys, _ = await pull_cell(
            first.url,
            first.kill,
            lambda: stack.enter_context(spawn("tests.ollama_replay", [], port=first.port)),
        )
    keys.said(f"Ollama at 127.0.0.1:{first.port}", "is not running (connection refused)")


async def test_pull_slow_drip_cancelled_resumes(server: ReplayServer) -> None:
    """A slow pull: keys answer while it runs; esc cancels it keeping the bytes so far; pulling
    again finishes it."""
    server.state.pull_rate = 5_000_000
    server.state.pull_tick = 0.02
    app = deck_app(ollama_backend(server.url), "models")
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await wait_state(pilot, app, "ollama", BackendStatus.UP)
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        op = screen.start_pull("ollama", PULL)
        await until(pilot, lambda: op.progress and (op.progress.completed or 0) > 0, "progress")
        await keys.keys_answer(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: op.state is OperationState.CANCELLED, "the cancel")
        assert op.progress is not None and (op.progress.completed or 0) > 0
        keys_said = keys.said("cancelled", "pull it again to resume")
        assert PULL in keys_said
        server.state.pull_rate = None
        again = screen.start_pull("ollama", PULL)
        await until(pilot, lambda: again.state is OperationState.DONE, "the second pull")
        await until(pilot, lambda: PULL in shown_models(app), "the pulled model listed")
        alive(app)


# ------------------------------------------------------------------- killed mid-chat, mid-pull


async def test_chat_killed_mid_stream(tmp_path: Path) -> None:
    """kill -9 of the server mid-reply: the tokens so far are kept, the message says the
    connection closed; the server back on its port answers the next prompt."""
    (tmp_path / "reply.txt").write_text(" ".join(f"w{i}" for i in range(400)), encoding="utf-8")
    slow = ["--reply-file", str(tmp_path / "reply.txt"), "--rate", "40"]
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(spawn("tests.ollama_replay", slow))
        app = deck_app(ollama_backend(first.url), "chat", {"model": MODEL, "backend": "ollama"})
        async with app.run_test(size=(100, 30)) as pilot:
            keys = KeyClock(app)
            screen = await chat_ready(pilot)
            screen.prompt.value = "hello"
            screen.prompt.focus()
            await pilot.press("enter")
            await until(pilot, lambda: stored_replies()[-1][1].startswith("w0 w1"), "tokens")
            first.kill()
            await keys.keys_answer(pilot)
            assert screen._turn_worker is not None
            await screen._turn_worker.wait()
            await pilot.pause()
            status, content = stored_replies()[-1]
            assert status == "error" and content.startswith("w0 w1") and "w399" not in content
            keys.said(f"Ollama at 127.0.0.1:{first.port}", "closed the connection")
            (tmp_path / "reply.txt").write_text(REPLY, encoding="utf-8")
            stack.enter_context(spawn("tests.ollama_replay", slow[:2], port=first.port))
            await send(pilot, screen, "again")
            assert stored_replies()[-1] == ("complete", REPLY)
            alive(app)


async def test_pull_killed_mid_pull() -> None:
    """kill -9 mid-pull: the bytes so far are kept and the panel says pulling again resumes;
    with the server back, the pull finishes."""
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(spawn("tests.ollama_replay", ["--pull-rate", "20000000"]))
        app = deck_app(ollama_backend(first.url), "models")
        async with app.run_test(size=(100, 30)) as pilot:
            keys = KeyClock(app)
            await wait_state(pilot, app, "ollama", BackendStatus.UP)
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            op = screen.start_pull("ollama", PULL)
            await until(pilot, lambda: op.progress and (op.progress.completed or 0) > 0, "bytes")
            first.kill()
            await keys.keys_answer(pilot)
            await until(pilot, lambda: op.state is OperationState.FAILED, "the failure")
            panel = screen.query_one(OperationsPanel)
            await until(pilot, lambda: "resume" in str(panel.render()), "the resume advice")
            keys.said(f"Ollama at 127.0.0.1:{first.port}", "pull it again to resume")
            stack.enter_context(spawn("tests.ollama_replay", [], port=first.port))
            again = screen.start_pull("ollama", PULL)
            await until(pilot, lambda: again.state is not OperationState.RUNNING, "the pull")
            assert again.state is OperationState.DONE, again.error
            alive(app)
