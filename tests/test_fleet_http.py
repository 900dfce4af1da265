"""The fleet's plain-HTTP client and the Prometheus text fast path: the same answers as httpx and
``prometheus_client`` give, on the shapes servers send."""

from __future__ import annotations

import asyncio

import pytest

from tui.fleet import http11, scrape
from tui.fleet.promtext import parse_metrics

PLAIN = (
    "# HELP node_cpu_seconds_total Seconds.\n# TYPE node_cpu_seconds_total counter\n"
    'node_cpu_seconds_total{cpu="0",mode="idle"} 10.5\n'
    'node_cpu_seconds_total{cpu="0",mode="user"} 2e+01\n'
    "node_memory_MemTotal_bytes 1.6e+10\nnode_load1 NaN\n"
)


def test_fast_path_reads_what_the_library_reads() -> None:
    prefixes = ("node_cpu", "node_memory_MemTotal", "node_load1")
    fast = parse_metrics(PLAIN, prefixes)
    # An escaped label value is not the plain form: the library reads the whole text.
    slow = parse_metrics(PLAIN + 'node_load1{a="x\\"y"} 1\n', prefixes)
    for name in ("node_cpu_seconds_total", "node_memory_MemTotal_bytes"):
        assert fast.samples(name) == slow.samples(name)
    assert slow.value("node_load1", a='x"y') == 1.0
    with pytest.raises(Exception, match="Prometheus text format"):
        parse_metrics("node_load1 {{{ garbage\n", prefixes)


async def _server(answers: list[bytes]) -> tuple[asyncio.AbstractServer, list[int]]:
    """Answers each request with the next of ``answers``; an answer of b"" closes the
    connection instead (a server that dropped a kept-alive connection)."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while answers:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            answer = answers.pop(0)
            if not answer:
                break
            writer.write(answer)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), connections


async def test_chunked_keep_alive_and_a_dropped_connection() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\nnope"
    server, connections = await _server([chunked, sized, b"", sized])
    port = server.sockets[0].getsockname()[1]
    client = http11.LightHttp()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        answer = await scrape.fetch(client, url, within=10)
        assert answer.body == b"abcde"
        answer = await scrape.fetch(client, url, within=10, ok_statuses=frozenset({404}))
        assert (answer.status, answer.body, answer.content_type) == (404, b"nope", "text/plain")
        assert len(connections) == 1  # kept alive
        # The server drops the kept-alive connection: a fresh one is opened, no error.
        answer = await scrape.fetch(client, url, within=10, ok_statuses=frozenset({404}))
        assert answer.body == b"nope" and len(connections) == 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_failures_are_one_line_reasons() -> None:
    from tests.conftest import closed_port

    client = http11.LightHttp()
    url = f"http://127.0.0.1:{closed_port()}/api/ps"
    with pytest.raises(scrape.ScrapeError, match="connection refused"):
        await scrape.fetch(client, url, within=10)
    server, _ = await _server([b"SSH-2.0-OpenSSH\r\n\r\n"])
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(scrape.ScrapeError, match="not an HTTP answer"):
            await scrape.fetch(client, f"http://127.0.0.1:{port}/", within=10)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert not http11.handles("https://h/x") and not http11.handles("http://u:p@h/x")
