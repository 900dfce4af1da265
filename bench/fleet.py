"""What polling a fleet costs slmdeck: 100 loopback hosts polled every 2 s for about a minute.

Each host is a port of a light stub server (in its own process, so its work is not counted) that
answers Ollama's ``/api/ps`` and ``/api/tags`` and a node_exporter's ``/metrics`` (an 8-CPU host's
cpu, meminfo and filesystem series, as ``collect[]`` asks). Three cases, each in a fresh process:

* ``collector``: only the :class:`~tui.fleet.collector.FleetCollector` (what the controller runs
  whether or not the Fleet screen is shown); idle is before the first poll.
* ``shown``: the whole app, headless (``run_test``, 100x30), on the Fleet screen;
* ``hidden``: the whole app on the Backends screen, the fleet polled all the same.

For the app cases, idle is the app on that screen with the fleet not yet polling (its own
resource sampler runs in both), measured for as long as the polled part; the figures are the
difference. CPU is % of one core from the process' own times per poll interval; RSS above idle;
median and worst.

Target: ≤ 3 % of a core and ≤ 10 MiB above idle.

    .venv/bin/python bench/fleet.py [--hosts 100] [--interval 2] [--duration 60] [--case all]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _node_text() -> bytes:
    lines = [
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
        "# TYPE node_cpu_seconds_total counter",
    ]
    t = time.monotonic()
    for cpu in range(8):
        for mode, share in (
            ("idle", 0.7),
            ("iowait", 0.01),
            ("irq", 0.0),
            ("nice", 0.0),
            ("softirq", 0.01),
            ("steal", 0.0),
            ("system", 0.08),
            ("user", 0.2),
        ):
            lines.append(
                f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} {1e5 + t * share:.2f}'
            )
    for name in (
        "Active",
        "Buffers",
        "Cached",
        "Dirty",
        "Inactive",
        "Mapped",
        "Shmem",
        "Slab",
        "SwapCached",
        "SwapFree",
        "SwapTotal",
        "Writeback",
    ):
        lines += [f"# TYPE node_memory_{name}_bytes gauge", f"node_memory_{name}_bytes 1.234e+09"]
    lines += [
        "# TYPE node_memory_MemAvailable_bytes gauge",
        "node_memory_MemAvailable_bytes 2.4e+10",
    ]
    lines += ["# TYPE node_memory_MemFree_bytes gauge", "node_memory_MemFree_bytes 2.2e+10"]
    lines += ["# TYPE node_memory_MemTotal_bytes gauge", "node_memory_MemTotal_bytes 3.2e+10"]
    for metric in ("avail", "free", "size", "files", "files_free", "readonly", "device_error"):
        lines.append(f"# TYPE node_filesystem_{metric}_bytes gauge")
        for dev, fs, mnt in (
            ("/dev/nvme0n1p2", "ext4", "/"),
            ("/dev/nvme0n1p1", "vfat", "/boot/efi"),
            ("tmpfs", "tmpfs", "/run"),
        ):
            lines.append(
                f'node_filesystem_{metric}_bytes{{device="{dev}",fstype="{fs}",mountpoint="{mnt}"}} 5.1e+11'
            )
    lines.append('node_scrape_collector_success{collector="cpu"} 1')
    return ("\n".join(lines) + "\n").encode()


PS = json.dumps(
    {
        "models": [
            {
                "name": "qwen3:0.6b",
                "model": "qwen3:0.6b",
                "size": 1_600_000_000,
                "digest": "7df6b6e09427",
                "details": {
                    "format": "gguf",
                    "family": "qwen3",
                    "parameter_size": "751.63M",
                    "quantization_level": "Q4_K_M",
                },
                "expires_at": "2099-01-01T00:00:00.000000000Z",
                "size_vram": 1_600_000_000,
                "context_length": 4096,
            }
        ]
    }
).encode()
TAGS = json.dumps({"models": [{"name": f"m{i}:latest", "size": 1} for i in range(5)]}).encode()


class _Stub(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].split(b"?")[0]
            if path == b"/api/ps":
                body, ctype = PS, b"application/json; charset=utf-8"
            elif path == b"/api/tags":
                body, ctype = TAGS, b"application/json; charset=utf-8"
            elif path == b"/metrics":
                body, ctype = _node_text(), b"text/plain; version=0.0.4"
            else:
                body, ctype = b"404 page not found", b"text/plain"
            status = b"200 OK" if ctype != b"text/plain" else b"404 Not Found"
            self.t.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + ctype
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


async def _serve(count: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(_Stub, "127.0.0.1", 0) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


async def _measure(ports: list[int], interval: float, duration: float) -> dict[str, float]:
    import psutil

    from tui.fleet.collector import FleetCollector
    from tui.fleet.hosts import FleetSettings, Host

    me = psutil.Process()
    hosts = [
        Host(f"edge-{i:03d}", ollama=f"http://127.0.0.1:{p}", node_exporter=f"http://127.0.0.1:{p}")
        for i, p in enumerate(ports)
    ]
    fleet = FleetCollector(hosts, FleetSettings(interval=interval, timeout=2.0))
    idle_rss = me.memory_info().rss
    cpu: list[float] = []
    rss: list[float] = []
    await fleet.start()
    try:
        await asyncio.sleep(interval * 2)  # warm-up: connections opened, first rates
        last_cpu, last_wall = time.process_time(), time.monotonic()
        end = last_wall + duration
        while time.monotonic() < end:
            await asyncio.sleep(interval)
            now_cpu, now_wall = time.process_time(), time.monotonic()
            cpu.append(100.0 * (now_cpu - last_cpu) / (now_wall - last_wall))
            rss.append((me.memory_info().rss - idle_rss) / 2**20)
            last_cpu, last_wall = now_cpu, now_wall
        views = fleet.snapshot()
    finally:
        await fleet.aclose()
    up = sum(1 for v in views if v.reachable)
    return {
        "hosts": len(hosts),
        "up": up,
        "polls": fleet.polls,
        "cpu_median": statistics.median(cpu),
        "cpu_worst": max(cpu),
        "rss_median": statistics.median(rss),
        "rss_worst": max(rss),
        "idle_rss": idle_rss / 2**20,
    }


async def _measure_app(
    ports: list[int], interval: float, duration: float, screen: str
) -> dict[str, float]:
    """The app on ``screen``: idle first (no fleet polling), then with the fleet polled."""
    import psutil

    from tui.app import make_app
    from tui.config import Config
    from tui.controller import Controller, build_backends
    from tui.fleet.collector import FleetCollector
    from tui.fleet.hosts import FleetSettings, Host

    me = psutil.Process()
    hosts = [Host("local")] + [
        Host(f"edge-{i:03d}", ollama=f"http://127.0.0.1:{p}", node_exporter=f"http://127.0.0.1:{p}")
        for i, p in enumerate(ports)
    ]
    cfg = Config()
    cfg.ollama_enabled = False
    cfg.model_dirs = []
    settings = FleetSettings(interval=interval, timeout=2.0)
    controller = Controller(
        build_backends(cfg), retry_interval=0, hosts=hosts, fleet_settings=settings
    )
    # The controller's collector, polling only when told: idle first, then polled.
    fleet = FleetCollector(hosts, settings)
    controller.start_fleet(fleet, run=False)
    app = make_app(cfg, controller=controller, start_screen=screen)

    async def phase() -> tuple[list[float], list[float]]:
        cpu: list[float] = []
        rss: list[float] = []
        last_cpu, last_wall = time.process_time(), time.monotonic()
        end = last_wall + duration
        while time.monotonic() < end:
            await asyncio.sleep(interval)
            now_cpu, now_wall = time.process_time(), time.monotonic()
            cpu.append(100.0 * (now_cpu - last_cpu) / (now_wall - last_wall))
            rss.append(me.memory_info().rss / 2**20)
            last_cpu, last_wall = now_cpu, now_wall
        return cpu, rss

    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await asyncio.sleep(interval * 2)
        idle_cpu, idle_rss = await phase()
        await fleet.start()
        await asyncio.sleep(interval * 2)  # warm-up: connections opened, first rates
        cpu, rss = await phase()
        views = fleet.snapshot()
        shown = type(app.screen).__name__
    base_cpu, base_rss = statistics.median(idle_cpu), statistics.median(idle_rss)
    return {
        "hosts": len(ports),
        "up": sum(1 for v in views if v.reachable),
        "polls": fleet.polls,
        "screen": shown,  # type: ignore[dict-item]
        "cpu_median": statistics.median(cpu) - base_cpu,
        "cpu_worst": max(cpu) - base_cpu,
        "rss_median": statistics.median(rss) - base_rss,
        "rss_worst": max(rss) - base_rss,
        "idle_cpu": base_cpu,
        "idle_rss": base_rss,
    }


def _case(case: str, ports: list[int], interval: float, duration: float) -> None:
    if case == "collector":
        r = asyncio.run(_measure(ports, interval, duration))
        r["screen"] = "no app"  # type: ignore[assignment]
        r["idle_cpu"] = 0.0
    else:
        screen = "fleet" if case == "shown" else "backends"
        r = asyncio.run(_measure_app(ports, interval, duration, screen))
    print(json.dumps(r), flush=True)


def _report(case: str, r: dict[str, Any], interval: float, duration: float) -> None:
    print(
        f"{case} ({r['screen']}): {r['hosts']:.0f} hosts ({r['up']:.0f} up), every {interval:g} s"
        f" for {duration:g} s, {r['polls']:.0f} polls"
    )
    print(
        f"  CPU above idle (% of one core)  median {r['cpu_median']:5.2f}   worst"
        f" {r['cpu_worst']:5.2f}   target <= 3 (idle {r['idle_cpu']:.2f})"
    )
    print(
        f"  RSS above idle (MiB)            median {r['rss_median']:5.2f}   worst"
        f" {r['rss_worst']:5.2f}   target <= 10 (idle {r['idle_rss']:.1f} MiB)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument(
        "--case", choices=("all", "collector", "shown", "hidden"), default="all", help="what to run"
    )
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if args.ports:  # one case, in this fresh process
        _case(args.case, json.loads(args.ports), args.interval, args.duration)
        return 0
    stub = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.hosts)],
        stdout=subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    cases = ("collector", "shown", "hidden") if args.case == "all" else (args.case,)
    try:
        assert stub.stdout is not None
        ports = stub.stdout.readline().decode().strip()
        for case in cases:
            run = subprocess.run(
                [
                    *(sys.executable, __file__, "--case", case, "--ports", ports),
                    *("--interval", str(args.interval), "--duration", str(args.duration)),
                ],
                capture_output=True,
                text=True,
                env=os.environ | {"PYTHONPATH": str(REPO)},
                check=False,
            )
            if run.returncode != 0:
                print(f"{case}: failed\n{run.stderr[-2000:]}", file=sys.stderr)
                return 1
            _report(
                case, json.loads(run.stdout.strip().splitlines()[-1]), args.interval, args.duration
            )
    finally:
        stub.kill()
        stub.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
