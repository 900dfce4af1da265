"""tui.monitor on real psutil readings, real child processes and the recorded-samples fixture."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from tui.backends.base import RunningModel
from tui.commands import top
from tui.monitor import Monitor, RecordedSource, Sample, dump_samples, load_samples
from tui.monitor.fmt import format_bytes, format_percent, format_rate
from tui.monitor.live import LiveSource, is_loopback, nic_deltas
from tui.monitor.procs import ProcessTracker, classify
from tui.monitor.rates import busy_percent, counter_delta, counter_rate, cpu_busy_total

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "monitor_samples.json"


def spin(cpu_seconds: float) -> None:
    """Burn this much CPU time in this process (measured in CPU time, not wall time)."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


@pytest.fixture
def monitor(tmp_path: Path) -> Iterator[Monitor]:
    m = Monitor(disk_paths=[tmp_path, tmp_path / "store" / "not-created-yet"])
    yield m
    m.close()


# ------------------------------------------------------------------------------------- arithmetic


def test_counter_rate_exact_values() -> None:
    assert counter_rate(1_000, 3_000, 2.0) == 1_000.0
    assert counter_rate(7, 7, 1.0) == 0.0
    # A reset (counter re-created): it counted `cur` since zero.
    assert counter_delta(5_000, 1_200) == 1_200
    assert counter_rate(5_000, 1_200, 0.5) == 2_400.0
    # A 32-bit wrap from the top of the range.
    assert counter_delta(2**32 - 100, 50, wrap=2**32) == 150
    # A fall from the lower half is a reset even when the width is known.
    assert counter_delta(1_000, 10, wrap=2**32) == 10
    assert counter_rate(0, 10**9, 0.0) == 0.0


def test_rate_from_two_real_counter_readings() -> None:
    """Bytes sent over loopback between two real readings are in the loopback counter's rate."""
    chunk, rounds = 16 * 1024, 16
    with socket.create_server(("127.0.0.1", 0)) as server:
        first = psutil.net_io_counters(pernic=True)
        with socket.create_connection(server.getsockname()[:2]) as client:
            peer, _ = server.accept()
            with peer:
                for _ in range(rounds):  # in steps, so neither side waits on a full buffer
                    client.sendall(b"x" * chunk)
                    got = 0
                    while got < chunk:
                        data = peer.recv(chunk - got)
                        assert data, "the loopback connection closed early"
                        got += len(data)
        second = psutil.net_io_counters(pernic=True)
    [lo] = [nic for nic in first if is_loopback(nic)]
    before, after = first[lo].bytes_recv, second[lo].bytes_recv
    rate = counter_rate(before, after, 0.25)
    assert rate == (after - before) / 0.25
    # The payload crossed lo (plus headers and whatever else ran on it): at least that much.
    assert rate * 0.25 >= chunk * rounds


def test_network_deltas_per_interface() -> None:
    prev = {"eth0": (1_000, 500), "wlan0": (9_000, 9_000), "gone0": (5, 5)}
    cur = {"eth0": (4_000, 700), "wlan0": (300, 100), "new0": (10**9, 10**9)}
    # eth0 grew by 3000/200; wlan0 was reset (counted 300/100 since); new0 has no baseline.
    assert nic_deltas(prev, cur) == (3_300, 300)


def _wire_counters() -> tuple[int, int]:
    counters = psutil.net_io_counters(pernic=True)
    rx = sum(c.bytes_recv for nic, c in counters.items() if not is_loopback(nic))
    tx = sum(c.bytes_sent for nic, c in counters.items() if not is_loopback(nic))
    return rx, tx


def test_live_network_rate_is_derived_from_the_counters() -> None:
    m = Monitor()
    before = _wire_counters()
    m.sample()
    s = m.sample()
    after = _wire_counters()
    m.close()
    assert s.net_rx_rate is not None and s.net_tx_rate is not None
    # The source's two readings lie between ours, and counters only grow: its byte count over
    # the interval cannot exceed what flowed between our readings.
    assert 0 <= s.net_rx_rate * s.interval <= after[0] - before[0] + 1e-6
    assert 0 <= s.net_tx_rate * s.interval <= after[1] - before[1] + 1e-6


