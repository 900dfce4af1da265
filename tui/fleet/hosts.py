"""Hosts of the fleet and the ``[fleet]`` settings, read from the raw TOML of the config.

The file shape (README: "Hosts and the fleet")::

    [fleet]
    hostfile = "hosts.toml"          # more [[hosts]] tables, relative to the config file's folder
    prometheus = "http://10.0.0.1:9090"  # read every figure from this Prometheus instead
    prometheus_window = "1m"         # range of rate() in its queries
    interval = 2.0                   # seconds between polls of a host
    timeout = 2.0                    # seconds one endpoint may take to answer
    readonly = false                 # refuse pull, delete, create, copy and unload on every host

    [[hosts]]
    name = "edge-5"
    ollama = "http://10.0.0.5:11434"
    openai = [{ name = "vllm", url = "http://10.0.0.5:8000/v1", api_key_env = "VLLM_KEY" }]
    node_exporter = "http://10.0.0.5:9100"
    gpu_exporter = "http://10.0.0.5:9400"
    llama_swap = "http://10.0.0.5:8080"
    readonly = true                  # this host only

Reading never raises: each wrong entry becomes one line in ``problems`` naming the key, and the
entry (or the value) is skipped. The local host comes first, always, and is the default.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tui.core.sanitize import sanitize

LOCAL = "local"
"""Name of the host slmdeck runs on (built from the single-host settings)."""

DEFAULT_INTERVAL = 2.0
DEFAULT_TIMEOUT = 2.0
INTERVAL_RANGE = (0.2, 3600.0)
TIMEOUT_RANGE = (0.1, 120.0)
ENDPOINT_KEYS = ("ollama", "node_exporter", "gpu_exporter", "llama_swap")
HOST_KEYS = frozenset({"name", "openai", "readonly", *ENDPOINT_KEYS})
FLEET_KEYS = frozenset(
    {"hostfile", "prometheus", "prometheus_window", "interval", "timeout", "readonly"}
)
_DURATION = re.compile(r"^[1-9][0-9]*(ms|s|m|h|d|w|y)$")


@dataclass(frozen=True, slots=True)
class OpenAIServer:
    """One OpenAI-compatible server of a host (vLLM, llama.cpp's ``llama-server``, LM Studio)."""

    name: str
    url: str
    """Base URL of the API, e.g. ``http://10.0.0.5:8000/v1``; ``/metrics`` is read at its root."""
    api_key_env: str = ""
    """Environment variable holding the bearer key; keys are never stored in the file."""

    @property
    def root(self) -> str:
        """The server's root URL: ``url`` without a trailing ``/v1``."""
        base = self.url.rstrip("/")
        return base[: -len("/v1")] if base.endswith("/v1") else base


@dataclass(frozen=True, slots=True)
class Host:
    """One machine of the fleet and the endpoints it already runs."""

    name: str
    ollama: str = ""
    openai: tuple[OpenAIServer, ...] = ()
    node_exporter: str = ""
    gpu_exporter: str = ""
    llama_swap: str = ""
    readonly: bool = False
    """Refuse every mutating operation on this host (see :func:`check_mutation`)."""

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    def endpoints(self) -> list[tuple[str, str]]:
        """``(label, URL)`` of every configured endpoint, in display order."""
        out: list[tuple[str, str]] = []
        if self.ollama:
            out.append(("ollama", self.ollama))
        out.extend((f"openai:{s.name}", s.url) for s in self.openai)
        for key in ("node_exporter", "gpu_exporter", "llama_swap"):
            url = getattr(self, key)
            if url:
                out.append((key, url))
        return out


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """The ``[fleet]`` table."""

    hostfile: Path | None = None
    prometheus: str = ""
    """Prometheus' base URL; when set, figures come from its HTTP API instead of scraping."""
    prometheus_window: str = "1m"
    """Range of PromQL's ``rate()`` (at least four of Prometheus' scrape intervals)."""
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    readonly: bool = False
    """Read-only for the whole fleet (``--readonly`` sets it too)."""
    history: int = 60
    """Values kept per figure for sparklines."""


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = str(value)
    text = sanitize(text)
    return text if len(text) <= 60 else text[:59] + "…"


def check_url(value: Any) -> str | None:
    """Why ``value`` is not an http(s) URL with a host, or None when it is one."""
    if not isinstance(value, str) or not value.strip():
        return "not a URL (text)"
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http:// or https:// URL"
    return None


def _number(value: Any, low: float, high: float) -> float | None:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    ):
        return float(value)
    return None


