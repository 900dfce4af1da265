"""The Ollama replay server, driven by the real ollama-python client and by raw httpx."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests import ollama_replay
from tests.ollama_replay import (
    VERSION,
    ReplayModel,
    ReplayServer,
    go_json,
    markdown_reply,
    modelfile_quote,
    normalize_name,
    read_gguf_head,
    start_replay_server,
    tokenize,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with start_replay_server() as srv:
        yield srv


@pytest.fixture
def client(server: ReplayServer) -> Iterator[ollama.Client]:
    c = ollama.Client(host=server.url)
    yield c
    c.close()


def gguf_bytes(arch: str = "llama", file_type: int = 1, pad: int = 1024) -> bytes:
    """A minimal GGUF v3 header with two keys, padded."""

    def kv_str(key: str, value: str) -> bytes:
        k, v = key.encode(), value.encode()
        return struct.pack("<Q", len(k)) + k + struct.pack("<IQ", 8, len(v)) + v

    def kv_u32(key: str, value: int) -> bytes:
        k = key.encode()
        return struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, value)

    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    return (
        head
        + kv_str("general.architecture", arch)
        + kv_u32("general.file_type", file_type)
        + (b"\0" * pad)
    )


# --------------------------------------------------------------------------------------- encoding


def test_go_json_matches_go_encoding() -> None:
    assert go_json({"a": "<|eot_id|> & more"}) == '{"a":"\\u003c|eot_id|\\u003e \\u0026 more"}'
    assert go_json([1e-05, 500000.0, 0.95, 1e-07, 1e21, 3]) == "[0.00001,500000,0.95,1e-7,1e+21,3]"
    assert go_json({"x": None, "y": True, "z": "é"}) == '{"x":null,"y":true,"z":"é"}'


def test_tokenize_round_trips_and_markdown_has_n_tokens() -> None:
    text = "Hello,  world!\n\n```py\nx = 1\n```"
    assert "".join(tokenize(text)) == text
    md = markdown_reply(300)
    assert len(tokenize(md)) == 300
    assert "```python" in md and "| model |" in md


def test_names_normalize_like_ollama() -> None:
    assert normalize_name("llama3.2") == "llama3.2:latest"
    assert normalize_name("registry.ollama.ai/library/Qwen2.5:0.5b") == "qwen2.5:0.5b"


def test_read_gguf_head() -> None:
    head = read_gguf_head(gguf_bytes("qwen2", 0))
    assert head is not None and head.architecture == "qwen2" and head.file_type == "F32"
    assert read_gguf_head(b"not a gguf file at all....") is None


# --------------------------------------------------------------------------------------- raw HTTP


def test_root_get_and_head(server: ReplayServer) -> None:
    r = httpx.get(server.url + "/")
    assert (r.status_code, r.text) == (200, "Ollama is running")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    h = httpx.head(server.url + "/")
    assert h.status_code == 200 and h.content == b"" and h.headers["content-length"] == "17"
    assert "server" not in h.headers


def test_version_and_unknown_routes(server: ReplayServer) -> None:
    r = httpx.get(server.url + "/api/version")
    assert r.content == b'{"version":"0.33.0-rc2"}'
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert httpx.get(server.url + "/api/nothing").text == "404 page not found"
    r = httpx.get(server.url + "/api/chat")
    assert (r.status_code, r.text) == (405, "405 method not allowed")


def test_missing_and_bad_bodies(server: ReplayServer) -> None:
    r = httpx.post(server.url + "/api/show")
    assert (r.status_code, r.json()) == (400, {"error": "missing request body"})
    r = httpx.post(server.url + "/api/chat", content=b"nope")
    assert r.status_code == 400
    assert r.json() == {"error": "invalid character 'n' looking for beginning of value"}


def test_show_bytes_are_go_shaped(server: ReplayServer) -> None:
    r = httpx.post(server.url + "/api/show", json={"model": "llama3.2"})
    assert r.status_code == 200
    # Large un-sized bodies go out chunked from Go's net/http.
    assert r.headers.get("transfer-encoding") == "chunked"
    assert b"\\u003c|eot_id|\\u003e" in r.content and b": " not in r.content[:40]
    data = r.json()
    assert list(data)[:2] == ["license", "modelfile"]
    assert data["model_info"]["llama.attention.layer_norm_rms_epsilon"] == 1e-05
    assert b'"llama.attention.layer_norm_rms_epsilon":0.00001' in r.content
    assert 'stop                           "<|eot_id|>"' in data["parameters"]


def test_blob_endpoints(server: ReplayServer) -> None:
    body = b"some weights"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert httpx.head(f"{server.url}/api/blobs/{digest}").status_code == 404
    r = httpx.post(f"{server.url}/api/blobs/sha256:1234", content=body)
    assert (r.status_code, r.json()) == (400, {"error": "invalid digest format"})
    wrong = "sha256:" + "0" * 64
    r = httpx.post(f"{server.url}/api/blobs/{wrong}", content=body)
    assert r.status_code == 400
    assert r.json() == {"error": f'digest mismatch, expected "{wrong}", got "{digest}"'}
    r = httpx.post(f"{server.url}/api/blobs/{digest}", content=body)
    assert (r.status_code, r.content) == (201, b"")
    assert httpx.post(f"{server.url}/api/blobs/{digest}", content=body).status_code == 200
    assert httpx.head(f"{server.url}/api/blobs/{digest}").status_code == 200
    # A chunked upload (what ollama-python sends) is decoded and counted.
    r = httpx.post(f"{server.url}/api/blobs/{wrong}", content=iter([b"a", b"b"]))
    assert r.status_code == 400 and server.requests[-1].body == 2


def test_copy_and_delete_answer_empty_bodies(server: ReplayServer) -> None:
    r = httpx.post(server.url + "/api/copy", json={"source": "llama3.2", "destination": "b"})
    assert (r.status_code, r.content) == (200, b"")
    r = httpx.request("DELETE", server.url + "/api/delete", json={"model": "b"})
    assert (r.status_code, r.content) == (200, b"")
    r = httpx.request("DELETE", server.url + "/api/delete", json={"model": "b"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'b' not found"})
    r = httpx.post(server.url + "/api/copy", json={"source": "gone", "destination": "c"})
    assert (r.status_code, r.json()) == (404, {"error": 'model "gone" not found'})
    r = httpx.post(server.url + "/api/copy", json={"source": "llama3.2", "destination": "a b"})
    assert (r.status_code, r.json()) == (400, {"error": 'destination "a b" is invalid'})


def test_chat_stream_is_chunked_ndjson(server: ReplayServer) -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", server.url + "/api/chat", json=body) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in r.iter_lines()]
    assert all(list(x)[:4] == ["model", "created_at", "message", "done"] for x in lines)
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["created_at"].endswith("Z")


def test_disconnect_is_recorded(server: ReplayServer) -> None:
    server.state.token_rate = 50
    server.set_reply(markdown_reply(2000))
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", server.url + "/api/chat", json=body) as r:
        next(r.iter_lines())
    assert server.wait_for_disconnect("/api/chat")


# --------------------------------------------------------------------------------------- ollama client


def test_list_and_show_with_real_client(client: ollama.Client) -> None:
    models = {m.model: m for m in client.list().models}
    assert set(models) >= {"llama3.2:latest", "qwen2.5:0.5b", "nomic-embed-text:latest"}
    llama = models["llama3.2:latest"]
    assert llama.size == 2019393189 and llama.details is not None
    assert llama.details.quantization_level == "Q4_K_M" and llama.details.parameter_size == "3.2B"
    assert llama.modified_at is not None and llama.modified_at.year == 2025
    show = client.show("llama3.2")
    assert show.modelinfo is not None
    assert show.modelinfo["llama.block_count"] == 28
    assert show.modelinfo["llama.attention.head_count_kv"] == 8
    assert show.modelinfo["general.parameter_count"] == 3212749888
    assert show.capabilities == ["completion", "tools"]
    assert show.modelfile is not None and show.modelfile.startswith("# Modelfile generated")
    assert show.template is not None and "<|start_header_id|>" in show.template


def test_show_missing_is_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        client.show("missing")
    assert err.value.status_code == 404
    assert err.value.error == "model 'missing:latest' not found"


def test_chat_then_ps_then_unload(client: ollama.Client, server: ReplayServer) -> None:
    assert client.ps().models == []
    server.set_reply("One two three.")
    parts = list(
        client.chat(
            "llama3.2",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            options={"num_ctx": 8192},
        )
    )
    assert "".join(p.message.content or "" for p in parts) == "One two three."
    final = parts[-1]
    assert final.done and final.done_reason == "stop" and final.eval_count == 3
    assert final.prompt_eval_count and final.eval_duration and final.total_duration
    assert final.load_duration and final.prompt_eval_duration
    (loaded,) = client.ps().models
    assert loaded.model == "llama3.2:latest" and loaded.context_length == 8192
    assert loaded.size_vram == loaded.size and loaded.expires_at is not None
    res = client.chat("llama3.2", messages=[], keep_alive=0)
    assert res.done_reason == "unload"
    assert client.ps().models == []


def test_chat_options_thinking_and_errors(client: ollama.Client, server: ReplayServer) -> None:
    msgs = [{"role": "user", "content": "why"}]
    res = client.chat("llama3.2", messages=msgs, options={"num_predict": 2})
    assert res.done_reason == "length" and res.eval_count == 2
    res = client.chat("qwen3:0.6b", messages=msgs, think=True)
    assert res.message.thinking == server.state.thinking
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("llama3.2", messages=msgs, think=True)
    assert (err.value.status_code, err.value.error) == (400, '"llama3.2" does not support thinking')
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("nomic-embed-text", messages=msgs)
    assert err.value.error == '"nomic-embed-text" does not support chat'
    with pytest.raises(ollama.ResponseError) as err:
        list(client.chat("nope", messages=msgs, stream=True))
    assert (err.value.status_code, err.value.error) == (404, "model 'nope' not found")


def test_reply_per_prompt_is_deterministic(client: ollama.Client, server: ReplayServer) -> None:
    server.set_reply("Paris.", prompt="capital of France?")
    ask = [{"role": "user", "content": "capital of France?"}]
    assert client.chat("llama3.2", messages=ask).message.content == "Paris."
    other = client.chat("llama3.2", messages=[{"role": "user", "content": "x"}]).message.content
    assert (
        other
        == client.chat("llama3.2", messages=[{"role": "user", "content": "x"}]).message.content
    )
    assert other != "Paris."


def test_generate_and_embed(client: ollama.Client, server: ReplayServer) -> None:
    server.set_reply("Generated text here.")
    res = client.generate("llama3.2", "hello")
    assert res.response == "Generated text here." and res.context and res.done_reason == "stop"
    chunks = list(client.generate("llama3.2", "hello", stream=True))
    assert "".join(c.response for c in chunks) == "Generated text here."
    emb = client.embed("nomic-embed-text", input=["a", "b"])
    assert len(emb.embeddings) == 2 and len(emb.embeddings[0]) == 768
    assert emb.embeddings[0] != emb.embeddings[1]
    assert client.embed("nomic-embed-text", input="a").embeddings[0] == emb.embeddings[0]


def test_pull_stream_then_listed(client: ollama.Client, server: ReplayServer) -> None:
    size = 270898672
    server.state.pull_rate = size / 0.5  # ten ticks of 0.05 s
    steps = list(client.pull("smollm2:135m", stream=True))
    statuses = [s.status for s in steps]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer = [s for s in steps if (s.status or "").startswith("pulling ") and s.digest]
    assert len(layer) >= 10 and layer[-1].completed == layer[-1].total == size
    assert layer[0].status == f"pulling {layer[0].digest[7:19]}"
    done = [s.completed or 0 for s in layer]
    assert done == sorted(done)
    assert "smollm2:135m" in {m.model for m in client.list().models}
    server.state.pull_rate = None
    assert client.pull("tinyllama").status == "success"


def test_pull_bad_name_fails_mid_stream(client: ollama.Client, server: ReplayServer) -> None:
    seen = []
    with pytest.raises(ollama.ResponseError) as err:
        for step in client.pull("no-such-model", stream=True):
            seen.append(step.status)
    assert seen == ["pulling manifest"]
    assert err.value.status_code == -1
    assert err.value.error == "pull model manifest: file does not exist"
    with pytest.raises(ollama.ResponseError) as err:
        client.pull("no-such-model")
    assert err.value.status_code == 500


def test_delete_and_copy_with_real_client(client: ollama.Client) -> None:
    assert client.copy("llama3.2", "llama3-backup").status == "success"
    assert "llama3-backup:latest" in {m.model for m in client.list().models}
    assert client.delete("llama3-backup").status == "success"
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("llama3-backup")
    assert err.value.status_code == 404


def test_create_from_model(client: ollama.Client) -> None:
    steps = list(
        client.create(
            "pirate",
            from_="llama3.2",
            system="Talk like a pirate.",
            parameters={"temperature": 0.7, "stop": ["<|eot_id|>"]},
            stream=True,
        )
    )
    statuses = [s.status or "" for s in steps]
    assert statuses[0].startswith("using existing layer sha256:")
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    assert statuses[-2:] == ["writing manifest", "success"]
    show = client.show("pirate")
    assert show.parameters is not None and "temperature                    0.7" in show.parameters
    assert show.details is not None and show.details.parent_model == "llama3.2:latest"
    with pytest.raises(ollama.ResponseError) as err:
        client.create("bad", quantize="q8_0", from_="llama3.2")
    assert err.value.status_code == 500
    assert err.value.error == "quantization is only supported for F16, BF16 and F32 models"
    with pytest.raises(ollama.ResponseError) as err:
        client.create("bad", stream=False)
    assert (err.value.status_code, err.value.error) == (
        400,
        "neither 'from' or 'files' was specified",
    )


def test_create_with_adapter(client: ollama.Client, tmp_path: Path) -> None:
    f = tmp_path / "lora.gguf"
    f.write_bytes(gguf_bytes("llama", 1))
    digest = client.create_blob(f)
    steps = [
        s.status
        for s in client.create(
            "tuned", from_="llama3.2", adapters={"lora.gguf": digest}, stream=True
        )
    ]
    assert steps[0] == "parsing GGUF"
    assert f"using existing layer {digest}" in steps
    assert steps[-2:] == ["writing manifest", "success"]
    # Errors before anything streamed are real 400s (create.go tags every adapter error 400).
    for adapters, message in (
        ({"a.gguf": digest, "b.gguf": digest}, "only one adapter is currently supported"),
        ({"a.gguf": ""}, "invalid digest format"),
        ({"adapter": "sha256:" + "0" * 64}, "unknown type"),
    ):
        with pytest.raises(ollama.ResponseError) as err:
            client.create("bad", from_="llama3.2", adapters=adapters, stream=False)
        assert (err.value.status_code, err.value.error) == (400, message)
    # After "parsing GGUF" was streamed, a missing blob is the stream's last line.
    missing = "sha256:" + "1" * 64
    with pytest.raises(ollama.ResponseError) as err:
        list(client.create("bad", from_="llama3.2", adapters={"x.gguf": missing}, stream=True))
    assert "no such file or directory" in err.value.error


def test_create_from_files(client: ollama.Client, tmp_path: Path) -> None:
    f = tmp_path / "tiny.gguf"
    f.write_bytes(gguf_bytes("qwen2", 1))
    digest = client.create_blob(f)
    steps = [
        s.status
        for s in client.create("tiny", files={"tiny.gguf": digest}, quantize="Q4_K_M", stream=True)
    ]
    assert steps[0] == "parsing GGUF"
    assert "quantizing F16 model to Q4_K_M" in steps and "verifying conversion" in steps
    assert steps[-1] == "success"
    (tiny,) = [m for m in client.list().models if m.model == "tiny:latest"]
    assert tiny.details is not None and tiny.details.family == "qwen2"
    assert tiny.details.quantization_level == "Q4_K_M"

    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"plain text, not a model")
    bad_digest = client.create_blob(bad)
    with pytest.raises(ollama.ResponseError) as err:
        list(client.create("x", files={"notes.txt": bad_digest}, stream=True))
    assert (err.value.status_code, err.value.error) == (-1, "supplied file was not in GGUF format")
    with pytest.raises(ollama.ResponseError) as err:
        list(client.create("x", files={"m.gguf": "sha256:" + "1" * 64}, stream=True))
    assert err.value.error.startswith("open /root/.ollama/models/blobs/sha256-1111")


# --------------------------------------------------------------------------------------- faults


def test_fault_die_mid_stream(client: ollama.Client, server: ReplayServer) -> None:
    server.set_faults(die_after_chunks=2, paths={"/api/chat"})
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        for part in client.chat(
            "llama3.2", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            got.append(part)
    assert len(got) == 2
    assert client.list().models  # other paths unaffected


def test_fault_garbage_error_status_and_times(client: ollama.Client, server: ReplayServer) -> None:
    server.set_faults(garbage_after_chunks=1)
    with pytest.raises(json.JSONDecodeError):
        list(client.chat("llama3.2", messages=[{"role": "user", "content": "x"}], stream=True))
    with pytest.raises(json.JSONDecodeError):
        client.list()
    server.set_faults(error_status=503, error_message="server busy", times=1)
    with pytest.raises(ollama.ResponseError) as err:
        client.ps()
    assert (err.value.status_code, err.value.error) == (503, "server busy")
    assert [m.model for m in client.ps().models] == ["llama3.2:latest"]  # cleared after one use
    server.set_faults(delay_first_byte=0.05)
    assert client.list().models


def test_request_log(client: ollama.Client, server: ReplayServer) -> None:
    client.chat("llama3.2", messages=[{"role": "user", "content": "x"}], options={"seed": 7})
    method, path, body = server.requests[-1]
    assert (method, path) == ("POST", "/api/chat")
    assert body["options"] == {"seed": 7} and body["stream"] is False


def test_cli_serves_from_repo_root(tmp_path: Path) -> None:
    reply = tmp_path / "reply.md"
    reply.write_text("# Title\n\nFrom a file.")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_replay", "--port", "0", "--reply-file", str(reply)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        c = ollama.Client(host=url)
        res = c.chat("llama3.2", messages=[{"role": "user", "content": "x"}])
        assert res.message.content == "# Title\n\nFrom a file."
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------- as Ollama's source


def test_version_is_the_modelled_release(server: ReplayServer) -> None:
    # version.Version comes from the release tag (release.yaml: ${GITHUB_REF_NAME#v}).
    assert ollama_replay.__doc__ is not None and f"v{VERSION})" in ollama_replay.__doc__
    assert httpx.get(server.url + "/api/version").json() == {"version": VERSION}


def test_thinking_is_on_by_default_for_thinking_models(
    client: ollama.Client, server: ReplayServer
) -> None:
    msgs = [{"role": "user", "content": "why"}]
    server.set_reply("Because.")
    # ChatHandler: a model with the thinking capability gets think=true when it is left out.
    res = client.chat("qwen3:0.6b", messages=msgs)
    assert (res.message.content, res.message.thinking) == ("Because.", server.state.thinking)
    parts = list(client.chat("qwen3:0.6b", messages=msgs, stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == server.state.thinking
    assert parts[-1].eval_count == len(tokenize(server.state.thinking)) + 1
    res = client.chat("qwen3:0.6b", messages=msgs, think=False)
    assert res.message.content == "Because." and not res.message.thinking
    assert client.chat("qwen3:0.6b", messages=msgs, think="high").message.thinking
    # Other models neither think nor fail when think is left out or false.
    for think in (None, False):
        res = client.chat("llama3.2", messages=msgs, think=think)
        assert res.message.content == "Because." and not res.message.thinking
    # GenerateHandler decides the same way.
    gen = client.generate("qwen3:0.6b", "why")
    assert (gen.response, gen.thinking) == ("Because.", server.state.thinking)
    assert not client.generate("qwen3:0.6b", "why", think=False).thinking
    # The thinking check comes before the completion one (scheduleRunner).
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("nomic-embed-text", messages=msgs, think=True)
    assert err.value.error == '"nomic-embed-text" does not support thinking'
    with pytest.raises(ollama.ResponseError) as err:
        client.generate("llama3.2", "why", think="low")
    assert (err.value.status_code, err.value.error) == (400, '"llama3.2" does not support thinking')


def test_bad_think_values_are_binding_errors(server: ReplayServer) -> None:
    levels = '"high", "medium", "low", "max", true, or false'
    for path, extra in (("/api/chat", {"messages": []}), ("/api/generate", {"prompt": "x"})):
        r = httpx.post(server.url + path, json={"model": "nope", "think": "huge", **extra})
        assert (r.status_code, r.json()) == (
            400,
            {"error": f'invalid think value: "huge" (must be {levels})'},
        )
        r = httpx.post(server.url + path, json={"model": "qwen3:0.6b", "think": 1, **extra})
        assert r.json() == {"error": f"think must be a boolean or string ({levels})"}
    body = {"model": "qwen3:0.6b", "messages": [{"role": "user", "content": "x"}], "think": None}
    r = httpx.post(server.url + "/api/chat", json={**body, "stream": False})
    assert r.json()["message"]["thinking"] == server.state.thinking  # null is left out


def test_tags_carry_capabilities_and_lengths(client: ollama.Client, server: ReplayServer) -> None:
    r = httpx.get(server.url + "/api/tags")
    entries = {m["name"]: m for m in r.json()["models"]}
    llama = entries["llama3.2:latest"]
    keys = ["name", "model", "modified_at", "size", "digest", "details", "capabilities"]
    assert list(llama) == keys
    assert llama["capabilities"] == ["completion", "tools"]
    assert list(llama["details"])[-2:] == ["context_length", "embedding_length"]
    assert (llama["details"]["context_length"], llama["details"]["embedding_length"]) == (
        131072,
        3072,
    )
    assert entries["qwen3:0.6b"]["capabilities"] == ["completion", "tools", "thinking"]
    assert entries["nomic-embed-text:latest"]["capabilities"] == ["embedding"]
    assert entries["nomic-embed-text:latest"]["details"]["embedding_length"] == 768
    # Both are omitempty: a model whose GGUF has neither key, and no capabilities, has none.
    server.state.add_model(
        ReplayModel(
            name="bare:latest",
            digest="0" * 64,
            size=1,
            family="llama",
            parameter_size="1M",
            quantization_level="F16",
            capabilities=[],
            modified_at="2025-06-02T20:00:00+09:00",  # 11:00Z, older than qwen3's 18:40Z
        )
    )
    entries = {m["name"]: m for m in httpx.get(server.url + "/api/tags").json()["models"]}
    assert "capabilities" not in entries["bare:latest"]
    assert "context_length" not in entries["bare:latest"]["details"]
    # Newest first by the instant, not by the text of the time stamp.
    names = [m.model for m in client.list().models]
    assert names[:2] == ["qwen3:0.6b", "bare:latest"]


def test_show_has_tensors_and_requires(client: ollama.Client, server: ReplayServer) -> None:
    r = httpx.post(server.url + "/api/show", json={"model": "llama3.2"})
    data = r.json()
    assert list(data)[-4:] == ["model_info", "tensors", "capabilities", "modified_at"]
    tensors = data["tensors"]
    assert len(tensors) == 1 + 28 * 9 + 1
    assert tensors[0] == {"name": "token_embd.weight", "type": "Q6_K", "shape": [3072, 128256]}
    assert {"name": "blk.0.attn_k.weight", "type": "Q4_K", "shape": [3072, 1024]} in tensors
    assert tensors[-1] == {"name": "output_norm.weight", "type": "F32", "shape": [3072]}
    # GGUF tensors come verbose or not; verbose only keeps long arrays in model_info.
    m = server.state.get("llama3.2")
    assert m is not None
    m.model_info["tokenizer.ggml.tokens"] = [f"t{i}" for i in range(8)]
    short = httpx.post(server.url + "/api/show", json={"model": "llama3.2"}).json()
    full = httpx.post(server.url + "/api/show", json={"model": "llama3.2", "verbose": True}).json()
    assert short["tensors"] == full["tensors"] == tensors
    assert short["model_info"]["tokenizer.ggml.tokens"] == []
    assert len(full["model_info"]["tokenizer.ggml.tokens"]) == 8
    assert short["model_info"]["general.languages"] == ["en", "de", "fr", "it", "pt"]
    assert "requires" not in short
    # requires comes from the create request (or the base model) and is shown last.
    body = {"model": "needs", "from": "llama3.2", "requires": "0.14.0", "stream": False}
    assert httpx.post(server.url + "/api/create", json=body).json() == {"status": "success"}
    data = httpx.post(server.url + "/api/show", json={"model": "needs"}).json()
    assert list(data)[-1] == "requires" and data["requires"] == "0.14.0"
    client.create("child", from_="needs", system="Be brief.")
    raw = httpx.post(server.url + "/api/show", json={"model": "child"}).json()
    assert raw["requires"] == "0.14.0"


def test_modelfile_quotes_like_ollama(client: ollama.Client) -> None:
    assert modelfile_quote("plain words") == "plain words"
    assert modelfile_quote("two\nlines") == '"two\nlines"'
    assert modelfile_quote(" padded") == '" padded"'
    assert modelfile_quote('say "hi"\nnow') == '"""say "hi"\nnow"""'
    assert modelfile_quote('say "hi"') == 'say "hi"'
    text = client.show("qwen2.5:0.5b").modelfile or ""
    header, _, body = text.partition("\nFROM /root/.ollama/models/blobs/sha256-")
    assert header.endswith("# FROM qwen2.5:0.5b\n")
    assert body.split("\n", 1)[1] == (
        'TEMPLATE "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
        '{{ end }}<|im_start|>assistant\n"\n'
        "SYSTEM You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n"
        "PARAMETER stop <|im_start|>\n"
        "PARAMETER stop <|im_end|>\n"
        'LICENSE "Apache License\nVersion 2.0, January 2004"\n'
    )
    client.create(
        "quoted",
        from_="llama3.2",
        template='Say "hi"\n{{ .Prompt }}',
        system=" padded ",
        parameters={"num_ctx": 1000000, "temperature": 0.7},
        messages=[
            {"role": "user", "content": "two\nlines"},
            {"role": "assistant", "content": "ok"},
        ],
    )
    show = client.show("quoted")
    lines = (show.modelfile or "").split("\n")
    assert 'TEMPLATE """Say "hi"' in lines and '{{ .Prompt }}"""' in lines
    assert 'SYSTEM " padded "' in lines
    # PARAMETER values are Go's %v of the JSON-decoded float64s.
    assert "PARAMETER num_ctx 1e+06" in lines and "PARAMETER temperature 0.7" in lines
    assert 'MESSAGE user "two' in lines and "MESSAGE assistant ok" in lines
    assert "num_ctx                        1e+06" in (show.parameters or "")


def test_model_system_goes_first_in_the_prompt(client: ollama.Client, server: ReplayServer) -> None:
    m = server.state.get("qwen2.5:0.5b")
    assert m is not None and m.system
    system = {"role": "system", "content": m.system}
    hi = {"role": "user", "content": "hi"}
    res = client.chat("qwen2.5:0.5b", messages=[hi])
    assert server.state.prompts[-1] == [system, hi]
    assert res.prompt_eval_count == len(tokenize(m.system)) + 1 + 10
    # A request that opens with its own system message keeps it alone.
    own = {"role": "system", "content": "Be terse."}
    res = client.chat("qwen2.5:0.5b", messages=[own, hi])
    assert server.state.prompts[-1] == [own, hi]
    assert res.prompt_eval_count == 2 + 1 + 10
    # Only the first message is looked at; the model's MESSAGEs come between.
    m.messages = [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]
    client.chat("qwen2.5:0.5b", messages=[hi, own])
    assert server.state.prompts[-1] == [system, *m.messages, hi, own]
    # A model without a SYSTEM adds nothing.
    client.chat("llama3.2", messages=[hi])
    assert server.state.prompts[-1] == [hi]
