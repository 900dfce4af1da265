"""The OpenAI-compatible backend: llama.cpp's server, llama-cpp-python's, vLLM, LM Studio and kin.

Talks plain HTTP with ``httpx`` and reads streamed replies with ``httpx-sse``; both are imported on
first use, never at module import. Facts about the servers (SSE chunk shape, llama.cpp's ``timings``
and ``/props``, vLLM's error bodies) are in the project's design notes on OpenAI-compatible servers.

The base URL may be given with or without the ``/v1`` suffix (``http://127.0.0.1:8080`` and
``http://127.0.0.1:8080/v1/`` mean the same server); :func:`normalise_base_url` turns either into the
``/v1`` URL that :attr:`OpenAICompatBackend.location` shows.

An optional API key is sent as ``Authorization: Bearer …``. It lives only in a private attribute and
in the HTTP client's headers: ``repr()`` of the backend and every error message leave it out.
"""

from __future__ import annotations

import asyncio
import errno
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tui.backends.base import (
    Backend,
    BackendError,
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ChatStats,
    InvalidInput,
    ModelDetails,
    ModelInfo,
    ModelNotFound,
    body_summary,
    direct_http,
    looks_like_html,
    one_line,
    status_phrase,
)

if TYPE_CHECKING:
    import httpx

_SNIPPET = 120
LIST_TIMEOUT = 10.0
"""Seconds the model list (``/v1/models``) may take in all: well under the controller's own
bound, so a server that trickles its list is reported as that, not as a slow probe."""


def normalise_base_url(url: str) -> str:
    """Turn what a person typed into the server's ``…/v1`` base URL.

    A missing scheme means ``http``; trailing slashes and a trailing ``/v1`` are dropped and ``/v1``
    is added back, so ``127.0.0.1:8080``, ``http://127.0.0.1:8080/`` and
    ``http://127.0.0.1:8080/v1`` all give ``http://127.0.0.1:8080/v1``. A path prefix in front of
    ``/v1`` (a reverse proxy's) is kept.

    Args:
        url: The server's address as configured.

    Returns:
        ``scheme://host[:port][/prefix]/v1``.

    Raises:
        InvalidInput: The text is empty or has no host.
    """
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    scheme, _, rest = text.partition("://")
    hostport, _, path = rest.partition("/")
    if not hostport:
        raise InvalidInput(f"OpenAI-compatible server URL {url!r} has no host")
    path = path.strip("/")
    if path == "v1":
        path = ""
    elif path.endswith("/v1"):
        path = path[: -len("/v1")]
    prefix = f"/{path}" if path else ""
    return f"{scheme.lower()}://{hostport}{prefix}/v1"


def _options(options: ChatOptions | None) -> dict[str, Any]:
    # num_ctx has no OpenAI field: the server's context is fixed when it starts.
    if options is None:
        return {}
    out: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "seed": options.seed,
        "max_tokens": options.max_tokens,
    }
    return {k: v for k, v in out.items() if v is not None}


def _snippet(text: str) -> str:
    """A body's start on one line, control characters made visible."""
    return one_line(text, _SNIPPET + 1)


def _excerpt(text: str, content_type: str = "") -> str:
    """A body for an error message: an HTML page summarised, other text quoted on one line."""
    if looks_like_html(text, content_type):
        return body_summary(text, content_type=content_type)
    return repr(_snippet(text))


def _error_text(body: Any) -> str:
    """The message in an error body: OpenAI's nested, vLLM's flat, FastAPI's ``detail``."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
        if body.get("message"):
            return str(body["message"])
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return "; ".join(str(d.get("msg", d)) for d in detail)
    return ""


def _ns(ms: Any) -> int | None:
    return int(float(ms) * 1_000_000) if isinstance(ms, int | float) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _refused(exc: BaseException) -> bool:
    """Whether a connect error was a refusal; httpx hides the OSError in the cause chain."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass
class _Reply:
    """What a stream told us besides the text, gathered for the final ChatStats."""

    finish_reason: str = ""
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    chunks: int = 0
    done: bool = False


