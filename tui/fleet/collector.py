"""The fleet collector: polls every host's endpoints and keeps an immutable view of each.

* Concurrent: every due endpoint of every host is read at once (at most ``max_requests`` in
  flight), each with a total deadline of ``settings.timeout``; nothing waits on the slowest host.
* Per-endpoint exponential backoff: an endpoint that failed is retried after 1, 2, 4… intervals
  (at most ``max_backoff`` seconds); the first failure shows at the next poll, so a host that dies
  is marked down within one interval, and only its row changes.
* Rates (CPU, tok/s) come from counters read at two polls and the collector's clock; a counter
  that went down (a restart) starts over instead of giving a negative rate.
* With ``[fleet] prometheus``, figures come from one PromQL query per figure for the whole fleet
  (:mod:`tui.fleet.prom_api`), the servers' own ones per endpoint too; what Prometheus cannot
  have is still read directly: Ollama's ``/api/ps`` and ``/api/tags`` (it has no ``/metrics``),
  llama-swap's ``/running``, and an OpenAI server's ``/v1/models`` (every tenth poll) and
  llama.cpp's ``/props`` (once), so the models loaded are the direct scrape's.
* Listeners (``subscribe``) get the whole snapshot at most every ``notify_interval`` seconds while
  a poll runs, and always once at its end.

No Textual here; the controller owns one collector and the Fleet screen reads its snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tui.backends.base import direct_http
from tui.fleet import http11, scrape
from tui.fleet.hosts import LOCAL, FleetSettings, Host, OpenAIServer
from tui.fleet.model import BackendView, Figure, HostView, LoadedModel

Clock = Callable[[], float]
Listener = Callable[[tuple[HostView, ...]], None]

FIGURES = (
    "cpu_percent",
    "ram_percent",
    "disk_percent",
    "gpu_percent",
    "vram_percent",
    "requests_running",
    "requests_waiting",
    "tok_s",
)

_NODE_FIGURES = ("cpu_percent", "ram_percent", "disk_percent")

_DIRECT_WITH_PROMETHEUS = frozenset({"ollama", "llama_swap", "openai"})
"""Endpoints still read directly with ``[fleet] prometheus`` (for what Prometheus cannot have)."""

_NO_METRICS = frozenset({404, 405, 501})
"""Statuses of a server that has no ``/metrics`` (or ``/slots``): not an error, just nothing."""


class Rate:
    """Per-second rate of a counter between two readings."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def update(self, when: float, value: float | None) -> float | None:
        if value is None:
            return None
        last, self._last = self._last, (when, value)
        if last is None or when <= last[0] or value < last[1]:
            return None
        return (value - last[1]) / (when - last[0])

    def reset(self) -> None:
        self._last = None


@dataclass(slots=True)
class _Endpoint:
    id: str
    kind: str
    url: str
    server: OpenAIServer | None = None
    up: bool | None = None
    reason: str = ""
    failures: int = 0
    next_due: float = float("-inf")
    polls: int = 0
    """Successful polls so far (slow-changing parts are read every few)."""
    read_at: float | None = None
    """Clock reading of the last successful poll."""
    models: int | None = None
    loaded: tuple[LoadedModel, ...] = ()
    reading: Any = None
    """The last parsed reading (ServerReading, NodeReading, GpuReading…)."""
    slots: scrape.SlotsReading | None = None
    has_metrics: bool | None = None
    node_filter: bool | None = None
    """Whether a node_exporter takes the ``collect[]`` filter (None: not tried yet)."""
    has_slots: bool | None = None
    n_ctx: int | None = None
    tok_rate: Rate = field(default_factory=Rate)
    tok_s: float | None = None
    prom_up: bool | None = None
    """Through Prometheus: whether its last scrape of this endpoint worked (None: not known)."""
    prom_reason: str = ""

    def health(self) -> tuple[bool | None, str]:
        """``(up, reason)``: down when either our own read or Prometheus' scrape failed."""
        ups = [u for u in (self.up, self.prom_up) if u is not None]
        reason = "; ".join(r for r in (self.reason, self.prom_reason) if r)
        return (all(ups) if ups else None), reason


