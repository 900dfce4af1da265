"""The Ollama backend: ``ollama.AsyncClient`` for the API, raw ``httpx`` for blobs and full ``show``.

``ollama`` (~200 ms) and ``httpx`` are imported on first use, never at module import, so the app's first
paint does not wait for them. Every exception from either library is turned into a
:class:`~tui.backends.base.BackendError` in one place, :meth:`OllamaBackend._translate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import ipaddress
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
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
    CreateRequest,
    InvalidInput,
    ModelDetails,
    ModelInfo,
    ModelNotFound,
    Progress,
    RunningModel,
    body_summary,
    direct_http,
    looks_like_html,
    one_line,
    status_phrase,
)
from tui.core.safe_files import check_regular, open_regular

if TYPE_CHECKING:
    import httpx
    import ollama

DEFAULT_HOST = "http://127.0.0.1:11434"
_DEFAULT_PORT = 11434
_HASH_BLOCK = 8 << 20
LIST_TIMEOUT = 10.0
"""Seconds the model list (``/api/tags``) may take in all: well under the controller's own bound,
so a server that trickles its list is reported as that, not as a slow probe."""
_UPLOAD_BLOCK = 1 << 20


def parse_host(value: str | None) -> str:
    """Turn an ``OLLAMA_HOST`` value into a base URL, following ollama-python's rules.

    Empty -> ``http://127.0.0.1:11434``; a bare host gets port 11434 (``1.2.3.4`` ->
    ``http://1.2.3.4:11434``); ``:56789`` -> ``http://127.0.0.1:56789``; ``http://x`` gets port 80 and
    ``https://x`` 443; a path is kept without its trailing slash; IPv6 addresses go in brackets.

    Args:
        value: The setting as written, or None.

    Returns:
        ``scheme://host:port[/path]``.

    Raises:
        InvalidInput: The port is not a number from 1 to 65535.
    """
    text = (value or "").strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest, port = "http", text, _DEFAULT_PORT
    else:
        scheme = scheme.lower()
        port = {"http": 80, "https": 443}.get(scheme, _DEFAULT_PORT)
    hostport, _, path = rest.partition("/")
    host = hostport
    port_text = ""
    if hostport.startswith("["):
        inner, _, after = hostport[1:].partition("]")
        host = inner
        port_text = after.removeprefix(":")
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidInput(f"Ollama host {value!r} has an invalid port {port_text!r}")
        port = int(port_text)
    host = host or "127.0.0.1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    url = f"{scheme}://{host}:{port}"
    path = path.strip("/")
    return f"{url}/{path}" if path else url


def parse_parameters(text: str) -> dict[str, Any]:
    """Parse /api/show's ``parameters`` text (``name<spaces>%#v`` per line) into a dict.

    Values are decoded as JSON where they are (numbers, booleans, quoted strings); a name that
    repeats, like ``stop``, accumulates into a list, and ``stop`` is always a list.
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        name, _, raw = line.strip().partition(" ")
        if not name:
            continue
        raw = raw.strip()
        value: Any
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if name in out:
            prev = out[name]
            out[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[name] = [value] if name == "stop" else value
    return out


def _options(options: ChatOptions | None) -> dict[str, Any] | None:
    if options is None:
        return None
    out: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "num_ctx": options.num_ctx,
        "seed": options.seed,
        "num_predict": options.max_tokens,
    }
    return {k: v for k, v in out.items() if v is not None} or None


