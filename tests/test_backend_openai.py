"""OpenAICompatBackend against a real llama.cpp server and, for faults, a loopback stub.

The happy path (list, show, chat, usage, cancel, API key) runs against llama.cpp's own
``llama-server`` serving ``tests/fixtures/tiny-llama-f32.gguf`` (tests marked ``llamacpp``). Faults no real server
produces on demand (garbage events, a connection dropped mid-stream, error bodies of other servers)
come from :class:`StubServer`, a stdlib HTTP server on 127.0.0.1 that speaks the same SSE protocol.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import gguf
import pytest

from tests import llamacpp_server
from tests.conftest import TINY_GGUF, closed_port
from tui.backends.base import (
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ModelNotFound,
)
from tui.backends.openai_compat import OpenAICompatBackend, normalise_base_url

QUESTION = [ChatMessage("user", "What is the capital of France?")]
ANSWER = "The capital of France is Paris."
GREEDY = ChatOptions(temperature=0.0, seed=0, max_tokens=40)
SERVER_KEY = "sk-llamacpp-test-key-7f3a"

llamacpp = pytest.mark.llamacpp


async def collect(stream: AsyncIterator[ChatChunk]) -> tuple[str, list[ChatChunk]]:
    chunks = [c async for c in stream]
    return "".join(c.content for c in chunks), chunks


# --------------------------------------------------------------------------------------------- real


def _need_llamacpp() -> None:
    """A missing llama.cpp server (a test dependency) or fixture fails the test, never skips it."""
    if llamacpp_server.available() and TINY_GGUF.is_file():
        return
    why = llamacpp_server.MISSING if not llamacpp_server.available() else f"{TINY_GGUF} is missing"
    pytest.fail(f"{why}: the test extras (pip install -e '.[test]') and tests/fixtures provide it")


@pytest.fixture(scope="session")
def llama_server() -> Iterator[llamacpp_server.LlamaServer]:
    _need_llamacpp()
    with llamacpp_server.llamacpp_server(TINY_GGUF) as server:
        print(f"llama.cpp server up in {server.start_seconds:.2f} s at {server.url}")
        yield server


@pytest.fixture(scope="session")
def llama_server_with_key() -> Iterator[llamacpp_server.LlamaServer]:
    _need_llamacpp()
    with llamacpp_server.llamacpp_server(TINY_GGUF, api_key=SERVER_KEY) as server:
        yield server


@pytest.fixture
async def llama(llama_server: llamacpp_server.LlamaServer) -> AsyncIterator[OpenAICompatBackend]:
    backend = OpenAICompatBackend(llama_server.url, backend_id="openai:llama.cpp")
    yield backend
    await backend.aclose()


@llamacpp
async def test_probe_and_list_real_server(
    llama: OpenAICompatBackend, llama_server: llamacpp_server.LlamaServer
) -> None:
    assert await llama.probe() == f"1 model at 127.0.0.1:{llama_server.port}"
    models = await llama.list_models()
    assert [m.name for m in models] == [str(TINY_GGUF)]
    assert models[0].backend == "openai:llama.cpp"
    assert models[0].format == "gguf"


@llamacpp
async def test_show_real_server_reads_props(llama: OpenAICompatBackend) -> None:
    # llama-server's /props: the GGUF's own chat template, the context it runs with, its slots.
    details = await llama.show(str(TINY_GGUF))
    assert details.info.name == str(TINY_GGUF)
    field = gguf.GGUFReader(TINY_GGUF).fields["tokenizer.chat_template"]
    assert details.template == bytes(field.parts[field.data[0]]).decode()
    assert details.context_length == 256  # --ctx-size, not the GGUF's training context
    assert details.extra["total_slots"] == 2  # --parallel 2
    assert details.parameters["top_k"] == 40
    with pytest.raises(ModelNotFound, match="does not have model 'nope'"):
        await llama.show("nope")


@llamacpp
async def test_chat_streams_the_deterministic_answer(llama: OpenAICompatBackend) -> None:
    text, chunks = await collect(llama.chat(str(TINY_GGUF), QUESTION, GREEDY))
    assert text == ANSWER
    assert len([c for c in chunks if c.content]) > 1, "the reply came in one piece: not streamed"
    assert [c.done for c in chunks].count(True) == 1 and chunks[-1].done
    stats = chunks[-1].stats
    assert stats is not None
    assert stats.done_reason == "stop"
    assert stats.completion_tokens is not None and stats.completion_tokens >= 2
    assert stats.eval_duration_ns is not None and stats.eval_duration_ns > 0
    assert stats.prompt_eval_duration_ns is not None and stats.prompt_eval_duration_ns > 0
    assert stats.total_duration_ns is not None
    assert stats.total_duration_ns >= stats.eval_duration_ns
    assert stats.tokens_per_second is not None
    print(
        f"chat: {stats.completion_tokens} tokens, ttft {stats.prompt_eval_duration_ns / 1e6:.1f} ms,"
        f" {stats.tokens_per_second:.0f} tok/s, total {stats.total_duration_ns / 1e6:.1f} ms"
    )


@llamacpp
async def test_max_tokens_stops_with_length(llama: OpenAICompatBackend) -> None:
    options = ChatOptions(temperature=0.0, max_tokens=3, num_ctx=4096)  # num_ctx is not sendable
    text, chunks = await collect(llama.chat(str(TINY_GGUF), QUESTION, options))
    stats = chunks[-1].stats
    assert stats is not None
    assert stats.done_reason == "length"
    assert stats.completion_tokens == 3
    assert ANSWER.startswith(text) and text != ANSWER


@llamacpp
async def test_cancel_mid_stream_then_server_still_answers(llama: OpenAICompatBackend) -> None:
    stream = llama.chat(str(TINY_GGUF), QUESTION, GREEDY)
    first = await anext(stream)
    assert first.content and not first.done
    await stream.aclose()  # type: ignore[attr-defined]

    got_one = asyncio.Event()

    async def consume() -> None:
        async for _ in llama.chat(str(TINY_GGUF), QUESTION, GREEDY):
            got_one.set()
            await asyncio.Event().wait()  # hold the stream open until cancelled

    task = asyncio.create_task(consume())
    await got_one.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    text, _ = await collect(llama.chat(str(TINY_GGUF), QUESTION, GREEDY))
    assert text == ANSWER


@llamacpp
async def test_api_key_wrong_missing_and_right(
    llama_server_with_key: llamacpp_server.LlamaServer,
) -> None:
    url = llama_server_with_key.url
    wrong = OpenAICompatBackend(url, backend_id="k", api_key="sk-wrong-key-123")
    none = OpenAICompatBackend(url, backend_id="k")
    right = OpenAICompatBackend(url, backend_id="k", api_key=SERVER_KEY)
    try:
        with pytest.raises(BackendResponseError) as info:
            await wrong.list_models()
        assert str(info.value) == (
            f"OpenAI-compatible server at 127.0.0.1:{llama_server_with_key.port}"
            " rejected the API key (401)"
        )
        assert info.value.status == 401
        with pytest.raises(BackendResponseError, match="rejected the API key"):
            await collect(wrong.chat(str(TINY_GGUF), QUESTION, GREEDY))
        with pytest.raises(BackendResponseError, match=r"needs an API key \(401\)"):
            await none.probe()
        assert [m.name for m in await right.list_models()] == [str(TINY_GGUF)]
        text, _ = await collect(right.chat(str(TINY_GGUF), QUESTION, GREEDY))
        assert text == ANSWER
        assert SERVER_KEY not in repr(right) and "sk-wrong" not in repr(wrong)
    finally:
        for b in (wrong, none, right):
            await b.aclose()


# --------------------------------------------------------------------------------------------- stub


def _event(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _delta(content: str = "", finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {"content": content} if content else {}
    delta.update(extra)
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the fault stubs break connections on purpose


class StubServer:
    """A loopback OpenAI-compatible server whose chat behaviour is chosen by the model name."""

    KEY = "sk-stub-secret-9c1d"

    def __init__(self) -> None:
        self.client_gone = threading.Event()
        self.release = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        handler = type("Handler", (_StubHandler,), {"stub": self})
        self.httpd = _QuietHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _StubHandler(BaseHTTPRequestHandler):
    stub: ClassVar[StubServer]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {StubServer.KEY}":
            return True
        # Echo what was sent, as a careless proxy might: the backend must scrub it.
        self._json(401, {"error": {"message": f"bad key {self.headers.get('Authorization')}"}})
        return False

    def do_GET(self) -> None:
        self.stub.requests.append(("GET", self.path, dict(self.headers), None))
        if self.path.startswith("/keyed/") and not self._authorised():
            return
        path = self.path.removeprefix("/keyed")
        if path == "/v1/models":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": "tiny.gguf",
                            "object": "model",
                            "created": 1_700_000_000,
                            "owned_by": "llamacpp",
                            "meta": {"n_ctx_train": 2048, "n_params": 115_000, "size": 460_000},
                        },
                        {"id": "other", "object": "model", "owned_by": "vllm"},
                    ],
                },
            )
        elif path == "/props":
            self._json(
                200,
                {
                    "chat_template": "{{ messages }}",
                    "default_generation_settings": {"n_ctx": 512, "params": {"top_k": 40}},
                    "total_slots": 1,
                },
            )
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.stub.requests.append(("POST", self.path, dict(self.headers), body))
        if self.path.startswith("/keyed/") and not self._authorised():
            return
        getattr(self, f"chat_{body['model'].replace('-', '_')}")(body)

    # -- chat behaviours

    def _sse_head(self, *, chunked: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def chat_llamacpp(self, body: dict[str, Any]) -> None:
        """Like llama.cpp's server: reasoning_content, timings and usage at the end."""
        self._sse_head()
        self._chunk(b": ping\n\n")
        self._chunk(_event(_delta(reasoning_content="Paris, ")))
        self._chunk(_event(_delta(reasoning_content="surely.")))
        self._chunk(_event(_delta("The answer")))
        self._chunk(_event(_delta(" is Paris.")))
        last = _delta(finish="stop")
        last["timings"] = {"prompt_n": 11, "prompt_ms": 2.5, "predicted_n": 4, "predicted_ms": 40.0}
        self._chunk(_event(last))
        usage = {**_delta(), "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}
        self._chunk(_event(usage))
        self._chunk(b"data: [DONE]\n\n")
        self._end()

    def chat_plain(self, body: dict[str, Any]) -> None:
        """No usage, no timings: stats come from counting and the clock."""
        self._sse_head()
        for piece in ("a", "b", "c"):
            self._chunk(_event(_delta(piece)))
        self._chunk(_event(_delta(finish="length")))
        self._chunk(b"data: [DONE]\n\n")
        self._end()

    def chat_garbage(self, body: dict[str, Any]) -> None:
        self._sse_head()
        self._chunk(_event(_delta("Hi")))
        self._chunk(b"data: <html>502 Bad Gateway</html>\n\n")
        self._end()

    def chat_die(self, body: dict[str, Any]) -> None:
        """Die mid-stream: the chunked body stops without its last chunk."""
        self._sse_head()
        self._chunk(_event(_delta("Hel")))
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def chat_eof(self, body: dict[str, Any]) -> None:
        """Close cleanly (no length, Connection: close) before [DONE] and before any finish."""
        self._sse_head(chunked=False)
        self.wfile.write(_event(_delta("Hel")))

    def chat_hang(self, body: dict[str, Any]) -> None:
        """Send one token, then wait for the client to close the connection."""
        self._sse_head()
        self._chunk(_event(_delta("one")))
        self.connection.settimeout(60)
        try:
            while self.connection.recv(1):
                pass
        except OSError:
            pass
        self.stub.client_gone.set()

    def chat_silent(self, body: dict[str, Any]) -> None:
        """Headers, then nothing until the test ends: a stalled server."""
        self._sse_head()
        self.wfile.flush()
        self.stub.release.wait(60)

    def chat_midstream_error(self, body: dict[str, Any]) -> None:
        self._sse_head()
        self._chunk(_event(_delta("x")))
        self._chunk(_event({"error": {"code": 500, "message": "KV cache is full"}}))
        self._end()

    def chat_nested_error(self, body: dict[str, Any]) -> None:
        self._json(
            400,
            {"error": {"message": "prompt is too long", "type": "invalid_request_error"}},
        )

    def chat_flat_error(self, body: dict[str, Any]) -> None:
        self._json(400, {"object": "error", "message": "flat trouble", "type": "BadRequestError"})

    def chat_missing(self, body: dict[str, Any]) -> None:
        self._json(
            404,
            {
                "object": "error",
                "message": "The model `missing` does not exist.",
                "type": "NotFoundError",
                "code": 404,
            },
        )

    def chat_not_sse(self, body: dict[str, Any]) -> None:
        self._json(200, {"choices": [{"message": {"content": "whole"}}]})

    def chat_text_500(self, body: dict[str, Any]) -> None:
        data = b"Internal Server Error"
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
async def backend(stub: StubServer) -> AsyncIterator[OpenAICompatBackend]:
    b = OpenAICompatBackend(stub.url, backend_id="stub", stream_timeout=30)
    yield b
    await b.aclose()


def test_normalise_base_url() -> None:
    want = "http://127.0.0.1:8080/v1"
    for given in ("127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080/", want):
        assert normalise_base_url(given) == want
    assert normalise_base_url(" HTTPS://h/v1/ ") == "https://h/v1"
    assert normalise_base_url("http://h:1/proxy/v1") == "http://h:1/proxy/v1"
    assert normalise_base_url("http://h:1/proxy") == "http://h:1/proxy/v1"
    b = OpenAICompatBackend("127.0.0.1:9931/", backend_id="x")
    assert (b.location, b.root, b.address) == (
        "http://127.0.0.1:9931/v1",
        "http://127.0.0.1:9931",
        "127.0.0.1:9931",
    )
    assert b.kind == "openai"
    assert b.supports(Capability.CHAT) and b.supports(Capability.LIST)
    assert not b.supports(Capability.PULL) and not b.supports(Capability.PS)


async def test_server_down_is_a_clear_sentence() -> None:
    port = closed_port()
    b = OpenAICompatBackend(f"http://127.0.0.1:{port}", backend_id="down")
    want = f"OpenAI-compatible server at 127.0.0.1:{port} is not running (connection refused)"
    try:
        with pytest.raises(BackendUnavailable) as info:
            await b.probe()
        assert str(info.value) == want
        with pytest.raises(BackendUnavailable) as info:
            await collect(b.chat("m", QUESTION))
        assert str(info.value) == want
    finally:
        await b.aclose()


async def test_list_and_show_from_stub(backend: OpenAICompatBackend) -> None:
    assert await backend.probe() == f"2 models at 127.0.0.1:{backend.address.split(':')[1]}"
    tiny, other = await backend.list_models()
    assert (tiny.name, tiny.format, tiny.context_length, tiny.size) == (
        "tiny.gguf",
        "gguf",
        2048,
        460_000,
    )
    assert tiny.modified is not None and tiny.modified.timestamp() == 1_700_000_000
    assert (other.name, other.format, other.modified) == ("other", "", None)
    details = await backend.show("tiny.gguf")
    assert details.template == "{{ messages }}"
    assert details.context_length == 512
    assert details.parameters == {"top_k": 40}
    assert details.extra["total_slots"] == 1


async def test_chat_maps_reasoning_usage_and_timings(
    backend: OpenAICompatBackend, stub: StubServer
) -> None:
    options = ChatOptions(temperature=0.2, top_p=0.9, seed=7, max_tokens=9, num_ctx=999)
    history = [ChatMessage("assistant", "earlier", thinking="hidden"), *QUESTION]
    text, chunks = await collect(backend.chat("llamacpp", history, options))
    assert text == "The answer is Paris."
    assert "".join(c.thinking for c in chunks) == "Paris, surely."
    stats = chunks[-1].stats
    assert chunks[-1].done and stats is not None
    assert (stats.prompt_tokens, stats.completion_tokens, stats.done_reason) == (12, 5, "stop")
    assert stats.prompt_eval_duration_ns == 2_500_000
    assert stats.eval_duration_ns == 40_000_000
    sent = stub.requests[-1][3]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["max_tokens"]) == (
        0.2,
        0.9,
        7,
        9,
    )
    assert "num_ctx" not in sent
    assert sent["messages"] == [
        {"role": "assistant", "content": "earlier"},
        {"role": "user", "content": "What is the capital of France?"},
    ]


