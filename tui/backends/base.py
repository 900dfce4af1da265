"""The backend protocol: typed results, capabilities and one error hierarchy.

Nothing here imports Textual or any backend SDK; every backend module builds on these types and the
controller and screens only ever see them.
"""

from __future__ import annotations

import enum
import html
import http
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Capability(enum.StrEnum):
    """What a backend can do; the UI shows actions from these, never from type checks."""

    LIST = "list"
    SHOW = "show"
    PULL = "pull"
    DELETE = "delete"
    COPY = "copy"
    CREATE = "create"
    CHAT = "chat"
    EMBED = "embed"
    PS = "ps"
    UNLOAD = "unload"
    IMPORT = "import"


# --------------------------------------------------------------------------------------------- errors


class BackendError(Exception):
    """Base of every error a backend raises. ``str(err)`` is a sentence a person understands."""

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend

    def __str__(self) -> str:
        return self.message


class BackendUnavailable(BackendError):
    """The backend cannot be reached (connection refused, timeout, DNS, process gone)."""


class ModelNotFound(BackendError):
    """The named model is not known to the backend."""


class BackendResponseError(BackendError):
    """The backend answered with an error or with something that is not its protocol."""

    def __init__(self, message: str, *, backend: str = "", status: int | None = None) -> None:
        super().__init__(message, backend=backend)
        self.status = status


class Unsupported(BackendError):
    """The backend lacks the capability asked for."""


class InvalidInput(BackendError):
    """The caller's input (a path, a name, a digest) is wrong; nothing was sent or changed."""


# --------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One installed model as a backend lists it."""

    name: str
    backend: str
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    size: int = 0
    """Bytes on disk (0 when the backend does not say)."""
    modified: datetime | None = None
    digest: str = ""
    format: str = ""
    path: str | None = None
    """Folder or file on this machine, for in-process backends."""
    context_length: int | None = None
    capabilities: tuple[str, ...] = ()
    """What the model can do as the backend lists it (Ollama: ``completion``, ``embedding``,
    ``tools``, ``thinking``...); empty when the listing does not say."""


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """What ``show`` returns: everything the details pane and the editors need."""

    info: ModelInfo
    parameters: Mapping[str, Any] = field(default_factory=dict)
    template: str = ""
    system: str = ""
    license: str = ""
    modelfile: str = ""
    capabilities: tuple[str, ...] = ()
    context_length: int | None = None
    model_info: Mapping[str, Any] = field(default_factory=dict)
    """Architecture keys (GGUF names for Ollama, genai_config for ONNX)."""
    files: tuple[tuple[str, int], ...] = ()
    """(relative path, size) of the model's files, for in-process backends."""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str
    thinking: str = ""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Per-session generation settings; ``None`` leaves the backend's default."""

    temperature: float | None = None
    top_p: float | None = None
    num_ctx: int | None = None
    seed: int | None = None
    max_tokens: int | None = None
    think: bool | None = None
    """Ask a thinking model to think (True) or not (False); None leaves it to the backend
    (Ollama thinks by default with a model that has the ``thinking`` capability)."""