class OpenAICompatBackend(Backend):
    """Talks to one OpenAI-compatible server (``/v1/models``, ``/v1/chat/completions``)."""

    kind = "openai"
    capabilities = frozenset({Capability.LIST, Capability.SHOW, Capability.CHAT})

    def __init__(
        self,
        base_url: str,
        *,
        backend_id: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        stream_timeout: float = 600.0,
        list_timeout: float = LIST_TIMEOUT,
        proxy: str | None = None,
    ) -> None:
        """Create a client; nothing is connected or imported until the first call.

        Args:
            base_url: The server, with or without ``/v1`` (see :func:`normalise_base_url`).
            backend_id: Name shown to the user, e.g. ``openai:llama.cpp``.
            api_key: Sent as a bearer token when given; never shown or logged.
            timeout: Seconds a short request (list, show, probe) may take in all.
            connect_timeout: Seconds to wait for the TCP connection.
            stream_timeout: Seconds a chat stream may go without sending anything; long because
                a server may load the model before the first token.
            list_timeout: Seconds the model list may take in all when listing models (the
                smaller of this and ``timeout`` applies).
            proxy: Proxy URL to reach the server through. Without one it is contacted directly:
                ``HTTP(S)_PROXY``/``ALL_PROXY`` and ``.netrc`` are never read (:func:`direct_http`),
                so the bearer key goes nowhere else.
        """
        super().__init__(backend_id, normalise_base_url(base_url))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.stream_timeout = stream_timeout
        self.list_timeout = list_timeout
        self._problems: list[str] = []
        self._bad_bytes = False
        self._api_key = api_key or None
        self.proxy = proxy or None
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        key = ", api_key=<set>" if self._api_key else ""
        return f"OpenAICompatBackend({self.location!r}, backend_id={self.id!r}{key})"

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself is not readable from outside)."""
        return self._api_key is not None

    @property
    def root(self) -> str:
        """The server's URL without ``/v1``, where llama.cpp serves ``/props`` and ``/health``."""
        return self.location.removesuffix("/v1")

    @property
    def address(self) -> str:
        """``host:port`` as error messages show it."""
        return self.location.partition("://")[2].partition("/")[0]

    @property
    def _where(self) -> str:
        return f"OpenAI-compatible server at {self.address}"

    # ------------------------------------------------------------------------------ client

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            headers = {"Accept": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                headers=headers,
                **direct_http(self.proxy),
            )
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # ------------------------------------------------------------------------------ errors

    def _scrub(self, text: str) -> str:
        # A server or proxy could echo the request's headers back; the key must not reach the UI.
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    def _translate(self, exc: BaseException, *, timeout: float | None = None) -> BackendError:
        """Turn any exception met while talking to the server into a BackendError with a sentence."""
        import httpx

        where = self._where
        if isinstance(exc, BackendError):
            exc.message = self._scrub(exc.message)
            exc.args = (exc.message,)
            return exc
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            if isinstance(exc, httpx.ConnectTimeout):
                seconds = self.connect_timeout
            else:
                seconds = timeout if timeout is not None else self.stream_timeout
            return BackendUnavailable(
                f"{where} did not answer within {seconds:g} s", backend=self.id
            )
        if isinstance(exc, httpx.ConnectError | ConnectionError):
            detail = str(exc)
            if _refused(exc):
                return BackendUnavailable(
                    f"{where} is not running (connection refused)", backend=self.id
                )
            return BackendUnavailable(
                self._scrub(f"{where} cannot be reached ({detail})"), backend=self.id
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return BackendUnavailable(
                f"{where} stopped mid-stream (the connection closed before the reply was complete)",
                backend=self.id,
            )
        if isinstance(exc, ValueError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return BackendResponseError(
                self._scrub(f"{where} sent a reply slmdeck cannot read: {first}"), backend=self.id
            )
        if isinstance(exc, httpx.HTTPError):
            return BackendUnavailable(self._scrub(f"{where} failed: {exc}"), backend=self.id)
        return BackendResponseError(
            self._scrub(f"{where} failed: {type(exc).__name__}: {exc}"), backend=self.id
        )

    def _status_error(
        self, status: int, text: str, *, model: str | None = None, content_type: str = ""
    ) -> BackendError:
        """The error for an HTTP status >= 400 and its body."""
        where = self._where
        if looks_like_html(text, content_type) and status not in (401, 503):
            # A proxy's or web server's error page: its gist, never the page itself.
            summary = body_summary(text, status=status, content_type=content_type)
            return BackendResponseError(
                self._scrub(f"{where} answered {summary}"), backend=self.id, status=status
            )
        try:
            body: Any = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        message = _error_text(body)
        message = one_line(message) if message else _snippet(text)
        message = self._scrub(message or status_phrase(status))
        if status == 401:
            what = "rejected the API key" if self._api_key else "needs an API key"
            return BackendResponseError(f"{where} {what} (401)", backend=self.id, status=status)
        if status == 404 and model is not None and "model" in message.lower():
            return ModelNotFound(
                f"{where} does not have model {model!r}: {message}", backend=self.id
            )
        if status == 503:
            return BackendUnavailable(f"{where} is not ready (503): {message}", backend=self.id)
        return BackendResponseError(
            f"{where} answered {status}: {message}", backend=self.id, status=status
        )

    async def _get_json(self, url: str, *, bound: float | None = None, what: str = "") -> Any:
        """GET ``url``, all of it within ``bound`` seconds (default ``timeout``); the JSON.

        Raises:
            BackendError: The request failed, timed out (``what``, when given, names what did
                not arrive) or the answer is not JSON.
        """
        seconds = self.timeout if bound is None else bound
        try:
            async with asyncio.timeout(seconds):
                response = await self._client().get(url)
            kind = response.headers.get("content-type", "")
            if response.status_code >= 400:
                raise self._status_error(response.status_code, response.text, content_type=kind)
            try:
                return response.json()
            except UnicodeDecodeError:
                # JSON with bytes that are not UTF-8 (one odd model name): read it with U+FFFD
                # in their place; list_models leaves out the names they hit and says so.
                self._bad_bytes = True
                return json.loads(response.content.decode("utf-8", "replace"))
            except ValueError as exc:
                if looks_like_html(response.text, kind):
                    raise ValueError(
                        f"{url.removeprefix(self.root)} answered "
                        f"{body_summary(response.text)}, not JSON: the URL is wrong or the "
                        "server there is not OpenAI-compatible"
                    ) from exc
                raise ValueError(f"not JSON: {_excerpt(response.text)}") from exc
        except Exception as exc:
            if what and isinstance(exc, TimeoutError):
                raise BackendUnavailable(
                    f"{self._where} did not send {what} within {seconds:g} s", backend=self.id
                ) from exc
            raise self._translate(exc, timeout=seconds) from exc

    # ------------------------------------------------------------------------------ simple calls

    async def _models(self, *, bound: float | None = None, what: str = "") -> list[dict[str, Any]]:
        data = await self._get_json(f"{self.location}/models", bound=bound, what=what)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(m, dict) and isinstance(m.get("id"), str) for m in items
        ):
            raise BackendResponseError(
                f"{self._where} sent a reply slmdeck cannot read: "
                f"/v1/models has no list of models with ids",
                backend=self.id,
            )
        return items

    async def probe(self) -> str:
        """Check the server answers ``/v1/models``; return e.g. ``1 model at 127.0.0.1:8080``."""
        n = len(await self._models(what="its model list (/v1/models)"))
        return f"{n} model{'' if n == 1 else 's'} at {self.address}"

    def _info(self, m: dict[str, Any]) -> ModelInfo:
        created = _int(m.get("created"))
        # llama.cpp's own server adds a "meta" object with the GGUF's figures.
        raw_meta = m.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        n_params = _int(meta.get("n_params"))
        name = str(m["id"])
        return ModelInfo(
            name=name,
            backend=self.id,
            size=_int(meta.get("size")) or 0,
            parameter_size=f"{n_params / 1e9:.2g}B" if n_params else "",
            modified=datetime.fromtimestamp(created, UTC) if created else None,
            format="gguf" if name.lower().endswith(".gguf") or meta.get("n_vocab") else "",
            context_length=_int(meta.get("n_ctx_train")),
        )

    async def list_models(self) -> list[ModelInfo]:
        """The models the server offers, from ``/v1/models``, all within ``list_timeout``.

        Raises:
            BackendUnavailable: Not reachable, or the list did not arrive in time.
        """
        bound = min(self.timeout, self.list_timeout)
        self._bad_bytes = False
        models = await self._models(bound=bound, what="its model list (/v1/models)")
        out: list[ModelInfo] = []
        problems: list[str] = []
        for m in models:
            if self._bad_bytes and "\ufffd" in m["id"]:
                problems.append(
                    f"{self._where} listed a model whose name is not valid UTF-8 "
                    f"({one_line(m['id'])!r}); it was left out"
                )
                continue
            out.append(self._info(m))
        if self._bad_bytes and not problems:
            problems.append(
                f"{self._where} sent a model list with bytes that are not valid UTF-8; they are "
                "shown as \ufffd"
            )
        self._problems = problems
        return out

    @property
    def problems(self) -> list[str]:
        """Entries the last model list left out (a name that is not valid UTF-8), each with why."""
        return list(self._problems)

    async def _props(self) -> dict[str, Any]:
        """llama.cpp's ``/props``, or ``{}`` where the server has none (or refuses it)."""
        try:
            data = await self._get_json(f"{self.root}/props")
        except BackendResponseError:
            return {}
        return data if isinstance(data, dict) else {}

    async def show(self, name: str) -> ModelDetails:
        """What the server tells about ``name``: its ``/v1/models`` entry plus llama.cpp's ``/props``.

        Raises:
            ModelNotFound: ``/v1/models`` does not list ``name``.
        """
        entry = next((m for m in await self._models() if m["id"] == name), None)
        if entry is None:
            raise ModelNotFound(f"{self._where} does not have model {name!r}", backend=self.id)
        info = self._info(entry)
        props = await self._props()
        settings = props.get("default_generation_settings")
        settings = settings if isinstance(settings, dict) else {}
        n_ctx = _int(props.get("n_ctx")) or _int(settings.get("n_ctx")) or info.context_length
        params = settings.get("params")
        known = {"chat_template", "default_generation_settings"}
        extra = {k: v for k, v in props.items() if k not in known}
        extra["owned_by"] = entry.get("owned_by", "")
        meta = entry.get("meta")
        return ModelDetails(
            info=info,
            parameters=params if isinstance(params, dict) else {},
            template=str(props.get("chat_template") or ""),
            context_length=n_ctx,
            model_info=meta if isinstance(meta, dict) else {},
            extra=extra,
        )

    # ------------------------------------------------------------------------------ chat

    def chat(
        self, model: str, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Stream a reply from ``/v1/chat/completions``.

        Each content or ``reasoning_content`` delta becomes a chunk; the last chunk has ``done`` set
        and carries :class:`ChatStats`: token counts from ``usage``, durations from llama.cpp's
        ``timings`` where sent, otherwise measured here (prompt = time to first token, eval = first
        token to the end). Closing the iterator closes the HTTP stream, which stops the server.
        """
        body: dict[str, Any] = {
            "model": model,
            # Earlier thinking is not sent back: OpenAI's message schema has no field for it.
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            **_options(options),
        }
        return self._chat(model, body)

    async def _chat(self, model: str, body: dict[str, Any]) -> AsyncIterator[ChatChunk]:
        import httpx
        from httpx_sse import aconnect_sse

        reply = _Reply()
        start = time.perf_counter_ns()
        first: int | None = None
        try:
            async with aconnect_sse(
                self._client(),
                "POST",
                f"{self.location}/chat/completions",
                json=body,
                timeout=httpx.Timeout(self.stream_timeout, connect=self.connect_timeout),
            ) as source:
                response = source.response
                ctype = response.headers.get("content-type", "")
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(
                        response.status_code, response.text, model=model, content_type=ctype
                    )
                if "text/event-stream" not in ctype:
                    await response.aread()
                    raise ValueError(
                        f"expected an event stream, got {one_line(ctype) or 'no content type'}: "
                        f"{_excerpt(response.text, ctype)}"
                    )
                async for event in source.aiter_sse():
                    if event.data.strip() == "[DONE]":
                        reply.done = True
                        break
                    if not event.data.strip():
                        continue
                    chunk = self._parse_event(event.data, reply)
                    if chunk is not None:
                        if first is None:
                            first = time.perf_counter_ns()
                        yield chunk
        except Exception as exc:
            raise self._translate(exc) from exc
        end = time.perf_counter_ns()
        if not reply.done and not reply.finish_reason:
            # The stream closed cleanly, but with neither [DONE] nor a finish_reason the reply
            # was cut off: an error, never a complete reply.
            raise BackendUnavailable(
                f"{self._where} stopped mid-stream (the reply ended without [DONE] or a "
                "finish_reason, so it is incomplete)",
                backend=self.id,
            )
        yield ChatChunk(done=True, stats=self._stats(reply, start, first, end))

    def _parse_event(self, data: str, reply: _Reply) -> ChatChunk | None:
        """Read one ``data:`` event into ``reply``; the chunk to yield when it carries text."""
        try:
            obj = json.loads(data)
        except ValueError:
            raise BackendResponseError(
                self._scrub(f"{self._where} sent a reply slmdeck cannot read: {_excerpt(data)}"),
                backend=self.id,
            ) from None
        if not isinstance(obj, dict):
            raise BackendResponseError(
                self._scrub(f"{self._where} sent a reply slmdeck cannot read: {_excerpt(data)}"),
                backend=self.id,
            )
        if "error" in obj:
            # llama.cpp and vLLM report failures that happen after the 200 as an event.
            raise BackendResponseError(
                self._scrub(
                    f"{self._where} failed mid-stream: {one_line(_error_text(obj) or data)}"
                ),
                backend=self.id,
            )
        if isinstance(obj.get("usage"), dict):
            reply.usage = obj["usage"]
        if isinstance(obj.get("timings"), dict):
            reply.timings = obj["timings"]
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            reply.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return None
        content = delta.get("content")
        # llama.cpp and DeepSeek say reasoning_content; newer vLLM says reasoning.
        thinking = delta.get("reasoning_content") or delta.get("reasoning")
        content = content if isinstance(content, str) else ""
        thinking = thinking if isinstance(thinking, str) else ""
        if not content and not thinking:
            return None
        reply.chunks += 1
        return ChatChunk(content=content, thinking=thinking)

    def _stats(self, reply: _Reply, start: int, first: int | None, end: int) -> ChatStats:
        usage = reply.usage or {}
        timings = reply.timings or {}
        prompt_tokens = _int(usage.get("prompt_tokens")) or _int(timings.get("prompt_n"))
        completion_tokens = _int(usage.get("completion_tokens")) or _int(timings.get("predicted_n"))
        if completion_tokens is None and reply.chunks:
            # Servers without usage in streams (llama-cpp-python) send one token per chunk.
            completion_tokens = reply.chunks
        prompt_ns = _ns(timings.get("prompt_ms"))
        eval_ns = _ns(timings.get("predicted_ms"))
        if prompt_ns is None and first is not None:
            prompt_ns = first - start
        if eval_ns is None and first is not None:
            eval_ns = end - first
        return ChatStats(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            prompt_eval_duration_ns=prompt_ns,
            eval_duration_ns=eval_ns,
            total_duration_ns=end - start,
            done_reason=reply.finish_reason,
        )


__all__ = ["OpenAICompatBackend", "normalise_base_url"]