def test_live_network_rates_on_scripted_counters_and_a_controlled_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings = iter(
        [
            {"eth0": (1_000, 500)},
            {"eth0": (4_000, 700), "wlan0": (50, 50)},  # eth0 +3000/+200; wlan0 has no baseline
            {"eth0": (4_000, 700), "wlan0": (250, 1_050)},  # wlan0 +200/+1000
            {"eth0": (9_000, 9_000), "wlan0": (250, 1_050)},  # no time passed
        ]
    )
    clock = iter([100.0, 102.0, 102.5, 102.5])

    class ScriptedNet(LiveSource):
        def _read_net(self) -> dict[str, tuple[int, int]]:  # type: ignore[override]
            return next(readings)

    monkeypatch.setattr(
        "tui.monitor.live.time", SimpleNamespace(monotonic=lambda: next(clock), time=time.time)
    )
    source = ScriptedNet()
    try:
        s1, s2, s3 = (source.read(tick, False) for tick in (1, 2, 3))
    finally:
        source.close()
    assert (s1.interval, s1.net_rx_rate, s1.net_tx_rate) == (2.0, 1_500.0, 100.0)
    assert (s2.interval, s2.net_rx_rate, s2.net_tx_rate) == (0.5, 400.0, 2_000.0)
    assert (s3.interval, s3.net_rx_rate, s3.net_tx_rate) == (0.0, 0.0, 0.0)


def test_cpu_busy_arithmetic_on_psutil_times() -> None:
    times = psutil.cpu_times()
    fields = times._fields
    zero = times._replace(**dict.fromkeys(fields, 0.0))
    t1 = zero._replace(user=10.0, system=5.0, idle=80.0)
    t2 = zero._replace(user=40.0, system=15.0, idle=140.0)
    a, b = cpu_busy_total(t1, fields), cpu_busy_total(t2, fields)
    assert a == (15.0, 95.0)
    # 40 busy seconds out of 100.
    assert busy_percent(a, b) == 40.0
    if "iowait" in fields:
        assert cpu_busy_total(zero._replace(iowait=3.0, user=1.0), fields) == (1.0, 4.0)
    if "guest" in fields:
        # Guest time is already inside user on Linux: not counted twice.
        assert cpu_busy_total(zero._replace(user=5.0, guest=5.0), fields) == (5.0, 5.0)
    assert busy_percent((10.0, 100.0), (10.0, 100.0)) == 0.0
    assert busy_percent((10.0, 100.0), (5.0, 150.0)) == 0.0
    assert busy_percent((0.0, 0.0), (50.0, 40.0)) == 100.0


def test_loopback_names() -> None:
    assert is_loopback("lo") and is_loopback("lo0")
    assert is_loopback("Loopback Pseudo-Interface 1")
    assert not is_loopback("eth0") and not is_loopback("wlo1") and not is_loopback("lobby")


# -------------------------------------------------------------------------------- live readings


def test_live_sample_is_in_range(monitor: Monitor, tmp_path: Path) -> None:
    wire_before = _wire_counters()
    first = monitor.sample()
    spin(0.2)
    s = monitor.sample()
    wire_after = _wire_counters()
    assert (first.tick, s.tick) == (0, 1)
    assert s.interval > 0
    assert len(s.cpu_per_core) == psutil.cpu_count()
    assert 0.0 <= s.cpu_percent <= 100.0
    assert all(0.0 <= c <= 100.0 for c in s.cpu_per_core)
    # This process just burnt 0.2 s of CPU: the machine cannot have been idle.
    assert s.cpu_percent > 0.0
    assert max(s.cpu_per_core) > 0.0
    vm = psutil.virtual_memory()
    assert s.ram_total == vm.total
    assert 0 < s.ram_available <= s.ram_total and 0 < s.ram_used <= s.ram_total
    assert 0.0 <= s.ram_percent <= 100.0
    assert 0 <= s.swap_used <= s.swap_total
    # The sample's two network readings lie between ours: no more bytes than flowed meanwhile.
    assert s.net_rx_rate is not None and s.net_tx_rate is not None
    assert 0 <= s.net_rx_rate * s.interval <= wire_after[0] - wire_before[0] + 1e-6
    assert 0 <= s.net_tx_rate * s.interval <= wire_after[1] - wire_before[1] + 1e-6
    if hasattr(os, "getloadavg"):
        assert s.load_avg is not None and len(s.load_avg) == 3
        assert all(v >= 0 for v in s.load_avg)
    # Disks: both paths reported as given, the missing one measured on its parent's file system.
    assert [d.path for d in s.disks] == [str(tmp_path), str(tmp_path / "store/not-created-yet")]
    usage = psutil.disk_usage(str(tmp_path))
    for d in s.disks:
        assert d.total == usage.total and 0 < d.free <= d.total and 0.0 <= d.percent <= 100.0
    # Our own process is always listed, with a real CPU figure once it has an interval.
    me = [p for p in s.processes if p.pid == os.getpid()]
    assert len(me) == 1 and me[0].role == "slmdeck"
    assert me[0].rss is not None and me[0].rss > 10 * 2**20
    assert me[0].cpu_percent is not None and me[0].cpu_percent > 0.0
    first_me = next(p for p in first.processes if p.pid == os.getpid())
    assert first_me.cpu_percent is None
    assert monitor.latest is s and monitor.ticks == 2