async def test_chat_without_usage_counts_chunks_and_measures(backend: OpenAICompatBackend) -> None:
    text, chunks = await collect(backend.chat("plain", QUESTION))
    stats = chunks[-1].stats
    assert text == "abc" and stats is not None
    assert (stats.prompt_tokens, stats.completion_tokens, stats.done_reason) == (None, 3, "length")
    assert stats.eval_duration_ns is not None and stats.prompt_eval_duration_ns is not None
    assert stats.total_duration_ns is not None
    assert stats.total_duration_ns >= stats.eval_duration_ns + stats.prompt_eval_duration_ns


async def test_garbage_event_is_unreadable_reply(backend: OpenAICompatBackend) -> None:
    seen: list[str] = []
    with pytest.raises(BackendResponseError) as info:
        async for chunk in backend.chat("garbage", QUESTION):
            seen.append(chunk.content)
    assert seen == ["Hi"]
    assert str(info.value) == (
        f"OpenAI-compatible server at {backend.address} sent a reply slmdeck cannot read: "
        "an HTML page saying '502 Bad Gateway'"
    )


@pytest.mark.parametrize("model", ["die", "eof"])
async def test_connection_dropped_mid_stream(backend: OpenAICompatBackend, model: str) -> None:
    seen: list[str] = []
    with pytest.raises(BackendUnavailable, match="stopped mid-stream") as info:
        async for chunk in backend.chat(model, QUESTION):
            seen.append(chunk.content)
    assert seen == ["Hel"]
    assert str(info.value).startswith(f"OpenAI-compatible server at {backend.address} stopped")


