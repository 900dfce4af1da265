"""OpenAICompatBackend against a loopback server that misbehaves: no false success, clear messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.faults.openai_server import OpenAIServer, start_openai_server
from tests.waiting import DEADLINE
from tui.backends.base import (
    BackendError,
    BackendResponseError,
    BackendUnavailable,
    ChatChunk,
    ChatMessage,
)
from tui.backends.openai_compat import OpenAICompatBackend

USER = [ChatMessage("user", "hi")]
HTML_500 = (
    b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    b"<body><h1>Internal Server Error</h1><p>The server encountered an internal error\n"
    b"and was unable to complete your request.</p></body></html>\n"
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with start_openai_server() as srv:
        yield srv


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAICompatBackend]:
    b = OpenAICompatBackend(server.url, backend_id="openai:faulty", stream_timeout=DEADLINE)
    yield b
    await b.aclose()


async def chat(backend: OpenAICompatBackend) -> tuple[list[ChatChunk], BackendError | None]:
    """The chunks a chat yields, and the error that ended it (None: it ended by itself)."""
    chunks: list[ChatChunk] = []
    try:
        async for chunk in backend.chat("tiny", USER):
            chunks.append(chunk)
    except BackendError as exc:
        return chunks, exc
    return chunks, None


async def test_complete_stream_is_complete(backend: OpenAICompatBackend) -> None:
    chunks, error = await chat(backend)
    assert error is None
    assert "".join(c.content for c in chunks) == "Hello there"
    assert chunks[-1].done and chunks[-1].stats is not None
    assert chunks[-1].stats.done_reason == "stop"


async def test_stream_ending_without_done_or_finish_reason_is_an_error(
    backend: OpenAICompatBackend, server: OpenAIServer
) -> None:
    server.set_faults(end_after_deltas=1)
    chunks, error = await chat(backend)
    # The partial text stays with the caller; no chunk claims the reply is done.
    assert [c.content for c in chunks] == ["Hel"]
    assert not any(c.done for c in chunks)
    assert isinstance(error, BackendUnavailable)
    assert str(error) == (
        f"OpenAI-compatible server at {server.address} stopped mid-stream (the reply ended "
        "without [DONE] or a finish_reason, so it is incomplete)"
    )


async def test_finish_reason_without_done_is_still_complete(
    backend: OpenAICompatBackend, server: OpenAIServer
) -> None:
    server.set_faults(no_done=True)
    chunks, error = await chat(backend)
    assert error is None
    assert chunks[-1].done and chunks[-1].stats is not None
    assert chunks[-1].stats.done_reason == "stop"


async def test_html_500_is_summarised_on_one_line(
    backend: OpenAICompatBackend, server: OpenAIServer
) -> None:
    server.set_faults(error_status=500, error_body=HTML_500)
    want = f"OpenAI-compatible server at {server.address} answered HTTP 500 Internal Server Error (HTML page)"
    _, error = await chat(backend)
    assert isinstance(error, BackendResponseError) and error.status == 500
    assert str(error) == want
    with pytest.raises(BackendResponseError) as info:
        await backend.list_models()
    assert str(info.value) == want


async def test_html_page_instead_of_the_model_list_says_wrong_url(
    backend: OpenAICompatBackend, server: OpenAIServer
) -> None:
    page = b"<html><head><title>Welcome to nginx!</title></head><body>...</body></html>"
    server.set_faults(replace_body=page, paths={"/v1/models"})
    with pytest.raises(BackendResponseError) as info:
        await backend.probe()
    message = str(info.value)
    assert message == (
        f"OpenAI-compatible server at {server.address} sent a reply slmdeck cannot read: "
        "/v1/models answered an HTML page titled 'Welcome to nginx!', not JSON: the URL is "
        "wrong or the server there is not OpenAI-compatible"
    )
    assert "<" not in message


async def test_escape_sequences_in_an_error_body_are_made_visible(
    backend: OpenAICompatBackend, server: OpenAIServer
) -> None:
    body = b'{"error": {"message": "bad \\u001b]0;pwned\\u0007 input\\nsecond line"}}'
    server.set_faults(error_status=400, error_body=body, error_content_type="application/json")
    _, error = await chat(backend)
    assert isinstance(error, BackendResponseError)
    assert "\x1b" not in str(error) and "\x07" not in str(error) and "\n" not in str(error)
    assert str(error).endswith("answered 400: bad \\x1b]0;pwned\\x07 input second line")


async def test_dripping_model_list_times_out_as_the_model_list(server: OpenAIServer) -> None:
    server.set_faults(drip_interval=0.05, paths={"/v1/models"})
    b = OpenAICompatBackend(server.url, backend_id="openai:drip", list_timeout=0.3)
    try:
        with pytest.raises(BackendUnavailable) as info:
            await b.list_models()
    finally:
        await b.aclose()
    assert str(info.value) == (
        f"OpenAI-compatible server at {server.address} did not send its model list "
        "(/v1/models) within 0.3 s"
    )