def test_first_sample_covers_the_time_since_construction() -> None:
    source = LiveSource()
    spin(0.2)
    s = source.read(0, True)
    source.close()
    assert s.interval > 0
    assert s.cpu_percent > 0.0


def test_history_is_bounded(tmp_path: Path) -> None:
    m = Monitor(history_size=5)
    samples = [m.sample() for _ in range(8)]
    m.close()
    assert m.history("cpu") == tuple(s.cpu_percent for s in samples[-5:])
    assert m.history("core0") == tuple(s.cpu_per_core[0] for s in samples[-5:])
    assert m.history("net_rx") == tuple(s.net_rx_rate for s in samples[-5:])
    assert m.history("ram") == tuple(s.ram_percent for s in samples[-5:])
    assert all(len(m.history(name)) == 5 for name in m.series())
    assert {"cpu", "ram", "swap", "net_rx", "net_tx", "load1"} <= set(m.series())
    assert m.history("gpu7.util") == ()


def test_slow_fields_follow_the_cadence(tmp_path: Path) -> None:
    source = LiveSource(disk_paths=[tmp_path])
    m = Monitor(source, slow_every=3)
    samples = [m.sample() for _ in range(7)]
    m.close()
    assert [s.slow for s in samples] == [True, False, False, True, False, False, True]
    assert source.processes.scans == 3
    # Between slow ticks the disk figures are carried over, not re-read.
    assert samples[1].disks is samples[0].disks and samples[2].disks is samples[0].disks
    assert samples[3].disks is not samples[0].disks
    assert [s.tick for s in samples] == list(range(7))


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        Monitor(RecordedSource([_fixture()[0]]), interval=0)
    with pytest.raises(ValueError, match="history size"):
        Monitor(RecordedSource([_fixture()[0]]), history_size=0)
    with pytest.raises(ValueError, match="slow fields"):
        Monitor(RecordedSource([_fixture()[0]]), slow_every=0)


# ---------------------------------------------------------------------------- backend processes


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["/usr/local/bin/ollama", "serve"], ("ollama", "ollama serve")),
        (
            ["ollama", "runner", "--model", "/m/blob", "--port", "4242"],
            ("ollama-runner", "ollama runner"),
        ),
        (
            ["/usr/lib/ollama/runners/cuda_v12/ollama_llama_server", "--model", "x"],
            ("ollama-runner", "ollama runner"),
        ),
        (["C:\\Program Files\\Ollama\\ollama.exe", "serve"], ("ollama", "ollama serve")),
        (
            ["/opt/llama.cpp/build/bin/llama-server", "-m", "q.gguf"],
            ("llama-server", "llama-server"),
        ),
        (
            ["python3", "-m", "llama_cpp.server", "--model", "q.gguf"],
            ("llama-cpp-python", "llama_cpp.server"),
        ),
        (
            ["/venv/bin/python", "-u", "/venv/bin/vllm", "serve", "Qwen/Qwen2.5-1.5B"],
            ("vllm", "vllm serve"),
        ),
        (["python", "-X", "utf8", "-m", "vllm.entrypoints.openai.api_server"], ("vllm", "vllm")),
        (["/venv/bin/python3.11", "/venv/bin/llama-server"], ("llama-server", "llama-server")),
        (["ollama", "run", "qwen2.5"], None),
        (["ollama"], None),
        (["grep", "llama-server"], None),
        (["vim", "llama-server.log"], None),
        (["python", "-c", "print('llama-server')"], None),
        (["python", "-m", "pytest", "llama_cpp.server"], None),
        (["python"], None),
        ([], None),
    ],
)
def test_classify(cmdline: list[str], expected: tuple[str, str] | None) -> None:
    assert classify(cmdline) == expected