async def test_closing_the_stream_closes_the_connection(
    backend: OpenAICompatBackend, stub: StubServer
) -> None:
    stream = backend.chat("hang", QUESTION)
    assert (await anext(stream)).content == "one"
    await stream.aclose()  # type: ignore[attr-defined]
    # The stub's recv() returns only when the client has closed its socket.
    assert await asyncio.to_thread(stub.client_gone.wait, 30)


async def test_cancelling_the_task_closes_the_connection(
    backend: OpenAICompatBackend, stub: StubServer
) -> None:
    got_one = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.chat("hang", QUESTION):
            got_one.set()

    task = asyncio.create_task(consume())
    await got_one.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(stub.client_gone.wait, 30)


async def test_stalled_stream_times_out(stub: StubServer) -> None:
    b = OpenAICompatBackend(stub.url, backend_id="s", stream_timeout=0.3)
    try:
        with pytest.raises(BackendUnavailable) as info:
            await collect(b.chat("silent", QUESTION))
        assert str(info.value) == (
            f"OpenAI-compatible server at {b.address} did not answer within 0.3 s"
        )
    finally:
        await b.aclose()


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ("nested-error", BackendResponseError, "answered 400: prompt is too long"),
        ("flat-error", BackendResponseError, "answered 400: flat trouble"),
        ("text-500", BackendResponseError, "answered 500: Internal Server Error"),
        ("midstream-error", BackendResponseError, "failed mid-stream: KV cache is full"),
        (
            "missing",
            ModelNotFound,
            "does not have model 'missing': The model `missing` does not exist.",
        ),
        ("not-sse", BackendResponseError, "sent a reply slmdeck cannot read: expected an event"),
    ],
)
async def test_error_bodies(
    backend: OpenAICompatBackend, model: str, kind: type[Exception], message: str
) -> None:
    with pytest.raises(kind) as info:
        await collect(backend.chat(model, QUESTION))
    assert type(info.value) is kind
    assert str(info.value).startswith(f"OpenAI-compatible server at {backend.address} ")
    assert message in str(info.value)
    if model.endswith("error") and model != "midstream-error":
        assert getattr(info.value, "status", None) == 400