@dataclass(slots=True)
class _HostState:
    host: Host
    endpoints: list[_Endpoint]
    history: dict[str, deque[float]]
    cpu_idle: Rate = field(default_factory=Rate)
    cpu_total: Rate = field(default_factory=Rate)
    figures: dict[str, float | None] = field(default_factory=dict)
    prometheus_reason: str = ""
    """Why Prometheus could not be read at the last poll (then its figures are unknown)."""
    view: HostView | None = None


def _endpoints(host: Host) -> list[_Endpoint]:
    out: list[_Endpoint] = []
    if host.ollama:
        out.append(_Endpoint("ollama", "ollama", host.ollama.rstrip("/")))
    for server in host.openai:
        out.append(_Endpoint(f"openai:{server.name}", "openai", server.url.rstrip("/"), server))
    if host.node_exporter:
        out.append(_Endpoint("node_exporter", "node_exporter", host.node_exporter.rstrip("/")))
    if host.gpu_exporter:
        out.append(_Endpoint("gpu_exporter", "gpu_exporter", host.gpu_exporter.rstrip("/")))
    if host.llama_swap:
        out.append(_Endpoint("llama_swap", "llama_swap", host.llama_swap.rstrip("/")))
    return out


def _metrics_url(base: str) -> str:
    """``/metrics`` of an exporter given as its root or as its ``/metrics`` URL."""
    return base if base.endswith("/metrics") else base + "/metrics"