def _spawn(
    argv: list[str], executable: str | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, executable=executable, cwd=cwd, stdin=subprocess.DEVNULL)


def test_discovers_a_real_backend_process_on_slow_ticks(tmp_path: Path) -> None:
    pkg = tmp_path / "llama_cpp" / "server"
    pkg.mkdir(parents=True)
    (tmp_path / "llama_cpp" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text("import time\ntime.sleep(60)\n")
    source = LiveSource()
    m = Monitor(source, slow_every=2)
    m.sample()  # tick 0: slow scan, before the children exist
    sleeper = "import time; time.sleep(60)"
    # A process whose argv[0] is llama-server (the interpreter runs under that name); it keeps a
    # core busy, so its CPU figure over an interval cannot be zero.
    llama = _spawn(["llama-server", "-c", "while True: pass"], executable=sys.executable)
    # `python -m llama_cpp.server`, the module being a stand-in package in tmp_path.
    lcp = _spawn([sys.executable, "-m", "llama_cpp.server"], cwd=tmp_path)
    # An unrelated Python process must not be picked up.
    other = _spawn([sys.executable, "-c", sleeper])
    try:
        s1 = m.sample()  # tick 1: not slow, no scan yet
        assert llama.pid not in {p.pid for p in s1.processes}
        s2 = m.sample()  # tick 2: slow, scan finds them
        found = {p.pid: p for p in s2.processes}
        assert found[llama.pid].role == "llama-server"
        assert found[lcp.pid].role == "llama-cpp-python"
        assert other.pid not in found
        assert found[llama.pid].cpu_percent is None  # first sight: no interval yet
        time.sleep(0.3)  # a measurable interval of the busy loop (at 100 Hz ticks, ~30 of them)
        s3 = m.sample()  # tick 3: same Process objects, now with an interval
        again = {p.pid: p for p in s3.processes}
        busy = again[llama.pid].cpu_percent
        assert busy is not None and 0.0 < busy <= 100.0 * (psutil.cpu_count() or 1)
        assert again[llama.pid].rss is not None and again[llama.pid].rss > 0
        assert psutil.Process(llama.pid).memory_info().rss > 0
    finally:
        for child in (llama, lcp, other):
            child.kill()
            child.wait()
    s4 = m.sample()  # an ended process is dropped on the next read, not only at the next scan
    assert llama.pid not in {p.pid for p in s4.processes}
    assert os.getpid() in {p.pid for p in s4.processes}
    m.close()


def test_tracker_without_self_is_empty_until_it_finds_something() -> None:
    tracker = ProcessTracker(lambda argv: None, include_self=False)
    tracker.rescan()
    assert tracker.read() == () and tracker.pids == frozenset()


# ------------------------------------------------------------------------- recorded and replay


def _fixture() -> list[Sample]:
    return load_samples(FIXTURE)


def test_fixture_is_a_realistic_recording() -> None:
    samples = _fixture()
    assert len(samples) >= 120
    times = [s.time for s in samples]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] - times[0] >= 110
    for s in samples:
        assert 0 <= s.cpu_percent <= 100 and all(0 <= c <= 100 for c in s.cpu_per_core)
        assert 0 < s.ram_available <= s.ram_total
        assert len(s.gpus) == 1
        g = s.gpus[0]
        assert g.memory_used is not None and g.memory_total is not None
        assert 0 <= g.memory_used <= g.memory_total
        assert g.util_percent is not None and 0 <= g.util_percent <= 100
    assert any(s.loaded_models for s in samples) and any(not s.loaded_models for s in samples)
    assert {p.role for s in samples for p in s.processes} >= {"ollama", "ollama-runner", "slmdeck"}


