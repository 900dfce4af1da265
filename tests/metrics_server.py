"""A loopback server that answers like vLLM's or llama.cpp's server does for monitoring.

vLLM cannot run here and llama-cpp-python's server has no ``/metrics``, ``/slots`` or ``/props``, so
the fleet tests read these shapes from this server. They follow the servers' own sources (read, not
copied):

* vLLM ``vllm/v1/metrics/loggers.py`` (``PrometheusStatLogger``): gauges
  ``vllm:num_requests_running``, ``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc`` (0..1)
  and the deprecated ``vllm:gpu_cache_usage_perc``; counters ``vllm:prompt_tokens`` and
  ``vllm:generation_tokens`` (so ``..._total`` and ``..._created`` samples); the histogram
  ``vllm:time_to_first_token_seconds``; every series labelled ``model_name`` and ``engine``. vLLM
  exposes them with ``prometheus_client``, and so does this server, so the text is byte-for-byte
  that library's. ``/v1/models`` has ``max_model_len`` and ``owned_by: "vllm"``.
* llama.cpp ``tools/server`` (``--metrics``): ``# HELP``/``# TYPE``/value triples under
  ``llamacpp:``; counters ``prompt_tokens_total``, ``prompt_seconds_total``,
  ``tokens_predicted_total``, ``tokens_predicted_seconds_total``, ``n_decode_total``,
  ``n_tokens_max`` and ``n_busy_slots_per_decode`` (declared counters though the last two are not
  ``_total``), then gauges ``prompt_tokens_seconds``, ``predicted_tokens_seconds``,
  ``requests_processing``, ``requests_deferred``; content type ``text/plain; version=0.0.4``.
  ``/slots`` is a list of ``{id, n_ctx, speculative, is_processing, n_past, id_task,
  n_prompt_tokens, …, next_token: [{has_next_token, has_new_line, n_remain, n_decoded}]}``;
  ``/props`` has ``default_generation_settings.n_ctx`` and ``total_slots``.

Counters can grow with time at a set rate (``gen_rate``), so Prometheus' ``rate()`` and a
two-scrape rate can be compared.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class MetricsState:
    """What the server reports; tests change it (under ``lock``) while it runs."""

    kind: str = "vllm"
    """``vllm`` or ``llamacpp``."""
    model: str = "tiny-llama"
    running: float = 0
    waiting: float = 0
    kv_usage: float = 0.0
    """vLLM's KV-cache usage, 0..1."""
    generation_tokens: float = 0
    prompt_tokens: float = 0
    gen_rate: float = 0.0
    """Generated tokens added per second of real time (0: the counter only moves when set)."""
    decode_tok_s: float = 0.0
    n_ctx: int = 2048
    slots: list[dict[str, Any]] = field(default_factory=list)
    raw: bytes | None = None
    """When set, ``/metrics`` answers these bytes instead (garbage, or another exporter's text)."""
    error_status: int | None = None
    """When set, every path answers this status."""
    started: float = field(default_factory=time.monotonic)
    requests: list[tuple[str, str]] = field(default_factory=list)
    """``(path, Authorization header)`` of every request."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def generated(self) -> float:
        return self.generation_tokens + self.gen_rate * (time.monotonic() - self.started)


def llamacpp_slot(
    slot_id: int, *, n_ctx: int, processing: bool, n_prompt: int = 0, n_decoded: int = 0
) -> dict[str, Any]:
    """One entry of llama.cpp's ``/slots`` (metrics-only form: no prompt text)."""
    return {
        "id": slot_id,
        "n_ctx": n_ctx,
        "speculative": False,
        "is_processing": processing,
        "n_past": n_prompt + n_decoded,
        "id_task": 100 + slot_id,
        "n_prompt_tokens": n_prompt,
        "n_prompt_tokens_processed": n_prompt,
        "n_prompt_tokens_cache": 0,
        "params": {"n_predict": -1, "temperature": 0.8},
        "next_token": [
            {
                "has_next_token": processing,
                "has_new_line": False,
                "n_remain": -1,
                "n_decoded": n_decoded,
            }
        ],
    }


def _vllm_text(st: MetricsState) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    labels = ["model_name", "engine"]
    values = [st.model, "0"]

    class Collector:
        def collect(self) -> Iterator[Any]:
            for name, doc, value in (
                (
                    "vllm:num_requests_running",
                    "Number of requests in model execution batches.",
                    st.running,
                ),
                (
                    "vllm:num_requests_waiting",
                    "Number of requests waiting to be processed.",
                    st.waiting,
                ),
                (
                    "vllm:gpu_cache_usage_perc",
                    "GPU KV-cache usage. 1 means 100 percent usage.",
                    st.kv_usage,
                ),
                (
                    "vllm:kv_cache_usage_perc",
                    "KV-cache usage. 1 means 100 percent usage.",
                    st.kv_usage,
                ),
            ):
                g = GaugeMetricFamily(name, doc, labels=labels)
                g.add_metric(values, value)
                yield g
            for name, doc, value in (
                ("vllm:prompt_tokens", "Number of prefill tokens processed.", st.prompt_tokens),
                (
                    "vllm:generation_tokens",
                    "Number of generation tokens processed.",
                    st.generated(),
                ),
            ):
                c = CounterMetricFamily(name, doc, labels=labels)
                c.add_metric(values, value, created=1_700_000_000.0)
                yield c
            h = HistogramMetricFamily(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                labels=labels,
            )
            h.add_metric(values, [("0.01", 1.0), ("0.1", 3.0), ("+Inf", 4.0)], sum_value=0.25)
            yield h

    registry = CollectorRegistry()
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry)