class FleetCollector:
    """Polls the fleet; :meth:`snapshot` is always ready, never waits on a host."""

    def __init__(
        self,
        hosts: Sequence[Host],
        settings: FleetSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        http: httpx.AsyncClient | None = None,
        max_requests: int = 64,
        max_backoff: float | None = None,
        notify_interval: float = 0.1,
        environ: dict[str, str] | None = None,
    ) -> None:
        """Args:
        hosts: The fleet, the local host first (its order is the snapshot's).
        settings: ``[fleet]``; defaults when None.
        clock: Seconds, monotonic; rates and backoff use it (tests pass their own).
        http: A client to use (not closed here); default: one made here with
            :func:`~tui.backends.base.direct_http` (no proxy from the environment, ever).
        max_requests: Requests in flight at once, across the fleet.
        max_backoff: Longest wait before retrying a failed endpoint (default 30 intervals).
        notify_interval: Least seconds between two notifications while a poll runs.
        environ: Where ``api_key_env`` variables are read (default ``os.environ``).
        """
        self.settings = settings or FleetSettings()
        self._clock = clock
        self._http = http
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._light = http11.LightHttp()
        """Plain-http endpoints' GETs (httpx's per-request cost, 0.86 ms, is most of a poll's:
        see :mod:`tui.fleet.http11`); https and Prometheus go through httpx."""
        self._options: dict[str, Any] | None = None
        self._limit = asyncio.Semaphore(max_requests)
        self._max_backoff = max_backoff or self.settings.interval * 30
        self._notify_interval = notify_interval
        self._environ = os.environ if environ is None else environ
        self._states = [
            _HostState(
                host=h,
                endpoints=_endpoints(h),
                history={f: deque(maxlen=self.settings.history) for f in FIGURES},
            )
            for h in hosts
        ]
        self._by_name = {s.host.name: s for s in self._states}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._poll_lock = asyncio.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._prometheus: Any = None
        self._prometheus_read: asyncio.Event | None = None
        """Set when this poll's Prometheus reading is in (a server's kind comes from it)."""
        if self.settings.prometheus:
            from tui.fleet.prom_api import PrometheusSource

            self._prometheus = PrometheusSource(
                self.settings.prometheus, hosts, window=self.settings.prometheus_window
            )
        self._snapshot: tuple[HostView, ...] = tuple(self._build(s) for s in self._states)
        self.polls = 0
        """Completed polls (tests and benchmarks wait on it)."""

    # ------------------------------------------------------------------------------ life cycle

    @property
    def hosts(self) -> list[Host]:
        return [s.host for s in self._states]

    def _client(self, host: str = "") -> httpx.AsyncClient:
        """The client for ``host``'s endpoints (or Prometheus, for ``""``).

        One small pool per host: httpcore matches each request against every connection of its
        pool, which costs O(connections) per request, so one pool for a fleet of hundreds of
        connections costs O(fleet²) per poll (measured: 97 % of a core for 100 hosts). The TLS
        context is made once and shared, not once per client.
        """
        if self._http is not None:
            return self._http
        client = self._clients.get(host)
        if client is None:
            if self._options is None:
                # Once: with SSL_CERT_FILE set, direct_http makes a TLS context each call.
                self._options = direct_http(None)
                self._options.setdefault("verify", httpx.create_ssl_context())
            options = self._options
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
                headers={"User-Agent": "slmdeck-fleet"},
                **options,
            )
            self._clients[host] = client
        return client

    async def start(self) -> None:
        """Poll every ``settings.interval`` seconds in a task of the running loop until
        :meth:`aclose`."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-poll")

    async def _run(self) -> None:
        while True:
            started = self._clock()
            try:
                await self.poll_once()
            except Exception:  # a bug in one poll must not end polling; the next one retries
                import logging

                logging.getLogger(__name__).exception("fleet poll failed")
            await asyncio.sleep(max(0.05, started + self.settings.interval - self._clock()))

    async def aclose(self) -> None:
        """Stop polling and close the client made here."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
        await self._light.aclose()

    async def __aenter__(self) -> FleetCollector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------- listeners

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(snapshot)`` after changes; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def snapshot(self) -> list[HostView]:
        """Every host's latest view, in configuration order."""
        return list(self._snapshot)

    def view(self, name: str = LOCAL) -> HostView | None:
        state = self._by_name.get(name)
        return state.view if state else None

    def _changed(self) -> None:
        self._snapshot = tuple(s.view or self._build(s) for s in self._states)
        if self._flush_handle is None and self._listeners:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._notify_interval, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        snapshot = self._snapshot
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:
                import logging

                logging.getLogger(__name__).exception("fleet listener failed")

    # ------------------------------------------------------------------------------------ poll

    async def poll_once(self) -> list[HostView]:
        """Read every endpoint that is due now (all of them the first time) and return the
        snapshot. Never raises for a host: its failure is its view's ``reason``."""
        async with self._poll_lock:
            now = self._clock()
            slack = 0.05 * self.settings.interval
            jobs = [self._poll_host(s, now, slack) for s in self._states]
            if self._prometheus is not None:
                self._prometheus_read = asyncio.Event()
                jobs.append(self._poll_prometheus(now))
            await asyncio.gather(*jobs)
            self.polls += 1
            self._changed()
            self._flush()
            return list(self._snapshot)

    async def poll_resources(self, name: str) -> HostView | None:
        """Read host ``name``'s memory, disk and GPU figures now, and nothing else of the fleet:
        its node_exporter and GPU exporter, or with ``[fleet] prometheus`` Prometheus' figures
        (one query each, for the fleet). One reading: no CPU rate. ``slmdeck fit --host`` grades
        against it. Never raises for the host (its view's ``reason`` says what failed); None for
        a host the collector does not know."""
        state = self._by_name.get(name)
        if state is None:
            return None
        async with self._poll_lock:
            now = self._clock()
            if self._prometheus is not None:
                await self._read_prometheus()
            else:
                exporters = [
                    ep for ep in state.endpoints if ep.kind in ("node_exporter", "gpu_exporter")
                ]
                await asyncio.gather(*(self._poll_endpoint(state, ep, now) for ep in exporters))
                self._figures(state, now)
                state.view = self._build(state)
            self._changed()
            return state.view

    async def _poll_prometheus(self, now: float) -> None:
        try:
            await self._read_prometheus()
        finally:
            if self._prometheus_read is not None:
                self._prometheus_read.set()

    async def _read_prometheus(self) -> None:
        try:
            result = await self._prometheus.read(self._client(), within=self.settings.timeout)
        except scrape.ScrapeError as exc:
            for s in self._states:
                s.figures = {}
                s.prometheus_reason = f"prometheus {exc}"
                for ep in s.endpoints:
                    ep.prom_up, ep.prom_reason = None, ""
                    if ep.kind == "openai":
                        ep.reading, ep.tok_s = None, None
                s.view = self._build(s)
            return
        for s in self._states:
            host = s.host.name
            figures = result.figures.get(host, {})
            s.figures = dict(figures)
            s.prometheus_reason = ""
            for name in FIGURES:
                value = figures.get(name)
                if value is not None:
                    s.history[name].append(value)
            health = result.health.get(host, {})
            for ep in s.endpoints:
                if ep.kind in ("ollama", "llama_swap"):
                    continue
                ep.prom_up, ep.prom_reason = health.get(ep.id, (None, ""))
                if ep.kind == "openai":
                    ep.reading, ep.tok_s = _server_reading(
                        result.kinds.get((host, ep.id)), result.endpoints.get((host, ep.id))
                    )
            s.view = self._build(s)

    async def _poll_host(self, s: _HostState, now: float, slack: float) -> None:
        due = [ep for ep in s.endpoints if ep.next_due <= now + slack]
        if self._prometheus is not None:
            # Prometheus has the figures; only what it cannot have is read directly.
            due = [ep for ep in due if ep.kind in _DIRECT_WITH_PROMETHEUS]
        if not due:
            return
        await asyncio.gather(*(self._poll_endpoint(s, ep, now) for ep in due))
        if self._prometheus is None:
            self._figures(s, now)
        s.view = self._build(s)
        self._changed()

    async def _get(self, host: str, url: str, **kwargs: Any) -> scrape.Answer:
        light = self._http is None and http11.handles(url)
        client = self._light if light else self._client(host)
        async with self._limit:
            return await scrape.fetch(client, url, within=self.settings.timeout, **kwargs)

    async def _poll_endpoint(self, s: _HostState, ep: _Endpoint, now: float) -> None:
        h = s.host.name
        try:
            if ep.kind == "ollama":
                await self._read_ollama(h, ep)
            elif ep.kind == "openai" and self._prometheus is not None:
                await self._read_openai_models(h, ep)
            elif ep.kind == "openai":
                await self._read_openai(h, ep, now)
            elif ep.kind == "node_exporter":
                url = _metrics_url(ep.url)
                answer = await self._read_node(h, ep, url)
                ep.reading = scrape.parse_node(scrape.metrics_of(answer, url, scrape.NODE_PREFIXES))
            elif ep.kind == "gpu_exporter":
                url = _metrics_url(ep.url)
                answer = await self._get(h, url)
                ep.reading = scrape.parse_gpu(scrape.metrics_of(answer, url, scrape.GPU_PREFIXES))
            elif ep.kind == "llama_swap":
                url = ep.url + "/running"
                swap = scrape.parse_llama_swap(scrape.json_of(await self._get(h, url), url))
                ep.loaded = tuple(LoadedModel(name=n, backend=ep.id) for n in swap.running)
        except scrape.ScrapeError as exc:
            ep.failures += 1
            ep.up = False
            ep.reason = f"{ep.id} {exc}"
            if self._prometheus is None:  # through Prometheus, the reading is Prometheus'
                ep.reading = None
                ep.tok_s = None
            ep.tok_rate.reset()
            if ep.kind == "node_exporter":
                s.cpu_idle.reset()
                s.cpu_total.reset()
            backoff = self.settings.interval * (2 ** (ep.failures - 1))
            ep.next_due = now + min(backoff, self._max_backoff)
            return
        ep.failures = 0
        ep.up = True
        ep.reason = ""
        ep.polls += 1
        ep.read_at = now
        ep.next_due = now + self.settings.interval

    async def _read_node(self, h: str, ep: _Endpoint, url: str) -> scrape.Answer:
        """node_exporter's ``/metrics``, only the collectors the fleet reads when it takes the
        filter: one run with any of them disabled answers 400 ("disabled collector") to it, and
        is read whole from then on."""
        if ep.node_filter is False:
            return await self._get(h, url)
        params = {"collect[]": list(scrape.NODE_COLLECTORS)}
        answer = await self._get(h, url, params=params, ok_statuses=frozenset({200, 400}))
        if answer.status == 400:
            ep.node_filter = False
            return await self._get(h, url)
        ep.node_filter = True
        return answer

    async def _read_ollama(self, h: str, ep: _Endpoint) -> None:
        url = ep.url + "/api/ps"
        ep.loaded = _call(scrape.parse_ollama_ps, scrape.json_of(await self._get(h, url), url), url)
        if ep.models is None or ep.polls % 10 == 0:
            url = ep.url + "/api/tags"
            ep.models = _call(
                scrape.parse_ollama_tags, scrape.json_of(await self._get(h, url), url), url
            )

    def _auth(self, server: OpenAIServer | None) -> dict[str, str]:
        key = self._environ.get(server.api_key_env, "") if server and server.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _read_openai_models(self, h: str, ep: _Endpoint) -> None:
        """Through Prometheus: what it cannot have of an OpenAI server, its models (every tenth
        poll, and at once after a failure) and, for llama.cpp, the context it runs with
        (``/props``, once)."""
        headers = self._auth(ep.server)
        root = ep.server.root if ep.server else ep.url
        if ep.models is None or ep.polls % 10 == 0 or ep.up is False:
            await self._read_models(h, ep, headers)
        if ep.n_ctx is None and self._prometheus_read is not None:
            await self._prometheus_read.wait()  # the kind is in Prometheus' reading
            reading = ep.reading
            if isinstance(reading, scrape.ServerReading) and reading.kind == "llama.cpp":
                url = root + "/props"
                answer = await self._get(h, url, headers=headers, ok_statuses=_NO_METRICS | {200})
                props = scrape.json_of(answer, url) if answer.status == 200 else None
                ep.n_ctx = scrape.parse_props_ctx(props) or 0
        if ep.n_ctx:
            ep.loaded = tuple(_with_ctx(m, ep.n_ctx) for m in ep.loaded)

    async def _read_models(self, h: str, ep: _Endpoint, headers: dict[str, str]) -> None:
        """The server's ``/v1/models``: what it holds loaded, and how many."""
        url = ep.url + "/models"
        ep.loaded = _call(
            scrape.parse_openai_models,
            scrape.json_of(await self._get(h, url, headers=headers), url),
            url,
            ep.id,
        )
        ep.models = len(ep.loaded)

    async def _read_openai(self, h: str, ep: _Endpoint, now: float) -> None:
        headers = self._auth(ep.server)
        root = ep.server.root if ep.server else ep.url
        if ep.models is None or ep.polls % 10 == 0:
            await self._read_models(h, ep, headers)
        if ep.has_metrics is not False or ep.polls % 10 == 0:
            url = root + "/metrics"
            answer = await self._get(h, url, headers=headers, ok_statuses=_NO_METRICS | {200})
            if answer.status != 200:
                ep.has_metrics = False
                ep.reading = scrape.ServerReading(kind="openai")
            else:
                ep.has_metrics = True
                metrics = scrape.metrics_of(
                    answer, url, scrape.VLLM_PREFIXES + scrape.LLAMACPP_PREFIXES
                )
                ep.reading = scrape.parse_server_metrics(metrics)
                ep.tok_s = ep.tok_rate.update(now, ep.reading.generation_tokens)
        reading = ep.reading
        if isinstance(reading, scrape.ServerReading) and reading.kind == "llama.cpp":
            if ep.has_slots is not False:
                url = root + "/slots"
                answer = await self._get(h, url, headers=headers, ok_statuses=_NO_METRICS | {200})
                if answer.status == 200:
                    ep.has_slots = True
                    ep.slots = _call(scrape.parse_slots, scrape.json_of(answer, url), url)
                else:
                    ep.has_slots = False
            if ep.n_ctx is None:
                url = root + "/props"
                answer = await self._get(h, url, headers=headers, ok_statuses=_NO_METRICS | {200})
                if answer.status == 200:
                    ep.n_ctx = scrape.parse_props_ctx(scrape.json_of(answer, url)) or 0
            if ep.n_ctx:
                # The context the server runs with, not the one the model was trained for.
                ep.loaded = tuple(_with_ctx(m, ep.n_ctx) for m in ep.loaded)

    # --------------------------------------------------------------------------------- figures

    def _figures(self, s: _HostState, now: float) -> None:
        """Recompute the host's figures; only those read at this poll go into the history."""
        figures: dict[str, float | None] = dict.fromkeys(FIGURES)
        fresh: set[str] = set()

        def put(name: str, value: float | None, now_read: bool, add: bool = False) -> None:
            if value is None:
                return
            figures[name] = (figures[name] or 0.0) + value if add else value
            if now_read:
                fresh.add(name)

        for ep in s.endpoints:
            reading = ep.reading
            if ep.up is not True or reading is None:
                continue
            read = ep.read_at == now
            if isinstance(reading, scrape.NodeReading):
                if not read:
                    # Not read this poll: its counters would give a rate over the wrong interval.
                    for name in _NODE_FIGURES:
                        put(name, s.figures.get(name), False)
                    continue
                idle = s.cpu_idle.update(now, reading.cpu_idle)
                total = s.cpu_total.update(now, reading.cpu_total)
                if idle is not None and total:
                    put("cpu_percent", _clamp(100.0 * (1.0 - idle / total)), True)
                if reading.ram_total and reading.ram_available is not None:
                    ram = 100.0 * (1.0 - reading.ram_available / reading.ram_total)
                    put("ram_percent", _clamp(ram), True)
                if reading.disk_size and reading.disk_avail is not None:
                    disk = 100.0 * (1.0 - reading.disk_avail / reading.disk_size)
                    put("disk_percent", _clamp(disk), True)
            elif isinstance(reading, scrape.GpuReading):
                put("gpu_percent", reading.util_percent, read)
                if reading.memory_total and reading.memory_used is not None:
                    vram = 100.0 * reading.memory_used / reading.memory_total
                    put("vram_percent", _clamp(vram), read)
            elif isinstance(reading, scrape.ServerReading):
                put("requests_running", reading.requests_running, read, add=True)
                put("requests_waiting", reading.requests_waiting, read, add=True)
                put("tok_s", ep.tok_s, read, add=True)
        s.figures = figures
        for name in fresh:
            value = figures[name]
            if value is not None:
                s.history[name].append(value)

    def _build(self, s: _HostState) -> HostView:
        host = s.host
        health = {ep.id: ep.health() for ep in s.endpoints}
        polled = [ep for ep in s.endpoints if health[ep.id][0] is not None]
        backends: list[BackendView] = []
        loaded: list[LoadedModel] = []
        for ep in s.endpoints:
            up, reason = health[ep.id]
            reading = ep.reading
            kind = ep.kind
            running = waiting = kv = decode = None
            busy = total = None
            if isinstance(reading, scrape.ServerReading):
                kind = reading.kind
                running, waiting = reading.requests_running, reading.requests_waiting
                kv, decode = reading.kv_cache_percent, reading.decode_tok_s
                if ep.slots is not None and kind == "llama.cpp":
                    kv = ep.slots.context_percent
                    busy, total = ep.slots.busy, ep.slots.total
            backends.append(
                BackendView(
                    id=ep.id,
                    kind=kind,
                    url=ep.url,
                    up=up,
                    reason=reason,
                    models=ep.models,
                    requests_running=running,
                    requests_waiting=waiting,
                    kv_cache_percent=kv,
                    tok_s=ep.tok_s,
                    decode_tok_s=decode,
                    slots_busy=busy,
                    slots_total=total,
                )
            )
            if ep.up:
                loaded.extend(ep.loaded)
        problems = tuple(r for up, r in health.values() if up is False and r)
        if s.prometheus_reason:
            problems += (s.prometheus_reason,)
        if not polled:
            reachable: bool | None = None if not s.prometheus_reason else False
        else:
            reachable = any(health[ep.id][0] for ep in polled)
        if self._prometheus is not None and s.figures:
            reachable = (
                True
                if reachable is None
                else reachable or any(v is not None for v in s.figures.values())
            )
        node = next((ep.reading for ep in s.endpoints if ep.kind == "node_exporter"), None)
        gpu = next((ep.reading for ep in s.endpoints if ep.kind == "gpu_exporter"), None)
        figs = s.figures
        ram_total = ram_used = disk_total = disk_used = None
        vram_total = vram_used = vram_free = None
        if isinstance(node, scrape.NodeReading):
            if node.ram_total is not None and node.ram_available is not None:
                ram_total, ram_used = int(node.ram_total), int(node.ram_total - node.ram_available)
            if node.disk_size is not None and node.disk_avail is not None:
                disk_total, disk_used = int(node.disk_size), int(node.disk_size - node.disk_avail)
        else:  # through Prometheus: totals, and what is left or the percentage used
            ram_total, ram_used = _total_and_used(figs, "ram_total", "ram_percent", "ram_available")
            disk_total, disk_used = _total_and_used(figs, "disk_total", "disk_percent")
        if isinstance(gpu, scrape.GpuReading):
            vram_total, vram_used, vram_free = (
                None if v is None else int(v)
                for v in (gpu.memory_total, gpu.memory_used, gpu.memory_free)
            )
        elif self._prometheus is not None:
            vram_total, vram_used, vram_free = (
                None if figs.get(k) is None else int(figs[k] or 0)
                for k in ("vram_total", "vram_used", "vram_free")
            )

        def fig(name: str) -> Figure:
            return Figure(figs.get(name), tuple(s.history[name]))

        return HostView(
            name=host.name,
            reachable=reachable,
            reason="; ".join(problems),
            readonly=host.readonly or self.settings.readonly,
            source="prometheus" if self._prometheus is not None else "direct",
            backends=tuple(backends),
            loaded=tuple(loaded),
            cpu_percent=fig("cpu_percent"),
            ram_percent=fig("ram_percent"),
            disk_percent=fig("disk_percent"),
            gpu_percent=fig("gpu_percent"),
            vram_percent=fig("vram_percent"),
            requests_running=fig("requests_running"),
            requests_waiting=fig("requests_waiting"),
            tok_s=fig("tok_s"),
            ram_total=ram_total,
            ram_used=ram_used,
            disk_total=disk_total,
            disk_used=disk_used,
            vram_total=vram_total,
            vram_used=vram_used,
            vram_free=vram_free,
            updated=self._clock() if polled else None,
            problems=problems,
        )


