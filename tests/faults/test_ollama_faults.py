"""OllamaBackend against the replay server misbehaving: no false success, and clear messages.

Every fault is the replay's own (:class:`tests.ollama_replay.Faults`), over a real loopback socket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import DEADLINE
from tui.backends.base import (
    BackendError,
    BackendResponseError,
    BackendUnavailable,
    ChatChunk,
    ChatMessage,
    CreateRequest,
    ModelNotFound,
    Progress,
)
from tui.backends.ollama import LIST_TIMEOUT, OllamaBackend
from tui.controller import BackendStatus, Controller
from tui.core.chat.turn import ChatTurn
from tui.store.chats import open_chat_store

USER = [ChatMessage("user", "hello")]
HTML_500 = (
    b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    b"<body><h1>Internal Server Error</h1>\n<p>nginx</p></body></html>\n"
)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with start_replay_server() as srv:
        yield srv


@pytest.fixture
async def backend(server: ReplayServer) -> AsyncIterator[OllamaBackend]:
    b = OllamaBackend(server.url, stream_timeout=DEADLINE)
    yield b
    await b.aclose()


async def chat(backend: OllamaBackend) -> tuple[list[ChatChunk], BackendError | None]:
    chunks: list[ChatChunk] = []
    try:
        async for chunk in backend.chat("llama3.2", USER):
            chunks.append(chunk)
    except BackendError as exc:
        return chunks, exc
    return chunks, None


def tags_body(server: ReplayServer) -> bytes:
    with urllib.request.urlopen(f"{server.url}/api/tags", timeout=DEADLINE) as response:
        body: bytes = response.read()
    return body


# ------------------------------------------------------------------------ streams cut off cleanly


async def test_chat_ending_without_done_is_an_error(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_reply("one two three four five")
    server.set_faults(end_after_chunks=2, paths={"/api/chat"}, times=1)
    chunks, error = await chat(backend)
    assert len(chunks) == 2 and not any(c.done for c in chunks)
    assert "".join(c.content for c in chunks) == "one two"  # the partial text was yielded
    assert isinstance(error, BackendResponseError)
    assert str(error) == (
        f"Ollama at {server.host_port} cut the reply off: the stream ended without its final "
        "'done' message, so the reply is incomplete"
    )
    # The connection was left usable: the next chat on it completes.
    chunks, error = await chat(backend)
    assert error is None and chunks[-1].done


async def test_chat_cut_off_is_stored_as_error_not_complete(
    backend: OllamaBackend, server: ReplayServer, tmp_path: Path
) -> None:
    server.set_reply("one two three four five")
    server.set_faults(end_after_chunks=2, paths={"/api/chat"})
    store = open_chat_store(tmp_path)
    session = store.create_session("t", "ollama", "llama3.2")
    msg = store.add_message(session.id, "assistant", "", status="streaming")
    result = await ChatTurn(store, msg.id).run(lambda: backend.chat("llama3.2", USER))
    assert (result.status, result.content) == ("error", "one two")
    assert "cut the reply off" in result.error
    stored = store.messages(session.id)[0]
    assert (stored.status, stored.content) == ("error", "one two")


async def test_pull_ending_without_success_is_an_error(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_faults(end_after_chunks=3, paths={"/api/pull"})
    steps: list[Progress] = []
    with pytest.raises(BackendResponseError) as info:
        async for step in backend.pull("smollm2:135m"):
            steps.append(step)
    assert len(steps) == 3 and steps[0].status == "pulling manifest"
    assert "success" not in [s.status for s in steps]
    assert str(info.value) == (
        f"Ollama at {server.host_port} ended the pull of 'smollm2:135m' without 'success' "
        f"(the last status was {steps[-1].status!r}), so it did not finish"
    )


async def test_create_ending_without_success_is_an_error(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_faults(end_after_chunks=1, paths={"/api/create"})
    with pytest.raises(
        BackendResponseError, match="ended the create of 'helper' without 'success'"
    ):
        async for _ in backend.create(CreateRequest(model="helper", from_="llama3.2")):
            pass


# ------------------------------------------------------------------------------ clear messages


async def test_404_on_the_probe_means_wrong_url_not_missing_model(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_faults(error_status=404, error_message="model 'x' not found", paths={"/api/version"})
    want = (
        f"Ollama at {server.host_port} has no /api/version (HTTP 404): the URL is wrong or the "
        "server there is not Ollama"
    )
    with pytest.raises(BackendResponseError) as info:
        await backend.probe()
    assert not isinstance(info.value, ModelNotFound)
    assert str(info.value) == want
    controller = Controller([OllamaBackend(server.url)], retry_interval=0)
    try:
        state = await controller.refresh("ollama")
    finally:
        await controller.aclose()
    assert (state.status, state.detail) == (BackendStatus.DOWN, want)


async def test_404_page_elsewhere_is_not_a_missing_model(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_faults(
        error_status=404,
        error_body=b"404 page not found",
        error_content_type="text/plain",
        paths={"/api/ps"},
    )
    with pytest.raises(BackendResponseError) as info:
        await backend.ps()
    assert not isinstance(info.value, ModelNotFound)
    assert str(info.value) == (
        f"Ollama at {server.host_port} answered 404 (404 page not found): the URL is wrong or "
        "the server there is not Ollama"
    )


async def test_one_bad_utf8_name_hides_only_that_model(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    good = [m.name for m in await backend.list_models()]
    body = tags_body(server).replace(b'"qwen3:0.6b"', b'"qwen3:0.6b\xff"')
    server.set_faults(replace_body=body, paths={"/api/tags"})
    models = await backend.list_models()
    assert [m.name for m in models] == [n for n in good if n != "qwen3:0.6b"]
    assert backend.problems == [
        f"Ollama at {server.host_port} listed a model whose name is not valid UTF-8 "
        "('qwen3:0.6b\ufffd'); it was left out"
    ]


async def test_bad_utf8_in_a_detail_keeps_the_model_and_says_so(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    good = [m.name for m in await backend.list_models()]
    assert backend.problems == []
    body = tags_body(server).replace(b'"family":"qwen3"', b'"family":"qwen\xc33"', 1)
    server.set_faults(replace_body=body, paths={"/api/tags"})
    models = await backend.list_models()
    assert [m.name for m in models] == good
    assert models[0].family == "qwen\ufffd3"
    assert backend.problems == [
        f"Ollama at {server.host_port} sent a model list with bytes that are not valid UTF-8; "
        "they are shown as \ufffd"
    ]


async def test_one_malformed_entry_is_left_out_with_a_reason(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    good = [m.name for m in await backend.list_models()]
    body = tags_body(server).replace(b'"size":522653767', b'"size":"huge"', 1)
    server.set_faults(replace_body=body, paths={"/api/tags"})
    models = await backend.list_models()
    assert [m.name for m in models] == good[1:]
    (problem,) = backend.problems
    assert problem.startswith(f"Ollama at {server.host_port} listed an entry slmdeck cannot read")
    assert problem.endswith("it was left out")


@pytest.mark.parametrize("call", ["probe", "list", "chat"])
async def test_html_500_is_one_line_not_the_page(
    backend: OllamaBackend, server: ReplayServer, call: str
) -> None:
    server.set_faults(error_status=500, error_body=HTML_500)
    if call == "chat":
        _, error = await chat(backend)
    else:
        try:
            await (backend.probe() if call == "probe" else backend.list_models())
        except BackendError as exc:
            error = exc
        else:
            error = None
    assert isinstance(error, BackendResponseError) and error.status == 500
    assert str(error) == (
        f"Ollama at {server.host_port} answered HTTP 500 Internal Server Error (HTML page)"
    )


async def test_html_page_instead_of_the_version_says_not_ollama(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_faults(replace_body=b"<html><body>It works!</body></html>", paths={"/api/version"})
    with pytest.raises(BackendResponseError) as info:
        await backend.probe()
    assert str(info.value) == (
        f"Ollama at {server.host_port} sent a reply slmdeck cannot read: /api/version answered "
        "an HTML page saying 'It works!', not Ollama's JSON: the URL is wrong or the server there is not Ollama"
    )


# ------------------------------------------------------------------------ a trickling model list


def test_the_list_bound_is_below_the_controllers() -> None:
    # Controller.refresh waits 30 s for list_models; the backend's own bound must come first,
    # so that its message (the model list, not the probe) is the one shown.
    assert OllamaBackend("127.0.0.1:1").list_timeout == LIST_TIMEOUT < 30


async def test_dripping_model_list_times_out_as_the_model_list(server: ReplayServer) -> None:
    server.set_faults(drip_interval=0.05, paths={"/api/tags"})
    b = OllamaBackend(server.url, list_timeout=0.3)
    try:
        assert (await b.probe()).startswith("Ollama ")  # /api/version is not affected
        with pytest.raises(BackendUnavailable) as info:
            await b.list_models()
    finally:
        await b.aclose()
    assert str(info.value) == (
        f"Ollama at {server.host_port} did not send its model list (/api/tags) within 0.3 s"
    )


async def test_controller_blames_the_model_list_not_the_probe(server: ReplayServer) -> None:
    server.set_faults(drip_interval=0.05, paths={"/api/tags"})
    controller = Controller(
        [OllamaBackend(server.url, list_timeout=0.3)], probe_timeout=2.0, retry_interval=0
    )
    try:
        state = await controller.refresh("ollama")
    finally:
        await controller.aclose()
    assert state.status is BackendStatus.DOWN
    assert state.detail == (
        f"Ollama at {server.host_port} did not send its model list (/api/tags) within 0.3 s"
    )
    assert "2 s" not in state.detail


# ------------------------------------------------------------------------ escapes from a server


def test_fit_does_not_echo_escape_sequences_from_a_server_error(server: ReplayServer) -> None:
    hostile = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m boom"
    server.set_faults(error_status=500, error_message=hostile, paths={"/api/tags"})
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "fit", "no-such-model:1b", "--bandwidth", "50"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OLLAMA_HOST": server.host_port},
        stdin=subprocess.DEVNULL,
        timeout=DEADLINE,
    )
    assert out.returncode == 2
    assert "installed Ollama models were not checked" in out.stderr
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in out.stderr
    assert "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x9b31m boom" in out.stderr