def _read_openai(items: Any, label: str, problems: list[str]) -> tuple[OpenAIServer, ...]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        problems.append(f"{label} openai = {_shown(items)} is not an array of servers; ignored")
        return ()
    out: list[OpenAIServer] = []
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        where = f"{label} openai entry {i}"
        if not isinstance(item, dict):
            problems.append(f"{where} is not a table ({{ name, url }}); ignored")
            continue
        why = check_url(item.get("url"))
        if why:
            problems.append(f"{where} url = {_shown(item.get('url'))} is {why}; ignored")
            continue
        name = item.get("name", f"server{i}")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where} name = {_shown(name)} is not a name (text); using server{i}")
            name = f"server{i}"
        if name in seen:
            problems.append(f"{where} name {_shown(name)} is used twice on this host; ignored")
            continue
        key_env = item.get("api_key_env", "")
        if not isinstance(key_env, str):
            problems.append(
                f"{where} api_key_env = {_shown(key_env)} is not the name of a variable; ignored"
            )
            key_env = ""
        for extra in sorted(set(item) - {"name", "url", "api_key_env"}):
            problems.append(f"{where} {_shown(extra)} is not a setting (name, url, api_key_env)")
        seen.add(name)
        out.append(OpenAIServer(name=name.strip(), url=item["url"].strip(), api_key_env=key_env))
    return tuple(out)


def _read_host(item: Any, label: str, problems: list[str]) -> Host | None:
    if not isinstance(item, dict):
        problems.append(f"{label} is not a table; ignored")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label} needs a 'name' (text); ignored")
        return None
    name = name.strip()
    label = f"{label} ({_shown(name)})"
    values: dict[str, Any] = {"name": name}
    for key in ENDPOINT_KEYS:
        if key not in item:
            continue
        why = check_url(item[key])
        if why:
            problems.append(f"{label} {key} = {_shown(item[key])} is {why}; ignored")
        else:
            values[key] = item[key].strip()
    if "openai" in item:
        values["openai"] = _read_openai(item["openai"], label, problems)
    if "readonly" in item:
        if isinstance(item["readonly"], bool):
            values["readonly"] = item["readonly"]
        else:
            problems.append(f"{label} readonly = {_shown(item['readonly'])} is not true or false")
    for extra in sorted(set(item) - HOST_KEYS):
        problems.append(
            f"{label} {_shown(extra)} is not a setting "
            "(name, ollama, openai, node_exporter, gpu_exporter, llama_swap, readonly); ignored"
        )
    host = Host(**values)
    if not host.endpoints():
        problems.append(f"{label} has no endpoint (ollama, openai, node_exporter…); ignored")
        return None
    return host


def _read_settings(
    data: Any, base_dir: Path, problems: list[str]
) -> tuple[FleetSettings, list[str]]:
    """The settings and the raw problems; the hostfile is resolved but not read here."""
    settings = FleetSettings()
    if data is None:
        return settings, problems
    if not isinstance(data, dict):
        problems.append(f"[fleet] must be a table, not {_shown(data)}; ignored")
        return settings, problems
    values: dict[str, Any] = {}
    if "hostfile" in data:
        raw = data["hostfile"]
        if isinstance(raw, str) and raw.strip():
            path = Path(raw.strip()).expanduser()
            values["hostfile"] = path if path.is_absolute() else base_dir / path
        else:
            problems.append(f"[fleet] hostfile = {_shown(raw)} is not a path (text); ignored")
    if "prometheus" in data:
        why = check_url(data["prometheus"])
        if why:
            problems.append(f"[fleet] prometheus = {_shown(data['prometheus'])} is {why}; ignored")
        else:
            values["prometheus"] = data["prometheus"].strip().rstrip("/")
    if "prometheus_window" in data:
        window = data["prometheus_window"]
        if isinstance(window, str) and _DURATION.match(window.strip()):
            values["prometheus_window"] = window.strip()
        else:
            problems.append(
                f'[fleet] prometheus_window = {_shown(window)} is not a duration like "1m" '
                'or "30s"; using "1m"'
            )
    for key, (low, high), default in (
        ("interval", INTERVAL_RANGE, DEFAULT_INTERVAL),
        ("timeout", TIMEOUT_RANGE, DEFAULT_TIMEOUT),
    ):
        if key in data:
            number = _number(data[key], low, high)
            if number is None:
                problems.append(
                    f"[fleet] {key} = {_shown(data[key])} is not a number of seconds from "
                    f"{low:g} to {high:g}; using {default:g}"
                )
            else:
                values[key] = number
    if "readonly" in data:
        if isinstance(data["readonly"], bool):
            values["readonly"] = data["readonly"]
        else:
            problems.append(f"[fleet] readonly = {_shown(data['readonly'])} is not true or false")
    for extra in sorted(set(data) - FLEET_KEYS):
        problems.append(
            f"[fleet] {_shown(extra)} is not a setting "
            "(hostfile, prometheus, prometheus_window, interval, timeout, readonly); ignored"
        )
    return replace(settings, **values), problems


