"""The parsers of what each server answers, on the servers' real shapes."""

from __future__ import annotations

from datetime import UTC

import pytest

from tests.metrics_server import MetricsState, _llamacpp_text, _vllm_text, llamacpp_slot
from tui.fleet import scrape
from tui.fleet.promtext import MetricsError, parse_metrics


def test_vllm_metrics_as_prometheus_client_writes_them() -> None:
    st = MetricsState(
        kind="vllm", running=3, waiting=2, kv_usage=0.375, generation_tokens=1200, prompt_tokens=80
    )
    m = parse_metrics(_vllm_text(st).decode(), scrape.VLLM_PREFIXES)
    reading = scrape.parse_server_metrics(m)
    assert reading.kind == "vllm"
    assert reading.requests_running == 3 and reading.requests_waiting == 2
    assert reading.kv_cache_percent == pytest.approx(37.5)
    assert reading.generation_tokens == 1200 and reading.prompt_tokens == 80
    assert m.value("vllm:num_requests_running", model_name="tiny-llama", engine="0") == 3


def test_llamacpp_metrics_as_the_server_writes_them() -> None:
    slots = [
        llamacpp_slot(0, n_ctx=512, processing=True, n_prompt=100, n_decoded=28),
        llamacpp_slot(1, n_ctx=512, processing=False, n_prompt=300),
    ]
    st = MetricsState(
        kind="llamacpp",
        running=1,
        waiting=4,
        generation_tokens=5000,
        decode_tok_s=41.5,
        slots=slots,
    )
    text = _llamacpp_text(st).decode()
    assert "# TYPE llamacpp:n_tokens_max counter\nllamacpp:n_tokens_max 300\n" in text
    reading = scrape.parse_server_metrics(parse_metrics(text, scrape.LLAMACPP_PREFIXES))
    assert reading.kind == "llama.cpp"
    assert (reading.requests_running, reading.requests_waiting) == (1, 4)
    assert reading.generation_tokens == 5000
    assert reading.decode_tok_s == 41.5
    # A counter without _total (n_tokens_max) is found by its declared name.
    assert parse_metrics(text).value("llamacpp:n_tokens_max") == 300
    used = scrape.parse_slots(slots)
    assert (used.busy, used.total, used.used_tokens, used.n_ctx) == (1, 2, 128, 1024)
    assert used.context_percent == pytest.approx(12.5)


def test_older_slots_without_n_past_count_prompt_and_decoded() -> None:
    slot = llamacpp_slot(0, n_ctx=100, processing=True, n_prompt=10, n_decoded=5)
    del slot["n_past"]
    assert scrape.parse_slots([slot]).used_tokens == 15
    with pytest.raises(scrape.ScrapeError):
        scrape.parse_slots({"error": "no slots"})


NODE = """# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 50
node_cpu_seconds_total{cpu="1",mode="idle"} 120
node_cpu_seconds_total{cpu="1",mode="system"} 30
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 25
node_filesystem_avail_bytes{device="/dev/vda",fstype="ext4",mountpoint="/srv"} 25
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 100
node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/srv"} 100
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 10
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 3e+09
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8e+09
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} garbage-we-never-read
"""


def test_node_exporter_figures_and_unread_lines_are_never_parsed() -> None:
    reading = scrape.parse_node(parse_metrics(NODE, scrape.NODE_PREFIXES))
    assert reading.cpu_idle == 220 and reading.cpu_total == 300
    assert reading.ram_total == 8e9 and reading.ram_available == 3e9
    # one real device, counted once; tmpfs left out
    assert (reading.disk_size, reading.disk_avail) == (100, 25)
    with pytest.raises(MetricsError):
        parse_metrics(NODE)  # the whole text has a garbage line the filter skipped


def test_dcgm_and_nvitop_gpu_exporters() -> None:
    dcgm = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1"} 30\n'
        'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-2"} 50\n'
        'DCGM_FI_DEV_FB_USED{gpu="0"} 1024\nDCGM_FI_DEV_FB_FREE{gpu="0"} 3072\n'
    )
    g = scrape.parse_gpu(parse_metrics(dcgm, scrape.GPU_PREFIXES))
    assert g.util_percent == 40
    assert (g.memory_used, g.memory_total) == (1024 * 2**20, 4096 * 2**20)
    assert g.memory_free == 3072 * 2**20
    reserved = dcgm + 'DCGM_FI_DEV_FB_RESERVED{gpu="0"} 512\n'
    g = scrape.parse_gpu(parse_metrics(reserved, scrape.GPU_PREFIXES))
    # Reserved memory is in the total, and not free: FB_FREE is what a new process can take.
    assert (g.memory_total, g.memory_free) == (4608 * 2**20, 3072 * 2**20)
    nvitop = (
        'nvitop_gpu_utilization_percent{index="0"} 12\n'
        'nvitop_gpu_memory_used_bytes{index="0"} 2e9\n'
        'nvitop_gpu_memory_total_bytes{index="0"} 8e9\n'
    )
    g = scrape.parse_gpu(parse_metrics(nvitop, scrape.GPU_PREFIXES))
    assert (g.util_percent, g.memory_used, g.memory_total, g.memory_free) == (12, 2e9, 8e9, 6e9)
    assert scrape.parse_gpu(parse_metrics("", scrape.GPU_PREFIXES)) == scrape.GpuReading()


def test_ollama_ps_as_ollama_writes_it() -> None:
    data = {
        "models": [
            {
                "name": "qwen3:0.6b",
                "model": "qwen3:0.6b",
                "size": 1000,
                "size_vram": 250,
                "context_length": 4096,
                "expires_at": "2026-12-02T07:00:00.123456789+01:00",
            },
            {"name": "forever", "size": 5, "expires_at": "2318-01-01T00:00:00Z"},
            {"bad": True},
        ]
    }
    a, b = scrape.parse_ollama_ps(data)
    assert (a.name, a.size, a.size_vram, a.context_length) == ("qwen3:0.6b", 1000, 250, 4096)
    assert a.vram_share == 0.25
    assert a.expires_at is not None and a.expires_at.astimezone(UTC).hour == 6
    assert b.expires_at is None and b.vram_share is None
    with pytest.raises(scrape.ScrapeError):
        scrape.parse_ollama_ps(["not", "ps"])
    assert scrape.parse_ollama_tags({"models": [{}, {}]}) == 2


def test_openai_models_with_engine_extras() -> None:
    (m,) = scrape.parse_openai_models(
        {"data": [{"id": "m1", "max_model_len": 8192}, {"no": "id"}]}, "openai:v"
    )
    assert (m.name, m.backend, m.context_length) == ("m1", "openai:v", 8192)
    with pytest.raises(scrape.ScrapeError, match="no 'data' list"):
        scrape.parse_openai_models({"object": "list"})


def test_server_without_known_metrics_is_plain_openai() -> None:
    m = parse_metrics("# TYPE foo gauge\nfoo 1\n", scrape.VLLM_PREFIXES + scrape.LLAMACPP_PREFIXES)
    assert scrape.parse_server_metrics(m).kind == "openai"
