"""Plain-HTTP GETs for the fleet's polls: HTTP/1.1 over asyncio streams, kept-alive per host.

Why not httpx here: a poll of 100 hosts is 200 small GETs every 2 s, and httpx costs about
0.86 ms of CPU per request (its request and response models, httpcore's pool and state machine,
the ``anyio`` layer), 8.6 % of a core for that fleet alone; a GET written and read on a kept-alive
asyncio stream costs about 0.03 ms. This client does only what a status endpoint needs: ``GET``,
``http://`` URLs, a ``Content-Length``, chunked or read-to-close body, keep-alive. Everything else
(``https://``, a URL with user info) is the caller's to send with httpx, and every failure is a
plain exception that :func:`tui.fleet.scrape.describe` words. No proxy is ever used: like
:func:`~tui.backends.base.direct_http`, the fleet talks to its hosts directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

HEAD_LIMIT = 64 * 1024
"""Bytes the status line and headers may take."""


class HttpProtocolError(Exception):
    """The answer is not HTTP/1.x (``str()`` says how)."""


class BodyTooLarge(Exception):
    """The answer's body is larger than allowed."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def handles(url: str) -> bool:
    """Whether :class:`LightHttp` can send a GET to ``url`` (plain http, no user info)."""
    return url.startswith("http://") and "@" not in url.partition("//")[2].partition("/")[0]


class LightHttp:
    """GETs with kept-alive connections, at most ``per_host`` idle ones per host and port."""

    def __init__(self, *, user_agent: str = "slmdeck-fleet", per_host: int = 4) -> None:
        self._agent = user_agent
        self._per_host = per_host
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._prepared: dict[tuple[str, Any, Any], tuple[tuple[str, int], bytes]] = {}
        """Each request's bytes by URL, parameters and headers, made once."""

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        max_body: int,
    ) -> tuple[int, bytes, str]:
        """GET ``url``; returns (status, body, content type). The caller bounds the time
        (``asyncio.timeout``); a connection interrupted that way is closed, not reused.

        Raises:
            OSError, asyncio.IncompleteReadError, HttpProtocolError, BodyTooLarge.
        """
        cache_key = (url, _frozen(params), _frozen(headers))
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            prepared = self._prepare(url, headers, params)
            if len(self._prepared) < 4096:  # the fleet's few URLs, every poll
                self._prepared[cache_key] = prepared
        key, request = prepared
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            try:
                return await self._exchange(key, conn, request, max_body)
            except (OSError, asyncio.IncompleteReadError) as exc:
                # A kept-alive connection the server closed meanwhile: try the next, or a new one.
                if getattr(exc, "partial", b"") or not _stale(exc):
                    raise
        conn = await asyncio.open_connection(key[0], key[1], limit=HEAD_LIMIT)
        return await self._exchange(key, conn, request, max_body)

    def _prepare(
        self, url: str, headers: Mapping[str, str] | None, params: Mapping[str, Any] | None
    ) -> tuple[tuple[str, int], bytes]:
        parts = urlsplit(url)
        target = parts.path or "/"
        query = parts.query
        if params:
            extra = urlencode(params, doseq=True)
            query = f"{query}&{extra}" if query else extra
        if query:
            target += "?" + query
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            f"User-Agent: {self._agent}",
            "Accept: */*",
            "Accept-Encoding: identity",
        ]
        for name, value in (headers or {}).items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise HttpProtocolError("a header holds a line break")
            lines.append(f"{name}: {value}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return (parts.hostname or "", parts.port or 80), request

    async def _exchange(
        self, key: tuple[str, int], conn: _Conn, request: bytes, max_body: int
    ) -> tuple[int, bytes, str]:
        reader, writer = conn
        done = False
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise HttpProtocolError("headers larger than 64 KiB") from None
            status, fields, version = _parse_head(head)
            length = fields.get("content-length")
            chunked = "chunked" in fields.get("transfer-encoding", "").lower()
            close = fields.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            if chunked:
                body = await _read_chunked(reader, max_body)
            elif length is not None:
                try:
                    size = int(length)
                except ValueError:
                    raise HttpProtocolError(f"Content-Length {length[:20]!r}") from None
                if size > max_body:
                    raise BodyTooLarge
                body = await reader.readexactly(size) if size else b""
            elif status in (204, 304) or 100 <= status < 200:
                body = b""
            else:
                close = True
                body = await _read_to_end(reader, max_body)
            done = not close
            return status, body, fields.get("content-type", "")
        finally:
            if done:
                pool = self._idle.setdefault(key, [])
                if len(pool) < self._per_host:
                    pool.append(conn)
                else:
                    writer.close()
            else:
                writer.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        pools, self._idle = self._idle, {}
        for pool in pools.values():
            for _, writer in pool:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()


def _frozen(items: Mapping[str, Any] | None) -> Any:
    if not items:
        return None
    return tuple((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in items.items())


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.IncompleteReadError | ConnectionResetError | BrokenPipeError)


def _parse_head(head: bytes) -> tuple[int, dict[str, str], str]:
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    version, _, tail = status_line.partition(" ")
    code = tail[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise HttpProtocolError(f"not an HTTP answer (it starts {status_line[:40]!r})")
    fields: dict[str, str] = {}
    for line in rest.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpProtocolError(f"a header line without a colon ({line[:40]!r})")
        fields[name.strip().lower()] = value.strip()
    return int(code), fields, version


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            n = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpProtocolError("a broken chunked body") from None
        if n == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(chunks)
        size += n
        if size > max_body:
            raise BodyTooLarge
        chunks.append(await reader.readexactly(n))
        if await reader.readexactly(2) != b"\r\n":
            raise HttpProtocolError("a broken chunked body")


async def _read_to_end(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