def _read_hostfile(path: Path, problems: list[str]) -> list[Any]:
    from tui.core.safe_files import read_regular_text

    try:
        data = tomllib.loads(read_regular_text(path))
    except tomllib.TOMLDecodeError as exc:
        problems.append(
            f"[fleet] hostfile {sanitize(str(path))} is not valid TOML ({exc}); ignored"
        )
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(
            f"[fleet] hostfile {sanitize(str(path))} could not be read ({exc}); ignored"
        )
        return []
    hosts = data.get("hosts", [])
    if not isinstance(hosts, list):
        problems.append(f"[fleet] hostfile {sanitize(str(path))}: 'hosts' must be [[hosts]] tables")
        return []
    return hosts


def hosts_from_toml(
    data: Mapping[str, Any],
    base_dir: Path,
    local: Host | None = None,
) -> tuple[list[Host], FleetSettings, list[str]]:
    """Read ``[[hosts]]`` and ``[fleet]`` from a parsed config file.

    Args:
        data: The whole config file as ``tomllib`` parsed it.
        base_dir: Folder a relative ``[fleet] hostfile`` is taken from (the config file's).
        local: The local host, built from the single-host settings (:func:`local_host`);
            None: one with Ollama on its default address.

    Returns:
        The hosts (the local one first, then the file's, then the hostfile's), the settings and
        one readable line per problem met. A host named like an earlier one is skipped.
    """
    problems: list[str] = []
    settings, problems = _read_settings(data.get("fleet"), base_dir, problems)
    raw = data.get("hosts", [])
    entries: list[tuple[str, Any]] = []
    if isinstance(raw, list):
        entries += [(f"[[hosts]] entry {i}", item) for i, item in enumerate(raw, 1)]
    else:
        problems.append("'hosts' must be an array of tables (write each as [[hosts]]); ignored")
    if settings.hostfile is not None:
        extra = _read_hostfile(settings.hostfile, problems)
        where = sanitize(settings.hostfile.name)
        entries += [(f"{where} [[hosts]] entry {i}", item) for i, item in enumerate(extra, 1)]
    hosts = [local or Host(name=LOCAL, ollama="http://127.0.0.1:11434")]
    names = {hosts[0].name}
    for label, item in entries:
        host = _read_host(item, label, problems)
        if host is None:
            continue
        if host.name in names:
            problems.append(f"{label}: the name {_shown(host.name)} is taken; ignored")
            continue
        names.add(host.name)
        hosts.append(host)
    return hosts, settings, problems


def local_host(
    ollama: str = "",
    openai: Iterable[tuple[str, str, str]] = (),
    *,
    node_exporter: str = "",
    gpu_exporter: str = "",
    readonly: bool = False,
) -> Host:
    """The local host from the single-host settings.

    Args:
        ollama: Ollama's URL (``Config.ollama_host``, normalised like Ollama's client), or "".
        openai: ``(name, url, api_key_env)`` of each enabled ``[[openai]]`` server.
        node_exporter: A node_exporter on this machine, if any (the Monitor samples it directly).
        gpu_exporter: A GPU exporter on this machine, if any.
        readonly: Refuse mutating operations here too.
    """
    return Host(
        name=LOCAL,
        ollama=ollama,
        openai=tuple(OpenAIServer(n, u, k) for n, u, k in openai),
        node_exporter=node_exporter,
        gpu_exporter=gpu_exporter,
        readonly=readonly,
    )


# ------------------------------------------------------------------------------------- read-only

MUTATING = frozenset({"pull", "delete", "create", "copy", "unload", "import"})
"""Operations read-only mode refuses (the names of ``tui.backends.base.Capability``)."""


class ReadOnlyError(PermissionError):
    """A mutating operation asked for on a read-only host; ``str()`` says which and why."""


@dataclass(frozen=True, slots=True)
class ReadOnlyPolicy:
    """Which hosts refuse mutating operations: all (``readonly``) or those marked so."""

    readonly: bool = False
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, hosts: Iterable[Host], settings: FleetSettings) -> ReadOnlyPolicy:
        return cls(settings.readonly, frozenset(h.name for h in hosts if h.readonly))

    def allows(self, operation: str, host: str = LOCAL) -> bool:
        """True when ``operation`` may run on ``host``."""
        return operation not in MUTATING or not (self.readonly or host in self.hosts)

    def check(self, operation: str, host: str = LOCAL) -> None:
        """Raise :class:`ReadOnlyError` when ``operation`` may not run on ``host``."""
        if not self.allows(operation, host):
            scope = "slmdeck runs read-only" if self.readonly else f"host {host!r} is read-only"
            raise ReadOnlyError(f"{operation} refused: {scope}")


def check_mutation(operation: str, host: Host, settings: FleetSettings) -> None:
    """Raise :class:`ReadOnlyError` when ``operation`` mutates and ``host`` or the fleet is
    read-only; do nothing otherwise (the controller calls this before every operation)."""
    ReadOnlyPolicy.of([host], settings).check(operation, host.name)