def _total_and_used(
    figs: dict[str, float | None], total: str, percent: str, left: str = ""
) -> tuple[int | None, int | None]:
    size, share = figs.get(total), figs.get(percent)
    if size is None:
        return None, None
    free = figs.get(left) if left else None
    if free is not None:
        return int(size), int(size - free)
    return int(size), None if share is None else int(size * share / 100.0)


def _server_reading(
    kind: str | None, figures: dict[str, float] | None
) -> tuple[scrape.ServerReading | None, float | None]:
    """An OpenAI server's reading and tok/s from Prometheus' figures of it (None: it has none)."""
    if kind is None and not figures:
        return None, None
    f = figures or {}
    reading = scrape.ServerReading(
        kind=kind or "openai",
        requests_running=f.get("requests_running"),
        requests_waiting=f.get("requests_waiting"),
        kv_cache_percent=f.get("kv_cache_percent"),
        decode_tok_s=f.get("decode_tok_s"),
    )
    return reading, f.get("tok_s")


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def _with_ctx(model: LoadedModel, n_ctx: int) -> LoadedModel:
    from dataclasses import replace

    return replace(model, context_length=n_ctx)


def _call(parser: Callable[..., Any], data: Any, url: str, *args: Any) -> Any:
    """Run a body parser; its ScrapeError gets the URL it is about."""
    try:
        return parser(data, *args)
    except scrape.ScrapeError as exc:
        raise scrape.ScrapeError(f"{url}: {exc}") from exc