def test_replay_steps_through_the_recording_then_holds_still() -> None:
    samples = _fixture()[:4]
    m = Monitor.replay(samples)
    assert [m.sample() for _ in range(4)] == samples
    assert m.history("cpu") == tuple(s.cpu_percent for s in samples)
    assert m.sample() == samples[-1]
    # Held still: no duplicate appended once the recording ran out.
    assert len(m.history("cpu")) == 4
    assert m.interval == pytest.approx(samples[1].time - samples[0].time)


def test_replay_preloaded_fills_history_and_answers_free_memory() -> None:
    samples = _fixture()
    m = Monitor.replay(samples, preload=True, history_size=60)
    last = samples[-1]
    assert m.latest == last
    assert m.history("gpu0.temp") == tuple(s.gpus[0].temperature_c for s in samples[-60:])
    assert len(m.history("core7")) == 60
    assert m.free_ram() == last.ram_available
    assert m.free_vram() == last.gpus[0].memory_free
    assert m.free_vram(gpu=0) == last.gpus[0].memory_free
    assert m.free_vram(gpu=3) is None
    with pytest.raises(ValueError, match="no recorded samples"):
        Monitor.replay([])


def test_loaded_models_come_from_the_caller() -> None:
    model = RunningModel(name="qwen3:0.6b", backend="ollama", size=523_000_000, size_vram=0)
    m = Monitor()
    assert m.sample().loaded_models == ()
    m.set_loaded_models([model])
    assert m.sample().loaded_models == (model,)
    m.close()
    r = Monitor.replay(_fixture()[:2])
    r.set_loaded_models([])
    assert r.sample().loaded_models == ()


def test_samples_round_trip_through_json(tmp_path: Path) -> None:
    samples = _fixture()
    with_expiry = replace(
        samples[50],
        loaded_models=(
            RunningModel("m", "ollama", 1, 1, datetime(2026, 1, 1, 10, 0, tzinfo=UTC), 2048),
        ),
    )
    path = tmp_path / "rec.json"
    dump_samples([*samples, with_expiry], path, source="test")
    assert load_samples(path) == [*samples, with_expiry]
    live = Monitor()
    s = live.sample()
    live.close()
    assert Sample.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_bad_recordings_give_readable_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_samples(bad)
    bad.write_text(json.dumps({"format": 99, "samples": []}))
    with pytest.raises(ValueError, match="format 99"):
        load_samples(bad)
    bad.write_text(json.dumps({"format": 1, "samples": [{"tick": 0}]}))
    with pytest.raises(ValueError, match="sample 0 is not a monitor sample"):
        load_samples(bad)


async def test_run_loop_feeds_the_callback_until_cancelled() -> None:
    m = Monitor.replay(_fixture()[:10])
    got: list[Sample] = []
    three = asyncio.Event()

    async def callback(sample: Sample) -> None:
        got.append(sample)
        if len(got) == 3:
            three.set()

    task = asyncio.create_task(m.run(callback, interval=0.01))
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [s.tick for s in got[:3]] == [0, 1, 2]


# ------------------------------------------------------------------------------ import hygiene


