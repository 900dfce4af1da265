"""A loopback OpenAI-compatible server that misbehaves on demand (stdlib only).

It serves ``/v1/models`` (one model, ``tiny``) and streams ``/v1/chat/completions`` the way
llama.cpp's server does (content deltas, a finish_reason chunk, a usage chunk, ``data: [DONE]``),
unless :class:`OpenAIFaults` say otherwise. Start it with :func:`start_openai_server` (127.0.0.1,
port 0, in a thread) and use it as a context manager so it stops.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "tiny"
REPLY = ("Hel", "lo", " there")


@dataclasses.dataclass
class OpenAIFaults:
    """Misbehaviour to inject; each applies to requests whose path is in ``paths`` (all if empty)."""

    end_after_deltas: int | None = None
    """Stream this many content deltas, then end the chunked body cleanly: no finish_reason, no
    ``[DONE]`` (a proxy that gives up quietly)."""
    no_done: bool = False
    """Send everything, finish_reason and usage included, except the final ``data: [DONE]``."""
    error_status: int | None = None
    """Answer with this status and ``error_body`` instead of the real answer."""
    error_body: bytes = b""
    error_content_type: str = "text/html; charset=utf-8"
    body_status: int = 200
    """With ``replace_body``: the status to send it with."""
    replace_body: bytes | None = None
    """Send these bytes (with ``replace_content_type``) instead of a plain JSON answer."""
    replace_content_type: str = "text/html; charset=utf-8"
    drip_interval: float = 0.0
    """Seconds between the bytes of a plain JSON answer's body (headers come at once)."""
    delay_first_byte: float = 0.0
    """Seconds to wait, the request read, before answering anything (accept, then silence)."""
    garbage_after_deltas: int | None = None
    """Send an event whose data is not JSON after this many content deltas; the stream goes on."""
    bad_utf8_after_deltas: int | None = None
    """Send a content delta whose bytes are not valid UTF-8 after this many deltas."""
    cut_after_deltas: int | None = None
    """After this many deltas write half an event, then close the socket (a crash mid-event)."""
    paths: frozenset[str] = frozenset()

    times: int | None = None
    """How many requests the faults apply to before they clear themselves (None: until cleared)."""

    def applies(self, path: str) -> bool:
        return not self.paths or path in self.paths


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    allow_reuse_address = True

    def __init__(self, owner: OpenAIServer, port: int = 0) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # faults break connections on purpose


class _Gone(Exception):
    """The client closed the connection, or the server is stopping."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def owner(self) -> OpenAIServer:
        return self.server.owner

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:
            raise _Gone from exc

    def _plain(self, status: int, body: bytes, content_type: str, drip: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not drip:
            self._write(body)
            return
        for i in range(len(body)):
            self._write(body[i : i + 1])
            if self.owner.stopping.wait(drip):
                raise _Gone

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        faults = self.owner.take_faults(method, path, body)
        try:
            if faults.delay_first_byte and self.owner.stopping.wait(faults.delay_first_byte):
                raise _Gone
            if faults.error_status is not None:
                self._plain(faults.error_status, faults.error_body, faults.error_content_type)
            elif method == "GET" and path == "/v1/models":
                self._models(faults)
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(faults)
            else:
                self._plain(404, b'{"error":{"message":"Not Found"}}', "application/json")
        except _Gone:
            self.close_connection = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _models(self, faults: OpenAIFaults) -> None:
        if faults.replace_body is not None:
            self._plain(faults.body_status, faults.replace_body, faults.replace_content_type)
            return
        with self.owner.lock:
            names = list(self.owner.models)
        data = {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "me"} for name in names],
        }
        self._plain(200, json.dumps(data).encode(), "application/json", faults.drip_interval)

    def _events(self, faults: OpenAIFaults) -> Iterator[bytes]:
        with self.owner.lock:
            reply, interval = tuple(self.owner.reply), self.owner.delta_interval
        for i, piece in enumerate(reply):
            if faults.end_after_deltas is not None and i >= faults.end_after_deltas:
                return
            if faults.cut_after_deltas is not None and i >= faults.cut_after_deltas:
                self._write_raw_chunk(b'data: {"id":"chatcmpl-1","object":"chat.comp')
                self.connection.shutdown(socket.SHUT_RDWR)
                raise _Gone
            if faults.garbage_after_deltas is not None and i == faults.garbage_after_deltas:
                yield b"{this is not json"
            if faults.bad_utf8_after_deltas is not None and i == faults.bad_utf8_after_deltas:
                yield json.dumps(_chunk({"content": "@@"})).encode().replace(b"@@", b"\xff\xfe")
            if i and interval and self.owner.stopping.wait(interval):
                raise _Gone
            yield json.dumps(_chunk({"content": piece})).encode()
        yield json.dumps(_chunk({}, "stop")).encode()
        usage = {**_chunk({}), "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
        yield json.dumps(usage).encode()
        if not faults.no_done:
            yield b"[DONE]"

    def _chat(self, faults: OpenAIFaults) -> None:
        if faults.replace_body is not None:
            self._plain(faults.body_status, faults.replace_body, faults.replace_content_type)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in self._events(faults):
            self._write_raw_chunk(b"data: " + data + b"\n\n")
        self._write(b"0\r\n\r\n")  # a clean end of the body, whatever was left out

    def _write_raw_chunk(self, data: bytes) -> None:
        self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


class OpenAIServer:
    """A running fault-injecting server (see the module docstring)."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.faults = OpenAIFaults()
        self.requests: list[tuple[str, str, Any]] = []
        self.models: list[str] = [MODEL]
        """The model ids ``/v1/models`` lists (any text: hostile names, 10,000 of them...)."""
        self.reply: list[str] = list(REPLY)
        """The content deltas a chat streams, in order."""
        self.delta_interval = 0.0
        """Seconds between content deltas (a slow model); 0: as fast as possible."""
        self.stopping = threading.Event()
        self.httpd = _Server(self, port)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="openai-faults", daemon=True
        )

    def set_faults(self, **fields: Any) -> OpenAIFaults:
        if "paths" in fields:
            fields["paths"] = frozenset(fields["paths"])
        with self.lock:
            self.faults = OpenAIFaults(**fields)
            return self.faults

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = OpenAIFaults()

    def take_faults(self, method: str, path: str, body: Any) -> OpenAIFaults:
        """Record a request; the faults that apply to it (counting down ``times``)."""
        with self.lock:
            self.requests.append((method, path, body))
            faults = self.faults
            if not faults.applies(path):
                return OpenAIFaults()
            if faults.times is not None:
                faults.times -= 1
                if faults.times <= 0:
                    self.faults = OpenAIFaults()
            return faults

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_openai_server(port: int = 0) -> OpenAIServer:
    """Start a fault-injecting OpenAI-compatible server on 127.0.0.1 (``port``; 0: a free one)
    in a thread."""
    return OpenAIServer(port).start()


def main(argv: list[str] | None = None) -> int:
    """Serve until killed (the fault tests kill this process mid-stream)."""
    ap = argparse.ArgumentParser(prog="python -m tests.faults.openai_server", description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--words", type=int, default=0, help="reply with this many words")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between deltas")
    args = ap.parse_args(argv)
    server = start_openai_server(args.port)
    if args.words:
        server.reply = [f"w{i} " for i in range(args.words)]
    server.delta_interval = args.interval
    print(f"OpenAI-compatible fault server on {server.url}", flush=True)
    try:
        threading.Event().wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