@dataclass(frozen=True, slots=True)
class ChatStats:
    """Final figures of one reply, from the backend's own counts where it gives them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_duration_ns: int | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    done_reason: str = ""

    @property
    def tokens_per_second(self) -> float | None:
        if self.completion_tokens and self.eval_duration_ns:
            return self.completion_tokens / (self.eval_duration_ns / 1e9)
        return None


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One piece of a streamed reply. The last chunk has ``done`` set and carries ``stats``."""

    content: str = ""
    thinking: str = ""
    done: bool = False
    stats: ChatStats | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a long operation (pull, create, import)."""

    status: str
    completed: int | None = None
    total: int | None = None
    digest: str = ""

    @property
    def fraction(self) -> float | None:
        if self.total:
            return min(1.0, (self.completed or 0) / self.total)
        return None


@dataclass(frozen=True, slots=True)
class RunningModel:
    """A model loaded in a backend's memory."""

    name: str
    backend: str
    size: int = 0
    size_vram: int = 0
    expires_at: datetime | None = None
    context_length: int | None = None


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Fields of an Ollama-style create (from a parsed Modelfile)."""

    model: str
    from_: str | None = None
    files: Mapping[str, str] | None = None
    adapters: Mapping[str, str] | None = None
    template: str | None = None
    system: str | None = None
    license: str | Sequence[str] | None = None
    parameters: Mapping[str, Any] | None = None
    messages: Sequence[ChatMessage] | None = None
    quantize: str | None = None


_HTML_START = re.compile(
    r"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|title)\b", re.I | re.S
)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_SPACES = re.compile(r"\s+")
_HTML_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


def looks_like_html(text: str, content_type: str = "") -> bool:
    """Whether an answer's body is an HTML page (a proxy's, a web server's), not an API reply."""
    return "html" in content_type.lower() or _HTML_START.match(text) is not None


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line: whitespace runs collapsed, control characters made visible
    (:func:`~tui.core.sanitize.sanitize`), cut to ``limit`` characters with ``…``."""
    from tui.core.sanitize import sanitize

    flat = sanitize(_SPACES.sub(" ", text).strip())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_phrase(status: int) -> str:
    """``HTTP 500 Internal Server Error`` (``HTTP 599`` for a status without a standard name)."""
    return f"HTTP {status} {_phrase(status)}".rstrip()


def body_summary(text: str, *, status: int | None = None, content_type: str = "") -> str:
    """A one-line account of an answer's body for an error message.

    An HTML page becomes ``HTTP 500 Internal Server Error (HTML page)`` (its ``<title>`` added when
    it says more than the status), never the page itself; without a status, ``an HTML page
    titled '...'`` or ``an HTML page saying '...'`` (its text, tags dropped). Other text is
    :func:`one_line`'d.
    """
    if not looks_like_html(text, content_type):
        return one_line(text)
    match = _HTML_TITLE.search(text)
    title = one_line(html.unescape(match.group(1)), 80) if match else ""
    if status is None:
        if title:
            return f"an HTML page titled {title!r}"
        words = one_line(html.unescape(_HTML_TAG.sub(" ", _HTML_HIDDEN.sub(" ", text))), 80)
        return f"an HTML page saying {words!r}" if words else "an HTML page"
    label = "HTML page"
    if title and _phrase(status).lower() not in title.lower():
        label = f"HTML page titled {title!r}"
    return f"{status_phrase(status)} ({label})"


def direct_http(proxy: str | None = None) -> dict[str, Any]:
    """Keyword arguments for every ``httpx`` client a backend creates.

    ``trust_env=False``: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``.netrc`` are never
    read, so a backend (and its bearer key) is contacted directly unless ``proxy`` names a proxy
    configured for it. ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, which ``trust_env=False`` would also
    drop, are still honoured.
    """
    options: dict[str, Any] = {"trust_env": False, "proxy": proxy or None}
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        import ssl

        options["verify"] = ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return options


# --------------------------------------------------------------------------------------------- protocol


class Backend:
    """Base class of every backend client.

    Subclasses set ``kind`` and ``capabilities`` and override what they support; the rest raises
    :class:`Unsupported` with a readable message. All methods are async and never block the loop:
    blocking SDKs run in threads inside the backend.
    """

    kind: str = "backend"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, backend_id: str, location: str) -> None:
        self.id = backend_id
        """Unique name shown to the user, e.g. ``ollama`` or ``openai:llama.cpp``."""
        self.location = location
        """URL or folder(s) the backend talks to, for the backends panel."""

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @property
    def problems(self) -> list[str]:
        """What the last :meth:`list_models` left out or could not read, one sentence each
        (a folder that is no model, an entry that is not valid UTF-8); empty when all was well."""
        return []

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"{self.id} cannot {what}", backend=self.id)

    async def probe(self) -> str:
        """Check the backend is reachable; return a short description (version). Raises BackendError."""
        raise self._unsupported("be probed")

    async def list_models(self) -> list[ModelInfo]:
        raise self._unsupported("list models")

    async def show(self, name: str) -> ModelDetails:
        raise self._unsupported("show a model")

    def chat(
        self, model: str, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Stream a reply. Closing the iterator (or cancelling the task) really stops generation."""
        raise self._unsupported("chat")

    async def ps(self) -> list[RunningModel]:
        raise self._unsupported("list loaded models")

    def pull(self, name: str) -> AsyncIterator[Progress]:
        raise self._unsupported("pull models")

    async def delete(self, name: str) -> None:
        raise self._unsupported("delete models")

    async def copy(self, source: str, destination: str) -> None:
        raise self._unsupported("copy models")

    def create(self, request: CreateRequest) -> AsyncIterator[Progress]:
        raise self._unsupported("create models")

    async def unload(self, name: str) -> None:
        raise self._unsupported("unload models")

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        raise self._unsupported("embed text")

    def import_gguf(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        modelfile_extra: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Progress]:
        """Import a local GGUF file as model ``name`` (air-gapped: no registry involved)."""
        raise self._unsupported("import GGUF files")

    def create_with_uploads(
        self,
        request: CreateRequest,
        *,
        files: Sequence[str | os.PathLike[str]] = (),
        adapters: Sequence[str | os.PathLike[str]] = (),
    ) -> AsyncIterator[Progress]:
        """Create a model from local weight and adapter files, uploaded first."""
        raise self._unsupported("create models from local files")

    async def aclose(self) -> None:
        """Release connections and threads."""
