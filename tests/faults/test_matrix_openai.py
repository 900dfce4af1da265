"""The fault matrix for an OpenAI-compatible server, on screens: Backends + Models (listing) and
Chat. Same checks as :mod:`tests.faults.test_matrix_ollama` (no pull: the API has none)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

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
    OPENAI_ID,
    RAW_CONTROLS,
    KeyClock,
    alive,
    deck_app,
    openai_backend,
    shown_models,
    spawn,
    stored_replies,
    wait_state,
)
from tests.faults.openai_server import MODEL, REPLY, OpenAIServer, start_openai_server
from tests.waiting import DEADLINE, until
from tui.controller import BackendStatus
from tui.screens.backends import BackendsScreen
from tui.screens.models import ModelsScreen

MODELS = "/v1/models"
CHAT_PATH = "/v1/chat/completions"
WHOLE = "".join(REPLY)


@pytest.fixture(scope="module")
def module_server() -> Iterator[OpenAIServer]:
    with start_openai_server() as srv:
        yield srv


@pytest.fixture
def server(module_server: OpenAIServer) -> OpenAIServer:
    srv = module_server
    srv.clear_faults()
    with srv.lock:
        srv.models, srv.reply, srv.delta_interval = [MODEL], list(REPLY), 0.0
    return srv


def json_error(message: str) -> dict[str, Any]:
    body = json.dumps({"error": {"message": message}}).encode()
    return dict(error_status=500, error_body=body, error_content_type="application/json")


ERRORS = {
    "silence": (dict(delay_first_byte=DEADLINE), "did not answer within 1 s"),
    "500-json": (json_error("out of memory"), "answered 500: out of memory"),
    "500-html": (
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
    ),
    "500-markup": (json_error(MARKUP), f"answered 500: {MARKUP}"),
    "500-escapes": (json_error(ESCAPES), f"answered 500: {ESCAPES_SHOWN}"),
    "404": (
        dict(
            error_status=404,
            error_body=b'{"error": {"message": "Not Found"}}',
            error_content_type="application/json",
        ),
        "answered 404: Not Found",
    ),
}
DOWN = {
    **ERRORS,
    "silence": (
        dict(delay_first_byte=DEADLINE),
        "did not send its model list (/v1/models) within 1 s",
    ),
    "drip": (dict(drip_interval=0.05), "did not send its model list (/v1/models) within 1 s"),
    "garbage": (
        dict(replace_body=HTML_500),
        "/v1/models answered an HTML page titled '500 Internal Server Error', not JSON",
    ),
}


async def listing_cell(url: str, cause: str, heal: Any) -> None:
    where = f"OpenAI-compatible server at {url.removeprefix('http://')}"
    await harness.listing_cell(openai_backend(url), OPENAI_ID, where, cause, MODEL, heal)


@pytest.mark.parametrize("scenario", list(DOWN))
async def test_listing(server: OpenAIServer, scenario: str) -> None:
    faults, cause = DOWN[scenario]
    server.set_faults(paths={MODELS}, **faults)
    await listing_cell(server.url, cause, server.clear_faults)


async def test_listing_refused() -> None:
    port = closed_port()
    with contextlib.ExitStack() as stack:
        await listing_cell(
            f"http://127.0.0.1:{port}",
            "is not running (connection refused)",
            lambda: stack.enter_context(start_openai_server(port)),
        )


HOSTILE = ["x[/]", "[@click=app.quit]", "esc\x1b]0;pwn\x07", "bad\udcff"]


@pytest.mark.parametrize("scenario", ["10000-models", "hostile-names"])
async def test_listing_up(server: OpenAIServer, scenario: str) -> None:
    names = [f"bulk-{i:05d}" for i in range(10_000)] if scenario == "10000-models" else HOSTILE[:3]
    with server.lock:
        server.models = [MODEL, *names]
    # A healthy server: bounds a busy machine's pace cannot reach, not the fault tests' 1 s.
    backend = openai_backend(server.url, timeout=REACHABLE, list_timeout=REACHABLE)
    app = deck_app(backend, start_screen="models", probe_timeout=3 * REACHABLE)
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await wait_state(pilot, app, OPENAI_ID, BackendStatus.UP)
        await until(pilot, lambda: len(shown_models(app)) == 2 + len(names), "every model")
        typed, wanted = ("09999", names[-1]) if len(names) > 3 else ("pwn", HOSTILE[2])
        await pilot.press("slash", *typed)
        await until(pilot, lambda: shown_models(app) == [wanted], "the filtered model")
        await pilot.press("escape")
        await keys.keys_answer(pilot)
        await keys.switch(pilot, "1", BackendsScreen)
        await keys.switch(pilot, "2", ModelsScreen)
        assert not any(c in app.export_screenshot() for c in RAW_CONTROLS)
        with server.lock:
            server.models = [MODEL]
        app.reprobe()
        await until(pilot, lambda: len(shown_models(app)) == 2, "the list back to two")
        alive(app)


async def test_listing_bad_utf8_name(server: OpenAIServer) -> None:
    body = b'{"object": "list", "data": [{"id": "tiny"}, {"id": "bad\xff"}]}'
    server.set_faults(paths={MODELS}, replace_body=body, replace_content_type="application/json")
    app = deck_app(openai_backend(server.url), start_screen="models")
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await until(
            pilot,
            lambda: app.controller.states[OPENAI_ID].status is not BackendStatus.PROBING,
            "the probe",
        )
        state = app.controller.states[OPENAI_ID]
        shown = " ".join([state.detail, *state.problems])
        assert "UTF-8" in shown and f"at {server.address}" in shown, shown
        await until(pilot, lambda: ONNX_MODEL in shown_models(app), "the ONNX model")
        await keys.keys_answer(pilot)
        server.clear_faults()
        app.reprobe()
        await until(pilot, lambda: MODEL in shown_models(app), "the model after the fix")
        alive(app)


# ----------------------------------------------------------------------------------- Chat

CHAT = {
    **{k: (f, c, "") for k, (f, c) in ERRORS.items()},
    "garbage": (
        dict(garbage_after_deltas=1),
        "sent a reply slmdeck cannot read: '{this is not json'",
        "Hel",
    ),
    "sse-cut": (
        dict(cut_after_deltas=1),
        "the connection closed before the reply was complete",
        "Hel",
    ),
    "no-done": (dict(end_after_deltas=1), "ended without [DONE] or a finish_reason", "Hel"),
}


async def chat_cell(url: str, inject: Any, heal: Any) -> tuple[KeyClock, Any]:
    return await harness.chat_cell(openai_backend(url), OPENAI_ID, MODEL, WHOLE, inject, heal)


@pytest.mark.parametrize("scenario", list(CHAT))
async def test_chat(server: OpenAIServer, scenario: str) -> None:
    faults, cause, kept = CHAT[scenario]
    keys, faulted = await chat_cell(
        server.url, lambda: server.set_faults(paths={CHAT_PATH}, **faults), server.clear_faults
    )
    keys.said(f"OpenAI-compatible server at {server.address}", cause)
    assert faulted == [("error", kept)]


async def test_chat_bad_utf8(server: OpenAIServer) -> None:
    keys, faulted = await chat_cell(
        server.url,
        lambda: server.set_faults(paths={CHAT_PATH}, bad_utf8_after_deltas=1),
        server.clear_faults,
    )
    assert faulted == [("complete", "Hel\ufffd\ufffdlo there")]
    assert all(title != "Chat failed" for title, _ in keys.notes)


async def test_chat_hostile_output(server: OpenAIServer) -> None:
    def hostile() -> None:
        with server.lock:
            server.reply = [MARKUP, " ", ESCAPES]

    def heal() -> None:
        with server.lock:
            server.reply = list(REPLY)

    keys, faulted = await chat_cell(server.url, hostile, heal)
    assert faulted == [("complete", f"{MARKUP} {ESCAPES_SHOWN}")]
    assert all(title != "Chat failed" for title, _ in keys.notes)


async def test_chat_slow_drip_stopped_keeps_tokens(server: OpenAIServer) -> None:
    with server.lock:
        server.reply, server.delta_interval = [f"w{i} " for i in range(400)], 0.05
    app = deck_app(openai_backend(server.url), "chat", {"model": MODEL, "backend": OPENAI_ID})
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = await chat_ready(pilot)
        screen.prompt.value = "hello"
        screen.prompt.focus()
        await pilot.press("enter")
        await until(pilot, lambda: stored_replies()[-1][1].startswith("w0 w1"), "tokens stored")
        await keys.keys_answer(pilot)
        await pilot.press("escape")
        worker = screen._turn_worker
        assert worker is not None
        await until(pilot, lambda: worker.is_finished, "the stop")  # cancelled: no wait()
        await pilot.pause()
        status, content = stored_replies()[-1]
        assert status == "stopped" and content.startswith("w0 w1") and "w399" not in content
        with server.lock:
            server.reply, server.delta_interval = list(REPLY), 0.0
        await send(pilot, screen, "again")
        assert stored_replies()[-1] == ("complete", WHOLE)
        alive(app)


async def test_chat_refused() -> None:
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(spawn("tests.faults.openai_server", []))
        keys, faulted = await chat_cell(
            first.url,
            first.kill,
            lambda: stack.enter_context(spawn("tests.faults.openai_server", [], port=first.port)),
        )
    keys.said(f"OpenAI-compatible server at 127.0.0.1:{first.port}", "connection refused")
    assert faulted == [("error", "")]


async def test_chat_killed_mid_stream() -> None:
    with contextlib.ExitStack() as stack:
        slow = ["--words", "400", "--interval", "0.025"]
        first = stack.enter_context(spawn("tests.faults.openai_server", slow))
        app = deck_app(openai_backend(first.url), "chat", {"model": MODEL, "backend": OPENAI_ID})
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
            keys.said(f"OpenAI-compatible server at 127.0.0.1:{first.port}", "connection closed")
            stack.enter_context(spawn("tests.faults.openai_server", [], port=first.port))
            await send(pilot, screen, "again")
            assert stored_replies()[-1] == ("complete", WHOLE)
            alive(app)