def test_importing_the_monitor_does_not_load_nvml_or_textual() -> None:
    code = (
        "import sys, tui.monitor\n"
        "print('pynvml' in sys.modules, 'textual' in sys.modules)\n"
        "m = tui.monitor.Monitor()\n"
        "print('pynvml' in sys.modules)\n"
        "m.sample()\n"
        "print('pynvml' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split()
    # Not at import, not at construction; on the first reading (first use) it is.
    assert out == ["False", "False", "False", "True"]


# ---------------------------------------------------------------------------------- formatting


def test_formatting_helpers() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(5 * 2**30) == "5.0 GiB"
    assert format_bytes(None) == "N/A"
    assert format_rate(2048) == "2.0 KiB/s"
    assert format_percent(None) == "N/A" and format_percent(12.345) == "12.3 %"


def test_text_table_shows_gpu_and_na() -> None:
    s = _fixture()[45]
    text = top.format_text(s)
    assert "GPU0" in text and "NVIDIA RTX A2000 12GB" in text and "°C" in text
    assert "ollama runner" in text and "qwen2.5:7b-instruct-q4_K_M" in text
    g = replace(s.gpus[0], temperature_c=None, power_w=None, util_percent=None)
    na = top.format_text(replace(s, gpus=(g,)))
    gpu_line = next(line for line in na.splitlines() if line.startswith("GPU0"))
    # Temperature and power N/A; a utilisation the driver does not give is "load n/a".
    assert gpu_line.count("N/A") == 2 and "load n/a" in gpu_line
    no_gpu = top.format_text(
        replace(s, gpus=(), gpu_status="no GPU: the NVIDIA driver is not loaded")
    )
    assert "GPU   no GPU: the NVIDIA driver is not loaded" in no_gpu


# ---------------------------------------------------------------------------------- slmdeck top


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slmdeck")
    top.register(parser.add_subparsers())
    return parser.parse_args(["top", *argv])


def test_top_once_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("--once", "--json")
    assert args.func is top.run
    wire_before = _wire_counters()
    assert args.func(args) == 0
    wire_after = _wire_counters()
    data = json.loads(capsys.readouterr().out)
    sample = Sample.from_dict(data)
    assert sample.tick == 1 and sample.interval > 0
    assert len(sample.cpu_per_core) == psutil.cpu_count()
    assert 0 <= sample.cpu_percent <= 100
    assert sample.net_rx_rate is not None and sample.net_tx_rate is not None
    assert 0 <= sample.net_rx_rate * sample.interval <= wire_after[0] - wire_before[0] + 1e-6
    assert 0 <= sample.net_tx_rate * sample.interval <= wire_after[1] - wire_before[1] + 1e-6
    me = next(p for p in sample.processes if p.pid == os.getpid())
    assert me.cpu_percent is not None  # two readings apart: a real figure
    assert sample.gpus or sample.gpu_status


def test_top_once_text(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("--once")
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for label in ("CPU ", "RAM ", "Swap", "Net ", "GPU", "PID"):
        assert label in out
    assert "slmdeck" in out


def test_top_refuses_a_bad_interval(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("0", "-1", "nan", "inf"):
        args = _parse("--once", "--interval", value)
        assert args.func(args) == 2
        assert "--interval must be a positive number of seconds" in capsys.readouterr().err


_DRIVER = (
    "import argparse, sys\n"
    "from tui.commands import top\n"
    "p = argparse.ArgumentParser(); top.register(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def _top_process(*argv: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, "top", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A safety net only (a hung child must not hang the suite); no assertion depends on time.
    guard = threading.Timer(60, proc.kill)
    guard.daemon = True
    guard.start()
    return proc


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_top_repeats_until_ctrl_c(stop: signal.Signals) -> None:
    """Ctrl+C (or SIGTERM) ends the loop between readings, however busy the reading was: a flag,
    not a KeyboardInterrupt that a ``__del__`` could swallow."""
    proc = _top_process("--json", "--interval", "0.2")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        ticks = [json.loads(line)["tick"] for line in lines]
        assert ticks == [1, 2, 3]
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_top_stops_quietly_when_the_reader_goes_away() -> None:
    proc = _top_process("--json", "--interval", "0.1")
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["tick"] == 1
        proc.stdout.close()  # like `slmdeck top --json | head -1`
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert err == ""


def test_a_disk_is_labelled_by_its_mount_point_and_the_store_on_it(tmp_path: Path) -> None:
    from tui.monitor.live import read_disks

    store = tmp_path / "models" / "not-created-yet"
    (disk,) = read_disks([store])
    # The nearest mount point holding the store (tmp_path is on one, / at the latest).
    assert disk.mount and Path(disk.mount) in (tmp_path, *tmp_path.parents)
    assert os.path.ismount(disk.mount)
    assert disk.label == f"{disk.mount} (models in {store})"
    again = type(disk)(disk.path, disk.total, disk.used, disk.free)  # an older recording
    assert again.label == str(store)