class OllamaBackend(Backend):
    """Talks to one Ollama server over its REST API."""

    kind = "ollama"
    capabilities = frozenset(
        {
            Capability.LIST,
            Capability.SHOW,
            Capability.PULL,
            Capability.DELETE,
            Capability.COPY,
            Capability.CREATE,
            Capability.CHAT,
            Capability.PS,
            Capability.UNLOAD,
            Capability.IMPORT,
            Capability.EMBED,
        }
    )

    def __init__(
        self,
        host: str | None = None,
        *,
        backend_id: str = "ollama",
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        stream_timeout: float = 600.0,
        list_timeout: float = LIST_TIMEOUT,
        proxy: str | None = None,
    ) -> None:
        """Create a client; nothing is connected or imported until the first call.

        Args:
            host: URL or ``OLLAMA_HOST``-style value; None reads ``OLLAMA_HOST``.
            backend_id: Name shown to the user.
            timeout: Seconds a short request (list, show, ps, ...) may take in all.
            list_timeout: Seconds the model list may take in all (the smaller of this and
                ``timeout`` applies); a server that trickles it fails with a sentence saying so.
            connect_timeout: Seconds to wait for the TCP connection.
            stream_timeout: Seconds a stream (chat, pull, create) may go without sending a line;
                long because loading a model happens before the first token.
            proxy: Proxy URL to reach Ollama through. Without one Ollama is contacted directly:
                ``HTTP(S)_PROXY``/``ALL_PROXY`` and ``.netrc`` are never read (:func:`direct_http`).
        """
        url = parse_host(os.environ.get("OLLAMA_HOST") if host is None else host)
        super().__init__(backend_id, url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.stream_timeout = stream_timeout
        self.list_timeout = list_timeout
        self.proxy = proxy or None
        self._client: ollama.AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._problems: list[str] = []

    @property
    def problems(self) -> list[str]:
        """Entries the last model list left out (not valid UTF-8, unreadable), each with why."""
        return list(self._problems)

    @property
    def address(self) -> str:
        """``host:port[/path]``, as error messages show it."""
        return self.location.partition("://")[2]

    # ------------------------------------------------------------------------------ clients

    def _timeout(self) -> httpx.Timeout:
        import httpx

        return httpx.Timeout(self.stream_timeout, connect=self.connect_timeout)

    def _ollama(self) -> ollama.AsyncClient:
        if self._client is None:
            import ollama

            # ollama passes the keywords it does not know on to httpx.AsyncClient.
            self._client = ollama.AsyncClient(
                host=self.location, timeout=self._timeout(), **direct_http(self.proxy)
            )
        return self._client

    def _raw(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            headers = {"Accept": "application/json"}
            if key := os.environ.get("OLLAMA_API_KEY"):
                headers["Authorization"] = f"Bearer {key}"
            self._http = httpx.AsyncClient(
                base_url=self.location,
                timeout=self._timeout(),
                headers=headers,
                **direct_http(self.proxy),
            )
        return self._http

    async def aclose(self) -> None:
        """Close both HTTP connection pools."""
        client, http = self._client, self._http
        self._client = self._http = None
        if client is not None:
            await client._client.aclose()  # AsyncClient.close() is the same call, untyped
        if http is not None:
            await http.aclose()

    # ------------------------------------------------------------------------------ errors

    def _translate(self, exc: BaseException, *, timeout: float | None = None) -> BackendError:
        """Turn any exception from ollama/httpx/pydantic into a BackendError with a sentence."""
        import httpx
        import ollama
        import pydantic

        where = f"Ollama at {self.address}"
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            status, text = exc.status_code, str(exc.error)
            if status == -1:
                return BackendResponseError(
                    f"Ollama stopped mid-stream: {one_line(text)}", backend=self.id
                )
            if looks_like_html(text):
                # A proxy's or another web server's page: never shown raw.
                return BackendResponseError(
                    f"{where} answered {body_summary(text, status=status)}",
                    backend=self.id,
                    status=status,
                )
            if status == 404 and "model" in text.lower():
                return ModelNotFound(one_line(text), backend=self.id)
            if status == 404:
                return BackendResponseError(
                    f"{where} answered 404 ({one_line(text) or 'no message'}): the URL is wrong "
                    "or the server there is not Ollama",
                    backend=self.id,
                    status=status,
                )
            return BackendResponseError(
                f"{where} answered {status}: {one_line(text) or status_phrase(status)}",
                backend=self.id,
                status=status,
            )
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            if isinstance(exc, httpx.ConnectTimeout):
                seconds = self.connect_timeout
            else:
                seconds = timeout if timeout is not None else self.stream_timeout
            return BackendUnavailable(
                f"{where} did not answer within {seconds:g} s", backend=self.id
            )
        if isinstance(exc, httpx.ConnectError | ConnectionError):
            # ollama wraps httpx.ConnectError in a bare ConnectionError; the cause is its context.
            cause = exc if isinstance(exc, httpx.ConnectError) else (exc.__context__ or exc)
            detail = str(cause)
            if _refused(exc) or detail.startswith("Failed to connect to Ollama"):
                return BackendUnavailable(
                    f"{where} is not running (connection refused)", backend=self.id
                )
            return BackendUnavailable(f"{where} cannot be reached ({detail})", backend=self.id)
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return BackendUnavailable(
                f"{where} closed the connection before the reply was complete", backend=self.id
            )
        if isinstance(exc, json.JSONDecodeError) and exc.doc.strip():
            # A line that is not JSON (mid-stream, or a whole body): show what came, not only
            # the parser's "Expecting value: line 1 column 1".
            return BackendResponseError(
                f"{where} sent a reply slmdeck cannot read: '{one_line(exc.doc, 60)}' is not JSON",
                backend=self.id,
            )
        if isinstance(exc, pydantic.ValidationError | ValueError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return BackendResponseError(
                f"{where} sent a reply slmdeck cannot read: {first}", backend=self.id
            )
        if isinstance(exc, httpx.HTTPError):
            return BackendUnavailable(f"{where} failed: {exc}", backend=self.id)
        return BackendResponseError(f"{where} failed: {type(exc).__name__}: {exc}", backend=self.id)

    async def _call(self, make: Callable[[], Any]) -> Any:
        """Await a short request under ``timeout`` and translate its errors."""
        try:
            async with asyncio.timeout(self.timeout):
                return await make()
        except Exception as exc:
            raise self._translate(exc, timeout=self.timeout) from exc

    async def _stream(self, start: Callable[[], Any]) -> AsyncIterator[Any]:
        """Iterate an ollama stream, translating errors and always closing the response."""
        stream: AsyncIterator[Any] | None = None
        try:
            stream = await start()
            async for part in stream:
                yield part
        except Exception as exc:
            raise self._translate(exc) from exc
        finally:
            # Cancelling or closing us must close the HTTP response, which stops generation.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            import ollama

            raise ollama.ResponseError(response.text, response.status_code)

    # ------------------------------------------------------------------------------ simple calls

    async def version(self) -> str:
        """The server's version string, e.g. ``0.12.6``."""

        where = f"Ollama at {self.address}"

        async def get() -> str:
            response = await self._raw().get("/api/version")
            if response.status_code == 404:
                # Every Ollama since 0.1 serves /api/version, and never with a 404: whatever the
                # body says (even "model not found"), this is the wrong URL or not Ollama.
                raise BackendResponseError(
                    f"{where} has no /api/version (HTTP 404): the URL is wrong or the server "
                    "there is not Ollama",
                    backend=self.id,
                    status=404,
                )
            self._raise_for_status(response)
            try:
                data = response.json()
            except ValueError:
                kind = response.headers.get("content-type", "")
                raise ValueError(
                    f"/api/version answered {body_summary(response.text, content_type=kind)!s}, "
                    "not Ollama's JSON: the URL is wrong or the server there is not Ollama"
                ) from None
            if not isinstance(data, dict) or not isinstance(data.get("version"), str):
                raise ValueError(f"no version in {one_line(response.text, 80)!r}")
            return str(data["version"])

        result: str = await self._call(get)
        return result

    async def probe(self) -> str:
        """Check the server answers; return ``Ollama <version>``."""
        return f"Ollama {await self.version()}"

    async def list_models(self) -> list[ModelInfo]:
        """Installed models from ``/api/tags``.

        The whole list must arrive within ``min(timeout, list_timeout)`` seconds. One entry that
        cannot be read (a name that is not valid UTF-8, a wrong type) is left out and said so in
        :attr:`problems`; the rest are still listed.

        Raises:
            BackendUnavailable: Not reachable, or the list did not arrive in time.
            BackendResponseError: An error status, or a reply that is no model list at all.
        """
        import httpx

        bound = min(self.timeout, self.list_timeout)

        async def get() -> bytes:
            response = await self._raw().get("/api/tags")
            self._raise_for_status(response)
            return response.content

        try:
            async with asyncio.timeout(bound):
                body = await get()
        except (TimeoutError, httpx.ReadTimeout) as exc:
            raise BackendUnavailable(
                f"Ollama at {self.address} did not send its model list (/api/tags) within "
                f"{bound:g} s",
                backend=self.id,
            ) from exc
        except Exception as exc:
            raise self._translate(exc, timeout=bound) from exc
        models, problems = self._read_tags(body)
        self._problems = problems
        return models

    def _read_tags(self, body: bytes) -> tuple[list[ModelInfo], list[str]]:
        """The models in an ``/api/tags`` body and the entries left out, each with why."""
        import ollama
        import pydantic

        where = f"Ollama at {self.address}"
        try:
            text, bad_bytes = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, bad_bytes = body.decode("utf-8", errors="replace"), True
        try:
            data = json.loads(text)
        except ValueError:
            raise BackendResponseError(
                f"{where} sent a reply slmdeck cannot read: the model list (/api/tags) is not "
                f"JSON: {body_summary(text)}",
                backend=self.id,
            ) from None
        entries = data.get("models") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise BackendResponseError(
                f"{where} sent a reply slmdeck cannot read: the model list (/api/tags) has no "
                "'models' list",
                backend=self.id,
            )
        out: list[ModelInfo] = []
        problems: list[str] = []
        invalid: list[pydantic.ValidationError] = []
        for i, entry in enumerate(entries, 1):
            try:
                m = ollama.ListResponse.Model.model_validate(entry)
            except pydantic.ValidationError as exc:
                invalid.append(exc)
                first = str(exc).strip().splitlines()[0]
                problems.append(
                    f"{where} listed an entry slmdeck cannot read (entry {i}: {first}); "
                    "it was left out"
                )
                continue
            name = m.model or ""
            if bad_bytes and "\ufffd" in name:
                problems.append(
                    f"{where} listed a model whose name is not valid UTF-8 "
                    f"({one_line(name)!r}); it was left out"
                )
                continue
            d = m.details
            out.append(
                ModelInfo(
                    name=name,
                    backend=self.id,
                    family=(d.family if d else None) or "",
                    parameter_size=(d.parameter_size if d else None) or "",
                    quantization=(d.quantization_level if d else None) or "",
                    size=int(m.size or 0),
                    modified=m.modified_at,
                    digest=m.digest or "",
                    format=(d.format if d else None) or "",
                    # Not in ollama-python's model of an entry; recent Ollama lists it there.
                    capabilities=_capabilities(entry),
                )
            )
        if invalid and len(invalid) == len(entries):
            # Not one entry has the shape of a model: this is no model list at all.
            raise self._translate(invalid[0]) from invalid[0]
        if bad_bytes and not any("not valid UTF-8" in p for p in problems):
            problems.append(
                f"{where} sent a model list with bytes that are not valid UTF-8; they are "
                "shown as \ufffd"
            )
        return out, problems

    async def show(self, name: str) -> ModelDetails:
        """Everything ``/api/show`` knows about ``name``.

        The raw JSON is read (ollama-python's ShowResponse drops ``system``, ``messages`` and more)
        and checked with ShowResponse so a malformed answer fails the same way as elsewhere.
        """

        async def get() -> tuple[Any, dict[str, Any]]:
            import ollama

            response = await self._raw().post("/api/show", json={"model": name})
            self._raise_for_status(response)
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected an object, got {response.text[:80]!r}")
            return ollama.ShowResponse.model_validate(data), data

        typed, raw = await self._call(get)
        model_info: dict[str, Any] = dict(typed.modelinfo or {})
        d = typed.details
        family = (d.family if d else None) or ""
        arch = str(model_info.get("general.architecture") or family)
        ctx = model_info.get(f"{arch}.context_length")
        context_length = int(ctx) if isinstance(ctx, int | float) else None
        info = ModelInfo(
            name=name,
            backend=self.id,
            family=family,
            parameter_size=(d.parameter_size if d else None) or "",
            quantization=(d.quantization_level if d else None) or "",
            modified=typed.modified_at,
            format=(d.format if d else None) or "",
            context_length=context_length,
        )
        known = {"license", "modelfile", "parameters", "template", "system", "details"}
        known |= {"model_info", "capabilities", "modified_at"}
        return ModelDetails(
            info=info,
            parameters=parse_parameters(typed.parameters or ""),
            template=typed.template or "",
            system=str(raw.get("system") or ""),
            license=typed.license or "",
            modelfile=typed.modelfile or "",
            capabilities=tuple(typed.capabilities or ()),
            context_length=context_length,
            model_info=model_info,
            extra={k: v for k, v in raw.items() if k not in known},
        )

    async def ps(self) -> list[RunningModel]:
        """Models loaded in memory, from ``/api/ps``."""
        response = await self._call(lambda: self._ollama().ps())
        return [
            RunningModel(
                name=m.model or m.name or "",
                backend=self.id,
                size=int(m.size or 0),
                size_vram=int(m.size_vram or 0),
                expires_at=m.expires_at,
                context_length=m.context_length,
            )
            for m in response.models
        ]

    async def delete(self, name: str) -> None:
        """Remove a model from the server's store."""
        await self._call(lambda: self._ollama().delete(name))

    async def copy(self, source: str, destination: str) -> None:
        """Copy ``source`` to a new name (a cheap manifest copy on the server)."""
        await self._call(lambda: self._ollama().copy(source, destination))

    async def unload(self, name: str) -> None:
        """Free a model's memory now: a chat with no messages and ``keep_alive: 0``."""
        await self._call(lambda: self._ollama().chat(model=name, messages=[], keep_alive=0))

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        """One embedding vector per input text."""
        response = await self._call(lambda: self._ollama().embed(model=model, input=list(inputs)))
        return [list(map(float, vec)) for vec in response.embeddings]

    # ------------------------------------------------------------------------------ streams

    async def chat(
        self, model: str, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Stream a reply; the last chunk has ``done`` and the server's own figures in ``stats``."""
        payload = [{"role": m.role, "content": m.content} for m in messages]

        think = options.think if options is not None else None

        def start() -> Any:
            extra: dict[str, Any] = {} if think is None else {"think": think}
            return self._ollama().chat(
                model=model, messages=payload, options=_options(options), stream=True, **extra
            )

        done = False
        async for part in self._stream(start):
            msg = part.message
            content = (msg.content if msg else None) or ""
            thinking = (msg.thinking if msg else None) or ""
            if not part.done:
                yield ChatChunk(content=content, thinking=thinking)
                continue
            done = True
            stats = ChatStats(
                prompt_tokens=part.prompt_eval_count,
                completion_tokens=part.eval_count,
                prompt_eval_duration_ns=part.prompt_eval_duration,
                eval_duration_ns=part.eval_duration,
                total_duration_ns=part.total_duration,
                load_duration_ns=part.load_duration,
                done_reason=part.done_reason or "",
            )
            yield ChatChunk(content=content, thinking=thinking, done=True, stats=stats)
        if not done:
            # The connection closed cleanly, but Ollama always ends a reply with a "done"
            # message: without it the reply is cut off, and must not be kept as complete.
            raise BackendResponseError(
                f"Ollama at {self.address} cut the reply off: the stream ended without its "
                "final 'done' message, so the reply is incomplete",
                backend=self.id,
            )

    async def pull(self, name: str) -> AsyncIterator[Progress]:
        """Download a model from the registry, with progress per layer.

        Raises:
            BackendResponseError: The stream ended without Ollama's final ``success``.
        """
        last = ""
        try:
            async for part in self._stream(lambda: self._ollama().pull(name, stream=True)):
                step = _progress(part)
                last = step.status
                yield step
        except BackendResponseError as exc:
            if _missing_manifest(str(exc)):
                # The registry has no such name or tag: trying again cannot help.
                raise ModelNotFound(
                    f"{name!r} was not found in the registry: check the name and the tag "
                    f"(Ollama at {self.address}: {one_line(str(exc).partition(': ')[2])})",
                    backend=self.id,
                ) from exc
            raise
        self._check_success("pull", name, last)

    def _check_success(self, what: str, name: str, last: str) -> None:
        """Ollama ends every pull and create with ``success``; a stream that ends without it
        (closed cleanly, early) did not finish, whatever came before."""
        if last != "success":
            after = f" (the last status was {one_line(last)!r})" if last else ""
            raise BackendResponseError(
                f"Ollama at {self.address} ended the {what} of {name!r} without 'success'"
                f"{after}, so it did not finish",
                backend=self.id,
            )

    async def create(self, request: CreateRequest) -> AsyncIterator[Progress]:
        """Create a model from another, or from uploaded blobs; ``quantize`` is passed through."""
        messages = None
        if request.messages is not None:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
        license_: str | list[str] | None = None
        if request.license is not None:
            license_ = (
                request.license if isinstance(request.license, str) else list(request.license)
            )

        def start() -> Any:
            return self._ollama().create(
                model=request.model,
                quantize=request.quantize,
                from_=request.from_,
                files=dict(request.files) if request.files is not None else None,
                adapters=dict(request.adapters) if request.adapters is not None else None,
                template=request.template,
                license=license_,
                system=request.system,
                parameters=dict(request.parameters) if request.parameters is not None else None,
                messages=messages,
                stream=True,
            )

        last = ""
        async for part in self._stream(start):
            step = _progress(part)
            last = step.status
            yield step
        self._check_success("create", request.model, last)

    async def import_gguf(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        modelfile_extra: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Progress]:
        """Import a local GGUF file as model ``name``, for air-gapped machines.

        Hashes the file in a thread, uploads it as a blob unless the server has it, then creates
        the model with ``files={basename: digest}``. The file is streamed, never read whole.

        Args:
            path: The GGUF file on this machine.
            name: The new model's name.
            modelfile_extra: More create fields: ``template``, ``system``, ``license``,
                ``parameters``, ``messages``, ``quantize``, ``adapters``.

        Yields:
            ``hashing <file>``, ``uploading <file>`` (or ``using existing blob``), then the server's
            create statuses.
        """
        file = Path(path)
        extra = dict(modelfile_extra or {})
        unknown = (
            set(extra)
            - {"template", "system", "license", "parameters", "messages"}
            - {
                "quantize",
                "adapters",
            }
        )
        if unknown:
            raise InvalidInput(
                f"unknown create fields: {', '.join(sorted(unknown))}", backend=self.id
            )
        async for step in self.create_with_uploads(
            CreateRequest(model=name, **extra), files=[file]
        ):
            yield step

    async def create_with_uploads(
        self,
        request: CreateRequest,
        *,
        files: Sequence[str | os.PathLike[str]] = (),
        adapters: Sequence[str | os.PathLike[str]] = (),
    ) -> AsyncIterator[Progress]:
        """Create a model from local files: upload each as a blob, then create with them.

        ``files`` are the model's own weights (sent as ``files``, in place of ``from``);
        ``adapters`` are GGUF LoRA adapters put on top of ``request.from_`` or of ``files``
        (sent as ``adapters``). Both map the file's name to its digest, as ``ollama create``
        sends them.

        Yields:
            Per file ``hashing <file>``, ``uploading <file>`` (or ``using existing blob``), then
            the server's create statuses.
        """
        digests: dict[Path, str] = {}
        own, extra = [Path(f) for f in files], [Path(f) for f in adapters]
        for file in (*own, *extra):
            async for step in self._upload_blob(file, digests):
                yield step
        changes: dict[str, Any] = {}
        if own:
            changes["files"] = {f.name: digests[f] for f in own}
        if extra:
            changes["adapters"] = {f.name: digests[f] for f in extra}
        async for step in self.create(dataclasses.replace(request, **changes)):
            yield step

    async def _upload_blob(self, file: Path, digests: dict[Path, str]) -> AsyncIterator[Progress]:
        """Hash ``file`` in a thread and upload it unless the server has it; its digest goes into
        ``digests``. The file is streamed, never read whole."""
        total = await asyncio.to_thread(_file_size, file)
        if total is None:
            raise InvalidInput(f"{file} is not a file", backend=self.id)
        sha = hashlib.sha256()
        done = 0
        fh = await asyncio.to_thread(open_regular, file)
        try:
            while block := await asyncio.to_thread(_hash_block, fh, sha):
                done += block
                yield Progress(f"hashing {file.name}", completed=done, total=total)
        finally:
            fh.close()
        digest = f"sha256:{sha.hexdigest()}"

        async def head() -> int:
            response = await self._raw().head(f"/api/blobs/{digest}")
            if response.status_code not in (200, 404):
                self._raise_for_status(response)
            return response.status_code

        if await self._call(head) == 200:
            yield Progress("using existing blob", completed=total, total=total, digest=digest)
        else:
            async for step in self._upload(file, digest, total):
                yield step
        digests[file] = digest

    async def _upload(self, file: Path, digest: str, total: int) -> AsyncIterator[Progress]:
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def body() -> AsyncIterator[bytes]:
            fh = await asyncio.to_thread(open_regular, file)
            left = total
            try:
                # Send exactly the hashed length: a grown file then fails the server's digest
                # check, a shrunk one is caught here, both as "changed while uploading".
                while left:
                    chunk = await asyncio.to_thread(fh.read, min(left, _UPLOAD_BLOCK))
                    if not chunk:
                        raise self._changed(file, "it became shorter")
                    left -= len(chunk)
                    yield chunk
                    queue.put_nowait(len(chunk))
            finally:
                fh.close()

        async def post() -> None:
            response = await self._raw().post(
                f"/api/blobs/{digest}", content=body(), headers={"Content-Length": str(total)}
            )
            self._raise_for_status(response)

        status = f"uploading {file.name}"
        task = asyncio.ensure_future(post())
        sent = 0
        try:
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    sent += getter.result()
                    yield Progress(status, completed=sent, total=total, digest=digest)
                else:
                    getter.cancel()
            try:
                task.result()
            except Exception as exc:
                err = self._translate(exc)
                if "digest mismatch" in err.message:
                    # We hashed the file a moment ago, so the bytes changed under us.
                    err = self._changed(file, err.message)
                raise err from exc
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        yield Progress(status, completed=total, total=total, digest=digest)

    def _changed(self, file: Path, detail: str) -> BackendResponseError:
        return BackendResponseError(
            f"{file.name} changed while it was being uploaded; import it again ({detail})",
            backend=self.id,
            status=400,
        )


def _refused(exc: BaseException) -> bool:
    """Whether a connection refusal is anywhere in the exception's chain (anyio hides it)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if (
            isinstance(cur, ConnectionRefusedError)
            or getattr(cur, "errno", None) == errno.ECONNREFUSED
        ):
            return True
        if "refused" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _file_size(file: Path) -> int | None:
    try:
        return check_regular(file).st_size
    except OSError:
        return None


def _hash_block(fh: Any, sha: Any) -> int:
    block: bytes = fh.read(_HASH_BLOCK)
    sha.update(block)
    return len(block)


def _progress(part: Any) -> Progress:
    return Progress(
        status=part.status or "",
        completed=part.completed,
        total=part.total,
        digest=part.digest or "",
    )


def _missing_manifest(message: str) -> bool:
    """Whether a pull error is the registry's "no such model or tag" (Ollama's server says
    ``pull model manifest: file does not exist``; registries answer ``manifest unknown``)."""
    text = message.lower()
    return "manifest" in text and ("file does not exist" in text or "unknown" in text)


def _capabilities(entry: object) -> tuple[str, ...]:
    """The ``capabilities`` of an ``/api/tags`` entry (empty when it has none)."""
    caps = entry.get("capabilities") if isinstance(entry, dict) else None
    return tuple(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else ()
