"""OllamaBackend against the replay server, with the real ollama client (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ollama_replay import VERSION, ReplayServer, markdown_reply, start_replay_server
from tests.test_ollama_replay import gguf_bytes
from tui.backends.base import (
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatMessage,
    ChatOptions,
    CreateRequest,
    InvalidInput,
    ModelNotFound,
    Progress,
)
from tui.backends.ollama import OllamaBackend, parse_host, parse_parameters
from tui.core.chat.options import options_from_dict

USER = [ChatMessage("user", "hello")]


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with start_replay_server() as srv:
        yield srv


@pytest.fixture
async def backend(server: ReplayServer) -> AsyncIterator[OllamaBackend]:
    b = OllamaBackend(server.url)
    yield b
    await b.aclose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


# --------------------------------------------------------------------------------------- host rules


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://example.com:56789", "https://example.com:56789"),
        ("example.com", "http://example.com:11434"),
        ("example.com/", "http://example.com:11434"),
        ("example.com:56789/path/", "http://example.com:56789/path"),
        ("https://example.com:56789/path", "https://example.com:56789/path"),
        ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
        ("[::1]:56789/path", "http://[::1]:56789/path"),
        ("https://[::1]", "https://[::1]:443"),
        ("  0.0.0.0  ", "http://0.0.0.0:11434"),
    ],
)
def test_parse_host(value: str | None, url: str) -> None:
    assert parse_host(value) == url


def test_parse_host_rejects_bad_port() -> None:
    with pytest.raises(InvalidInput, match="invalid port"):
        parse_host("localhost:http")


def test_host_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ":4321")
    b = OllamaBackend()
    assert b.location == "http://127.0.0.1:4321" and b.address == "127.0.0.1:4321"
    assert OllamaBackend("10.0.0.2").location == "http://10.0.0.2:11434"
    assert b.kind == "ollama" and b.supports(Capability.IMPORT) and b.supports(Capability.EMBED)


def test_parse_parameters() -> None:
    text = (
        'stop                           "<|im_start|>"\n'
        'stop                           "<|im_end|>"\n'
        "temperature                    0.6\n"
        "num_ctx                        8192\n"
        "use_mmap                       true"
    )
    assert parse_parameters(text) == {
        "stop": ["<|im_start|>", "<|im_end|>"],
        "temperature": 0.6,
        "num_ctx": 8192,
        "use_mmap": True,
    }
    assert parse_parameters('stop "x"') == {"stop": ["x"]}


def test_import_is_lazy() -> None:
    code = (
        "import sys, tui.backends.ollama as m; m.OllamaBackend('x');"
        "print('ollama' in sys.modules, 'httpx' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------------------- methods


async def test_probe_and_version(backend: OllamaBackend) -> None:
    assert await backend.probe() == f"Ollama {VERSION}"
    assert await backend.version() == VERSION


async def test_list_models(backend: OllamaBackend) -> None:
    models = {m.name: m for m in await backend.list_models()}
    llama = models["llama3.2:latest"]
    assert llama.backend == "ollama" and llama.family == "llama"
    assert (llama.parameter_size, llama.quantization, llama.format) == ("3.2B", "Q4_K_M", "gguf")
    assert llama.size == 2019393189 and llama.digest.startswith("a80c4f17")
    assert llama.modified is not None and llama.modified.year == 2025
    assert llama.modified.utcoffset() is not None
    assert models["nomic-embed-text:latest"].quantization == "F16"


async def test_show(backend: OllamaBackend) -> None:
    d = await backend.show("qwen2.5:0.5b")
    assert d.system.startswith("You are Qwen")
    assert d.parameters == {"stop": ["<|im_start|>", "<|im_end|>"]}
    assert d.context_length == 32768 == d.info.context_length
    assert d.model_info["qwen2.attention.head_count_kv"] == 2
    assert d.capabilities == ("completion", "tools")
    assert d.license.startswith("Apache License") and "<|im_start|>" in d.template
    assert d.modelfile.startswith("# Modelfile generated") and d.info.quantization == "Q4_K_M"
    q3 = await backend.show("qwen3:0.6b")
    assert q3.parameters["temperature"] == 0.6 and q3.parameters["top_k"] == 20
    assert "thinking" in q3.capabilities


async def test_show_missing_is_model_not_found(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFound) as err:
        await backend.show("ghost")
    assert str(err.value) == "model 'ghost:latest' not found"


async def test_chat_stream_and_stats(backend: OllamaBackend, server: ReplayServer) -> None:
    server.set_reply("Hi there, friend.")
    chunks = await collect(backend.chat("llama3.2", USER, ChatOptions(temperature=0.2, seed=3)))
    assert "".join(c.content for c in chunks) == "Hi there, friend."
    final = chunks[-1]
    assert final.done and final.stats is not None and not any(c.done for c in chunks[:-1])
    s = final.stats
    assert (s.completion_tokens, s.done_reason) == (3, "stop")
    assert s.prompt_tokens and s.eval_duration_ns and s.total_duration_ns
    assert s.load_duration_ns and s.prompt_eval_duration_ns and s.tokens_per_second
    body = server.requests[-1].body
    assert body["options"] == {"temperature": 0.2, "seed": 3} and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello"}]


async def test_chat_options_map_max_tokens(backend: OllamaBackend, server: ReplayServer) -> None:
    opts = ChatOptions(top_p=0.9, num_ctx=2048, max_tokens=2)
    chunks = await collect(backend.chat("llama3.2", USER, opts))
    assert chunks[-1].stats is not None and chunks[-1].stats.done_reason == "length"
    assert server.requests[-1].body["options"] == {"top_p": 0.9, "num_ctx": 2048, "num_predict": 2}
    (running,) = await backend.ps()
    assert running.context_length == 2048


async def test_chat_passes_think_only_when_set(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.set_reply("Done.")
    # Left out, a thinking model thinks (Ollama's default); the thinking comes as ChatChunk.thinking.
    chunks = await collect(backend.chat("qwen3:0.6b", USER, ChatOptions(temperature=0.5)))
    assert "think" not in server.requests[-1].body
    assert "".join(c.thinking for c in chunks) == server.state.thinking
    assert "".join(c.content for c in chunks) == "Done."
    assert all(not c.content for c in chunks if c.thinking)  # thinking streams first
    chunks = await collect(backend.chat("qwen3:0.6b", USER, ChatOptions(think=False)))
    assert server.requests[-1].body["think"] is False
    assert not any(c.thinking for c in chunks) and "".join(c.content for c in chunks) == "Done."
    chunks = await collect(backend.chat("qwen3:0.6b", USER, ChatOptions(think=True)))
    assert server.requests[-1].body["think"] is True
    assert "".join(c.thinking for c in chunks) == server.state.thinking
    await collect(backend.chat("llama3.2", USER, ChatOptions(think=False)))
    assert server.requests[-1].body["think"] is False
    with pytest.raises(BackendResponseError, match="does not support thinking"):
        await collect(backend.chat("llama3.2", USER, ChatOptions(think=True)))
    # A session's stored options keep think (it is not a form field, so only a bool is taken).
    assert options_from_dict({"think": False, "top_p": 0.5}) == ChatOptions(top_p=0.5, think=False)
    assert options_from_dict({"think": "yes"}) == ChatOptions()


async def test_chat_missing_model(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFound, match="model 'ghost' not found"):
        await collect(backend.chat("ghost", USER))


async def test_ps_and_unload(backend: OllamaBackend) -> None:
    assert await backend.ps() == []
    await collect(backend.chat("qwen2.5:0.5b", USER))
    (running,) = await backend.ps()
    assert running.name == "qwen2.5:0.5b" and running.backend == "ollama"
    assert running.size > 397821319 and running.size_vram == running.size
    assert running.expires_at is not None and running.context_length == 4096
    await backend.unload("qwen2.5:0.5b")
    assert await backend.ps() == []


async def test_pull(backend: OllamaBackend) -> None:
    steps = await collect(backend.pull("smollm2:135m"))
    assert steps[0] == Progress("pulling manifest")
    assert steps[-1].status == "success"
    layer = [s for s in steps if s.digest]
    assert layer and layer[-1].fraction == 1.0 and layer[0].status.startswith("pulling ")
    assert "smollm2:135m" in {m.name for m in await backend.list_models()}


async def test_pull_of_a_name_the_registry_lacks_says_not_found(backend: OllamaBackend) -> None:
    from tui.backends.base import ModelNotFound

    seen: list[str] = []
    with pytest.raises(ModelNotFound) as err:
        async for step in backend.pull("no-such-model"):
            seen.append(step.status)
    assert seen == ["pulling manifest"]
    assert str(err.value) == (
        "'no-such-model' was not found in the registry: check the name and the tag "
        f"(Ollama at {backend.address}: pull model manifest: file does not exist)"
    )


async def test_copy_and_delete(backend: OllamaBackend) -> None:
    await backend.copy("llama3.2", "llama-copy")
    assert "llama-copy:latest" in {m.name for m in await backend.list_models()}
    await backend.delete("llama-copy")
    assert "llama-copy:latest" not in {m.name for m in await backend.list_models()}
    with pytest.raises(ModelNotFound, match="model 'llama-copy' not found"):
        await backend.delete("llama-copy")
    with pytest.raises(BackendResponseError) as err:
        await backend.copy("llama3.2", "bad name")
    assert err.value.status == 400 and 'destination "bad name" is invalid' in str(err.value)


async def test_create(backend: OllamaBackend, server: ReplayServer) -> None:
    req = CreateRequest(
        model="helper",
        from_="qwen2.5:0.5b",
        system="Be brief.",
        parameters={"temperature": 0.3},
        messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello")],
        license="MIT",
    )
    steps = await collect(backend.create(req))
    assert [s.status for s in steps][-2:] == ["writing manifest", "success"]
    body = server.requests[-1].body
    assert body["from"] == "qwen2.5:0.5b" and body["license"] == "MIT"
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    d = await backend.show("helper")
    assert d.system == "Be brief." and d.parameters == {"temperature": 0.3}
    assert d.extra["messages"] == body["messages"]


async def test_create_quantize_is_passed_through(backend: OllamaBackend) -> None:
    with pytest.raises(BackendResponseError) as err:
        await collect(backend.create(CreateRequest(model="q", from_="llama3.2", quantize="q8_0")))
    assert err.value.status == 500
    assert "quantization is only supported for F16, BF16 and F32 models" in str(err.value)


async def test_embed(backend: OllamaBackend) -> None:
    vectors = await backend.embed("nomic-embed-text", ["one", "two"])
    assert len(vectors) == 2 and len(vectors[0]) == 768 and vectors[0] != vectors[1]


# --------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call", ["list", "chat", "pull", "show", "version"])
async def test_server_down(call: str) -> None:
    port = closed_port()
    b = OllamaBackend(f"127.0.0.1:{port}")
    ops: dict[str, Any] = {
        "list": b.list_models,
        "chat": lambda: collect(b.chat("llama3.2", USER)),
        "pull": lambda: collect(b.pull("llama3.2")),
        "show": lambda: b.show("llama3.2"),
        "version": b.probe,
    }
    with pytest.raises(BackendUnavailable) as err:
        await ops[call]()
    assert str(err.value) == f"Ollama at 127.0.0.1:{port} is not running (connection refused)"
    assert err.value.backend == "ollama"
    await b.aclose()


async def test_timeouts(server: ReplayServer) -> None:
    server.set_faults(delay_first_byte=30)
    b = OllamaBackend(server.url, timeout=0.2, stream_timeout=0.3)
    with pytest.raises(BackendUnavailable) as err:
        await b.list_models()
    assert str(err.value) == (
        f"Ollama at {server.host_port} did not send its model list (/api/tags) within 0.2 s"
    )
    with pytest.raises(BackendUnavailable) as err:
        await collect(b.chat("llama3.2", USER))
    assert str(err.value) == f"Ollama at {server.host_port} did not answer within 0.3 s"
    await b.aclose()


async def test_stream_dies_mid_way(backend: OllamaBackend, server: ReplayServer) -> None:
    server.set_faults(die_after_chunks=3, paths={"/api/chat"})
    got = []
    with pytest.raises(BackendUnavailable) as err:
        async for chunk in backend.chat("llama3.2", USER):
            got.append(chunk)
    assert len(got) == 3
    assert str(err.value) == (
        f"Ollama at {server.host_port} closed the connection before the reply was complete"
    )


async def test_garbage(backend: OllamaBackend, server: ReplayServer) -> None:
    server.set_faults(garbage_after_chunks=1)
    prefix = f"Ollama at {server.host_port} sent a reply slmdeck cannot read: "
    with pytest.raises(BackendResponseError) as err:
        await collect(backend.chat("llama3.2", USER))
    assert str(err.value).startswith(prefix)
    with pytest.raises(BackendResponseError) as err:
        await backend.ps()
    assert str(err.value).startswith(prefix)
    with pytest.raises(BackendResponseError) as err:
        await backend.probe()
    assert str(err.value).startswith(prefix)


async def test_wrong_shape_fails_validation(backend: OllamaBackend, server: ReplayServer) -> None:
    server.set_faults(replace_body=b'{"models":[{"size":"huge"}]}')
    with pytest.raises(BackendResponseError, match="cannot read: 1 validation error"):
        await backend.list_models()
    server.set_faults(replace_body=b'{"modelfile":"FROM x"}')
    with pytest.raises(BackendResponseError, match="cannot read"):
        await backend.show("llama3.2")


async def test_server_error_status(backend: OllamaBackend, server: ReplayServer) -> None:
    server.set_faults(error_status=500, error_message="llama runner process has terminated")
    with pytest.raises(BackendResponseError) as err:
        await collect(backend.chat("llama3.2", USER))
    assert err.value.status == 500
    assert str(err.value) == (
        f"Ollama at {server.host_port} answered 500: llama runner process has terminated"
    )


async def test_cancel_mid_chat_closes_connection(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.state.token_rate = 40
    server.set_reply(markdown_reply(5000))
    first = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in backend.chat("llama3.2", USER):
            received.append(chunk.content)
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(server.wait_for_disconnect, "/api/chat")
    assert received and len(received) < 5000


async def test_closing_the_iterator_closes_connection(
    backend: OllamaBackend, server: ReplayServer
) -> None:
    server.state.token_rate = 40
    server.set_reply(markdown_reply(5000))
    async with contextlib.aclosing(backend.chat("llama3.2", USER)) as stream:
        async for _chunk in stream:
            break
    assert await asyncio.to_thread(server.wait_for_disconnect, "/api/chat")


async def test_cancel_pull_closes_connection(backend: OllamaBackend, server: ReplayServer) -> None:
    server.state.pull_rate = 1_000_000  # 270 MB at 1 MB/s: far longer than the test
    first = asyncio.Event()

    async def consume() -> None:
        async for step in backend.pull("smollm2:135m"):
            if step.completed:
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(server.wait_for_disconnect, "/api/pull")
    assert "smollm2:135m" not in {m.name for m in await backend.list_models()}


# --------------------------------------------------------------------------------------- import


async def test_import_gguf(backend: OllamaBackend, server: ReplayServer, tmp_path: Path) -> None:
    f = tmp_path / "tiny-f16.gguf"
    data = gguf_bytes("qwen2", 1, pad=3 * (1 << 20))
    f.write_bytes(data)
    steps = await collect(
        backend.import_gguf(f, "tiny", modelfile_extra={"system": "Terse.", "quantize": "Q4_K_M"})
    )
    statuses = [s.status for s in steps]
    assert statuses[0] == "hashing tiny-f16.gguf" and steps[0].total == len(data)
    uploads = [s for s in steps if s.status == "uploading tiny-f16.gguf"]
    assert len(uploads) >= 3 and uploads[-1].completed == len(data)
    assert "parsing GGUF" in statuses and "quantizing F16 model to Q4_K_M" in statuses
    assert statuses[-1] == "success"
    digest = uploads[-1].digest
    assert server.state.blobs[digest] == len(data)
    methods = [(r.method, r.path) for r in server.requests]
    assert ("HEAD", f"/api/blobs/{digest}") in methods
    post = [r for r in server.requests if r.method == "POST" and r.path.startswith("/api/blobs/")]
    assert len(post) == 1 and post[0].body == len(data)
    create = server.requests[-1].body
    assert create["files"] == {"tiny-f16.gguf": digest} and create["system"] == "Terse."
    d = await backend.show("tiny")
    assert (d.info.family, d.info.quantization, d.system) == ("qwen2", "Q4_K_M", "Terse.")

    # A second import finds the blob and does not upload it again.
    again = await collect(backend.import_gguf(f, "tiny2"))
    assert "using existing blob" in [s.status for s in again] and again[-1].status == "success"
    post = [r for r in server.requests if r.method == "POST" and r.path.startswith("/api/blobs/")]
    assert len(post) == 1


async def test_import_file_changed_during_upload(
    backend: OllamaBackend, server: ReplayServer, tmp_path: Path
) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(gguf_bytes(pad=4096))
    stream = backend.import_gguf(f, "changing")
    first = await anext(stream)
    assert first.status == "hashing m.gguf" and first.completed == first.total
    f.write_bytes(gguf_bytes(arch="gemma", pad=4096))  # same size, other bytes
    with pytest.raises(BackendResponseError) as err:
        await collect(stream)
    assert err.value.status == 400
    assert str(err.value).startswith("m.gguf changed while it was being uploaded")
    assert "digest mismatch" in str(err.value)


async def test_create_with_an_uploaded_adapter(
    backend: OllamaBackend, server: ReplayServer, tmp_path: Path
) -> None:
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(gguf_bytes("qwen2", 1, pad=8192))
    request = CreateRequest(model="tuned", from_="qwen2.5:0.5b", system="Tuned.")
    steps = await collect(backend.create_with_uploads(request, adapters=[lora]))
    statuses = [s.status for s in steps]
    digest = next(s.digest for s in steps if s.status == "uploading lora.gguf")
    assert statuses[0] == "hashing lora.gguf"
    # create.go: the adapter is parsed, then listed with the model's layers.
    assert "parsing GGUF" in statuses and f"using existing layer {digest}" in statuses
    assert statuses[-2:] == ["writing manifest", "success"]
    create = server.requests[-1].body
    assert create["from"] == "qwen2.5:0.5b" and create["adapters"] == {"lora.gguf": digest}
    assert "files" not in create or create["files"] is None
    assert "tuned:latest" in [m.name for m in await backend.list_models()]


async def test_adapter_errors_are_ollamas(
    backend: OllamaBackend, server: ReplayServer, tmp_path: Path
) -> None:
    request = CreateRequest(model="tuned", from_="qwen2.5:0.5b")
    text = tmp_path / "notes.gguf"
    text.write_bytes(b"not a model at all")
    # Named .gguf: parsed mid-stream, so the error is the stream's last line.
    with pytest.raises(BackendResponseError, match="supplied file was not in GGUF format"):
        await collect(backend.create_with_uploads(request, adapters=[text]))
    # No extension and not GGUF: Ollama cannot tell its type and answers 400 at once.
    bare = tmp_path / "adapter"
    bare.write_bytes(b"still not a model")
    with pytest.raises(BackendResponseError, match="unknown type") as err:
        await collect(backend.create_with_uploads(request, adapters=[bare]))
    assert err.value.status == 400
    with pytest.raises(InvalidInput, match="is not a file"):
        await collect(backend.create_with_uploads(request, adapters=[tmp_path / "gone.gguf"]))


async def test_import_rejects_bad_input(backend: OllamaBackend, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is not a file"):
        await collect(backend.import_gguf(tmp_path / "missing.gguf", "x"))
    f = tmp_path / "a.gguf"
    f.write_bytes(gguf_bytes())
    with pytest.raises(InvalidInput, match="unknown create fields: bogus"):
        await collect(backend.import_gguf(f, "x", modelfile_extra={"bogus": 1}))


async def test_import_non_gguf_fails_mid_stream(backend: OllamaBackend, tmp_path: Path) -> None:
    f = tmp_path / "notes.gguf"
    f.write_bytes(b"just some text")
    with pytest.raises(BackendResponseError, match="supplied file was not in GGUF format"):
        await collect(backend.import_gguf(f, "notes"))


async def test_import_file_shrunk_during_upload(backend: OllamaBackend, tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(gguf_bytes(pad=4096))
    stream = backend.import_gguf(f, "shrinking")
    await anext(stream)
    f.write_bytes(gguf_bytes(pad=10))
    with pytest.raises(BackendResponseError, match=r"m\.gguf changed while it was being uploaded"):
        await collect(stream)