def _g(value: float) -> str:
    """A double as C++'s ``operator<<`` writes it (six significant digits, %g)."""
    return f"{value:g}"


def _llamacpp_text(st: MetricsState) -> bytes:
    busy = sum(1 for s in st.slots if s.get("is_processing"))
    counters = [
        ("prompt_tokens_total", "Number of prompt tokens processed.", str(int(st.prompt_tokens))),
        ("prompt_seconds_total", "Prompt process time", _g(int(st.prompt_tokens) / 1000.0)),
        (
            "tokens_predicted_total",
            "Number of generation tokens processed.",
            str(int(st.generated())),
        ),
        ("tokens_predicted_seconds_total", "Predict process time", _g(int(st.generated()) / 1e4)),
        ("n_decode_total", "Total number of llama_decode() calls", str(int(st.generated()))),
        (
            "n_tokens_max",
            "Largest observed n_tokens.",
            str(max([s["n_past"] for s in st.slots] or [0])),
        ),
        (
            "n_busy_slots_per_decode",
            "Average number of busy slots per llama_decode() call",
            _g(float(busy)),
        ),
    ]
    gauges = [
        ("prompt_tokens_seconds", "Average prompt throughput in tokens/s.", _g(0.0)),
        (
            "predicted_tokens_seconds",
            "Average generation throughput in tokens/s.",
            _g(st.decode_tok_s),
        ),
        ("requests_processing", "Number of requests processing.", str(int(st.running))),
        ("requests_deferred", "Number of requests deferred.", str(int(st.waiting))),
    ]
    out = []
    for kind, rows in (("counter", counters), ("gauge", gauges)):
        for name, doc, value in rows:
            out.append(
                f"# HELP llamacpp:{name} {doc}\n# TYPE llamacpp:{name} {kind}\nllamacpp:{name} {value}\n"
            )
    return "".join(out).encode()


class _Handler(BaseHTTPRequestHandler):
    server: MetricsHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def do_GET(self) -> None:
        st = self.server.state
        path = self.path.split("?", 1)[0]
        with st.lock:
            st.requests.append((path, self.headers.get("Authorization", "")))
            if st.error_status is not None:
                self._json(
                    st.error_status, {"error": {"message": "injected", "code": st.error_status}}
                )
                return
            if path == "/metrics":
                if st.raw is not None:
                    self._send(200, st.raw, "text/plain; version=0.0.4")
                elif st.kind == "vllm":
                    self._send(200, _vllm_text(st), "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._send(200, _llamacpp_text(st), "text/plain; version=0.0.4")
            elif path == "/v1/models":
                if st.kind == "vllm":
                    model = {
                        "id": st.model,
                        "object": "model",
                        "created": 1_700_000_000,
                        "owned_by": "vllm",
                        "root": st.model,
                        "parent": None,
                        "max_model_len": st.n_ctx,
                    }
                else:
                    model = {
                        "id": st.model,
                        "object": "model",
                        "created": 1_700_000_000,
                        "owned_by": "llamacpp",
                        "meta": {
                            "vocab_type": 2,
                            "n_vocab": 512,
                            "n_ctx_train": 4096,
                            "n_embd": 64,
                            "n_params": 115_000,
                            "size": 471_040,
                        },
                    }
                self._json(200, {"object": "list", "data": [model]})
            elif path == "/slots" and st.kind == "llamacpp":
                self._json(200, st.slots)
            elif path == "/props" and st.kind == "llamacpp":
                self._json(
                    200,
                    {
                        "default_generation_settings": {"params": {}, "n_ctx": st.n_ctx},
                        "total_slots": len(st.slots),
                        "model_alias": st.model,
                        "model_path": f"/models/{st.model}.gguf",
                        "endpoint_slots": True,
                        "endpoint_props": False,
                        "endpoint_metrics": True,
                    },
                )
            elif path == "/health":
                self._json(200, {"status": "ok"})
            else:
                self._json(
                    404,
                    {
                        "error": {
                            "code": 404,
                            "message": "File Not Found",
                            "type": "not_found_error",
                        }
                    },
                )


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: MetricsState) -> None:
        super().__init__(address, _Handler)
        self.state = state


@dataclass
class MetricsServer:
    httpd: MetricsHTTPServer
    thread: threading.Thread

    @property
    def state(self) -> MetricsState:
        return self.httpd.state

    @property
    def host_port(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The server's root (``/metrics`` lives here)."""
        return f"http://{self.host_port}"

    @property
    def api_url(self) -> str:
        """The OpenAI API base, ``…/v1``."""
        return self.url + "/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def metrics_server(
    kind: str = "vllm", *, host: str = "127.0.0.1", **state: Any
) -> Iterator[MetricsServer]:
    """Serve ``kind`` (``vllm`` or ``llamacpp``) on a free loopback port until the block ends."""
    st = MetricsState(kind=kind, **state)
    if kind == "llamacpp" and not st.slots:
        st.slots = [llamacpp_slot(i, n_ctx=st.n_ctx, processing=False) for i in range(4)]
    httpd = MetricsHTTPServer((host, 0), st)
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05,), daemon=True, name=f"metrics-{kind}"
    )
    thread.start()
    server = MetricsServer(httpd, thread)
    try:
        yield server
    finally:
        server.stop()