async def test_bearer_key_sent_but_never_shown(stub: StubServer) -> None:
    wrong_key = "sk-do-not-leak-4711"
    wrong = OpenAICompatBackend(f"{stub.url}/keyed", backend_id="k", api_key=wrong_key)
    right = OpenAICompatBackend(f"{stub.url}/keyed/v1", backend_id="k", api_key=StubServer.KEY)
    try:
        assert wrong_key not in repr(wrong) and "api_key=<set>" in repr(wrong)
        assert wrong_key not in str(vars(wrong).get("location"))
        errors: list[BaseException] = []
        for call in (wrong.probe, wrong.list_models, lambda: wrong.show("tiny.gguf")):
            with pytest.raises(BackendResponseError) as info:
                await call()
            errors.append(info.value)
        with pytest.raises(BackendResponseError) as info:
            await collect(wrong.chat("plain", QUESTION))
        errors.append(info.value)
        for err in errors:
            assert str(err).endswith("rejected the API key (401)")
            assert wrong_key not in str(err) and wrong_key not in repr(err)
        # The stub really got the key as a bearer token (and echoed it, which was scrubbed).
        assert stub.requests[0][2]["Authorization"] == f"Bearer {wrong_key}"

        assert await right.probe() == f"2 models at {right.address}"
        text, _ = await collect(right.chat("plain", QUESTION))
        assert text == "abc"
        assert StubServer.KEY not in repr(right)
    finally:
        await wrong.aclose()
        await right.aclose()


async def test_echoed_key_in_other_errors_is_scrubbed(stub: StubServer) -> None:
    key = "sk-echo-me-0042"
    b = OpenAICompatBackend(stub.url, backend_id="e", api_key=key)

    try:
        err = b._status_error(400, json.dumps({"error": {"message": f"bad header Bearer {key}"}}))
        assert key not in str(err) and "Bearer ***" in str(err)
        garbage = b._translate(ValueError(f"junk {key}"))
        assert key not in str(garbage)
    finally:
        await b.aclose()
