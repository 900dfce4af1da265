"""Backends are contacted directly: HTTP_PROXY & co. are ignored, a proxy is used only when configured.

httpx reads ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (and ``.netrc``) by default and does not exempt
loopback, so without ``trust_env=False`` a local Ollama or llama.cpp request (with its bearer key)
would go to whatever proxy the shell exports. A recording listener on loopback plays that proxy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.ollama_replay import ReplayServer, start_replay_server
from tests.test_backend_openai import StubServer
from tui.backends.base import ChatMessage, direct_http
from tui.backends.ollama import OllamaBackend
from tui.backends.openai_compat import OpenAICompatBackend
from tui.config import Config, OpenAIEndpoint, load_config, to_toml_dict
from tui.controller import build_backends

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
OLLAMA_KEY = "ollama-secret-4f2a"


class RecordingProxy:
    """A loopback 'proxy' that records every request it gets and answers it itself.

    ``/v1/models`` gets one model named ``via-proxy`` and ``/api/tags`` one named ``via-proxy:latest``,
    so a client that really went through it can tell.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        handler = type("Handler", (_ProxyHandler,), {"proxy": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: ClassVar[RecordingProxy]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.proxy.requests.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.endswith("/v1/models"):
            obj: Any = {"object": "list", "data": [{"id": "via-proxy", "object": "model"}]}
        elif self.path.endswith("/api/tags"):
            obj = {"models": [{"name": "via-proxy:latest", "model": "via-proxy:latest", "size": 1}]}
        else:
            obj = {"error": "this is the proxy"}
        body = json.dumps(obj).encode()
        self.send_response(200 if "error" not in obj else 502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_DELETE = _answer

    def do_CONNECT(self) -> None:
        self.proxy.requests.append((self.command, self.path, dict(self.headers)))
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """A proxy named by every proxy variable; nothing may reach it."""
    proxy = RecordingProxy()
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("OLLAMA_API_KEY", OLLAMA_KEY)
    yield proxy
    proxy.close()


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply="Direct answer.") as server:
        yield server


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


async def test_the_trap_catches_a_client_that_trusts_the_environment(
    trap: RecordingProxy, replay: ReplayServer
) -> None:
    """Control: httpx's default really sends loopback traffic to the proxy, so the tests below
    mean something."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{replay.url}/api/tags")
    assert response.json()["models"][0]["name"] == "via-proxy:latest"
    assert trap.requests and trap.requests[0][1] == f"{replay.url}/api/tags"


async def collect(stream: AsyncIterator[Any]) -> str:
    return "".join([chunk.content async for chunk in stream])


async def test_ollama_ignores_proxy_variables(trap: RecordingProxy, replay: ReplayServer) -> None:
    backend = OllamaBackend(replay.host_port)
    try:
        assert (await backend.probe()).startswith("Ollama")
        names = [m.name for m in await backend.list_models()]
        assert "qwen2.5:0.5b" in names
        await backend.show("qwen2.5:0.5b")  # the raw httpx client
        text = await collect(backend.chat("qwen2.5:0.5b", [ChatMessage("user", "hi")]))
        assert text == "Direct answer."
    finally:
        await backend.aclose()
    assert trap.requests == []
    paths = {r.path for r in replay.requests}
    assert {"/api/version", "/api/tags", "/api/show", "/api/chat"} <= paths


async def test_openai_ignores_proxy_variables_and_keeps_its_key(
    trap: RecordingProxy, stub: StubServer
) -> None:
    backend = OpenAICompatBackend(
        f"{stub.url}/keyed/v1", backend_id="openai:stub", api_key=StubServer.KEY
    )
    try:
        assert [m.name for m in await backend.list_models()] == ["tiny.gguf", "other"]
        text = await collect(backend.chat("llamacpp", [ChatMessage("user", "hi")]))
        assert text == "The answer is Paris."
    finally:
        await backend.aclose()
    assert trap.requests == []
    assert all(r[2].get("Authorization") == f"Bearer {StubServer.KEY}" for r in stub.requests)


async def test_a_configured_proxy_is_used_for_that_backend_only(
    trap: RecordingProxy, replay: ReplayServer, stub: StubServer, tmp_path: Path
) -> None:
    configured = RecordingProxy()
    try:
        cfg = Config(
            ollama_host=replay.host_port,
            ollama_proxy=configured.url,
            model_dirs=[],
            openai=[
                OpenAIEndpoint("proxied", f"{stub.url}/v1", proxy=configured.url),
                OpenAIEndpoint("direct", f"{stub.url}/v1"),
            ],
        )
        backends = {b.id: b for b in build_backends(cfg)}
        ollama, proxied, direct = (
            backends["ollama"],
            backends["openai:proxied"],
            backends["openai:direct"],
        )
        try:
            assert [m.name for m in await ollama.list_models()] == ["via-proxy:latest"]
            assert [m.name for m in await proxied.list_models()] == ["via-proxy"]
            assert [m.name for m in await direct.list_models()] == ["tiny.gguf", "other"]
        finally:
            for b in backends.values():
                await b.aclose()
        # A proxy gets the absolute URL of the backend it stands in for.
        assert {path for _, path, _ in configured.requests} == {
            f"{replay.url}/api/tags",
            f"{stub.url}/v1/models",
        }
        assert trap.requests == []
        assert [r[1] for r in stub.requests] == ["/v1/models"]  # the direct one only
    finally:
        configured.close()


def test_proxy_settings_are_read_and_written_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[ollama]\nproxy = "http://proxy.lan:3128"\n'
        '[[openai]]\nname = "a"\nurl = "http://127.0.0.1:8080/v1"\nproxy = "http://p:1"\n'
        '[[openai]]\nname = "b"\nurl = "http://127.0.0.1:8081/v1"\n',
        encoding="utf-8",
    )
    cfg = load_config(path, env={})
    assert cfg.problems == []
    assert cfg.ollama_proxy == "http://proxy.lan:3128"
    assert [e.proxy for e in cfg.openai] == ["http://p:1", ""]
    data = to_toml_dict(cfg)
    assert data["ollama"]["proxy"] == "http://proxy.lan:3128"
    assert data["openai"][0]["proxy"] == "http://p:1"
    assert "proxy" not in data["openai"][1]
    assert "proxy" not in to_toml_dict(Config())["ollama"]


def test_direct_http_keeps_custom_certificates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """trust_env=False would also drop SSL_CERT_FILE; direct_http passes it on itself."""
    import certifi

    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert direct_http() == {"trust_env": False, "proxy": None}
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    options = direct_http("http://p:1")
    assert options["trust_env"] is False and options["proxy"] == "http://p:1"
    assert options["verify"].cert_store_stats()["x509_ca"] > 0
