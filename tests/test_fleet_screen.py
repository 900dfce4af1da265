"""Pilot tests of the Fleet screen: three Ollama replay hosts with node_exporter- and GPU-exporter-
shaped ``/metrics``, polled by the controller's collector on a clock the test controls. A host that
dies goes down in its own row only; switching context makes Models list that host's models;
read-only mode hides the mutating keys and the controller refuses them."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.metrics_server import MetricsServer, metrics_server
from tests.ollama_replay import Loaded, ReplayServer, normalize_name, start_replay_server
from tests.test_fleet_collector import replay_process
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.config import Config, load_config
from tui.controller import Controller, ReadOnlyRefused, backends_for_host, build_backends
from tui.fleet.collector import FleetCollector
from tui.fleet.hosts import FleetSettings, Host
from tui.fleet.model import HostView
from tui.monitor import Monitor, load_samples
from tui.screens import fleet as fleet_screen
from tui.screens.fleet import FleetScreen, FleetTable, spark
from tui.screens.fleet import until as until_text

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
INTERVAL = 2.0
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
"""The wall clock of the screen (expiries count from it) in every test here."""
GIB = 1024**3


class Clock:
    """The collector's monotonic clock; only the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = INTERVAL) -> None:
        self.now += seconds


@dataclass
class Exporter:
    """A node_exporter and a GPU exporter (nvitop's names) for one host, on one loopback server
    answering fixed text; :meth:`step` moves the CPU counters by a chosen share."""

    server: MetricsServer
    cpu_idle: float = 10_000.0
    cpu_busy: float = 1_000.0
    ram_total: int = 16 * GIB
    ram_used: int = 4 * GIB
    gpu: float = 0.0
    vram_total: int = 8 * GIB
    vram_used: int = 2 * GIB
    cpus: int = 4
    history: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def step(self, cpu_percent: float, seconds: float = INTERVAL) -> None:
        """Counters as they are ``seconds`` later with the CPUs ``cpu_percent`` busy."""
        total = seconds * self.cpus
        self.cpu_busy += total * cpu_percent / 100.0
        self.cpu_idle += total * (1 - cpu_percent / 100.0)
        self._write()

    def _write(self) -> None:
        per_idle, per_busy = self.cpu_idle / self.cpus, self.cpu_busy / self.cpus
        lines = ["# TYPE node_cpu_seconds_total counter"]
        for cpu in range(self.cpus):
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="idle"}} {per_idle}')
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="user"}} {per_busy}')
        lines += [
            "# TYPE node_memory_MemTotal_bytes gauge",
            f"node_memory_MemTotal_bytes {self.ram_total}",
            "# TYPE node_memory_MemAvailable_bytes gauge",
            f"node_memory_MemAvailable_bytes {self.ram_total - self.ram_used}",
            "# TYPE node_filesystem_size_bytes gauge",
            'node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} '
            f"{100 * GIB}",
            "# TYPE node_filesystem_avail_bytes gauge",
            'node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} '
            f"{60 * GIB}",
            "# TYPE nvitop_gpu_utilization_percent gauge",
            f'nvitop_gpu_utilization_percent{{index="0"}} {self.gpu}',
            "# TYPE nvitop_gpu_memory_used_bytes gauge",
            f'nvitop_gpu_memory_used_bytes{{index="0"}} {self.vram_used}',
            "# TYPE nvitop_gpu_memory_total_bytes gauge",
            f'nvitop_gpu_memory_total_bytes{{index="0"}} {self.vram_total}',
        ]
        with self.server.state.lock:
            self.server.state.raw = ("\n".join(lines) + "\n").encode()


@dataclass
class Site:
    """The fleet of a test: replay hosts with their exporters."""

    replays: list[ReplayServer]
    exporters: list[Exporter]

    def hosts(self, names: list[str] | None = None) -> list[Host]:
        names = names or [f"edge-{i}" for i in range(len(self.replays))]
        return [
            Host(name, ollama=r.url, node_exporter=e.url, gpu_exporter=e.url)
            for name, r, e in zip(names, self.replays, self.exporters, strict=True)
        ]


@contextmanager
def site(count: int = 3) -> Iterator[Site]:
    with ExitStack() as stack:
        replays = [stack.enter_context(start_replay_server()) for _ in range(count)]
        exporters = [Exporter(stack.enter_context(metrics_server("vllm"))) for _ in range(count)]
        for e in exporters:
            e.step(0.0)
        yield Site(replays, exporters)


def load(replay: ReplayServer, name: str, ctx: int = 4096, expires: datetime | None = None) -> None:
    """Make the replay report ``name`` as loaded until ``expires`` (default: 30 min after NOW)."""
    when = expires or datetime(2030, 1, 1, 12, 30, tzinfo=UTC)
    with replay.state.lock:
        replay.state.loaded[normalize_name(name)] = Loaded(name, int(when.timestamp()) * 10**9, ctx)


def add_model(replay: ReplayServer, name: str) -> None:
    """Install a copy of the replay's first seed model as ``name`` (so hosts differ)."""
    with replay.state.lock:
        seed = next(iter(replay.state.models.values()))
    replay.state.add_model(dataclasses.replace(seed, name=name))


@pytest.fixture(autouse=True)
def fixed_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet_screen, "wall_clock", lambda: NOW)


def fleet_app(
    hosts: list[Host],
    clock: Clock,
    *,
    readonly: bool = False,
    start_screen: str = "fleet",
    config: Config | None = None,
    http: httpx.AsyncClient | None = None,
) -> tuple[SlmdeckApp, FleetCollector]:
    """The app with these hosts (after the local one); its collector polls only when told."""
    cfg = config or load_config()
    cfg.probe_timeout = REACHABLE
    cfg.retry_interval = 0
    cfg.model_dirs = []
    settings = FleetSettings(interval=INTERVAL, timeout=REACHABLE, readonly=readonly)
    local = cfg.hosts[0] if cfg.hosts else Host("local", ollama=f"http://{cfg.ollama_host}")
    every = [local, *hosts]
    controller = Controller(
        build_backends(cfg),
        probe_timeout=REACHABLE,
        retry_interval=0,
        monitor=Monitor.replay(SAMPLES, preload=True),
        data_dir=Path(os.environ["SLMDECK_DATA_DIR"]),
        hosts=every,
        fleet_settings=settings,
        host_backends=lambda h: backends_for_host(cfg, h),
    )
    collector = FleetCollector(every, settings, clock=clock, http=http)
    controller.start_fleet(collector, run=False)
    return make_app(cfg, controller=controller, start_screen=start_screen), collector


def rows(app: SlmdeckApp) -> dict[str, HostView]:
    table = app.screen.query_one(FleetTable)
    return {r.view.name: r.view for r in table.shown}


def row_text(app: SlmdeckApp, name: str) -> str:
    table = app.screen.query_one(FleetTable)
    index = [r.key for r in table.shown].index(name)
    return table.render_line(index + 1 - round(table.scroll_y)).text


async def test_shows_each_hosts_models_and_load_and_one_dead_host_only_downs_its_row() -> None:
    clock = Clock()
    with site(2) as fleet, replay_process() as (victim_url, victim):
        load(fleet.replays[0], "qwen3:0.6b", 4096)
        load(fleet.replays[1], "llama3.2", 8192)
        fleet.exporters[1].gpu = 75.0
        fleet.exporters[1].vram_used = 6 * GIB
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            answer = await client.post(
                victim_url + "/api/generate", json={"model": "qwen2.5:0.5b", "keep_alive": "1h"}
            )
            answer.raise_for_status()
        # edge-2 runs in a process of its own, so that killing it closes its connections.
        hosts = [*fleet.hosts(), Host("edge-2", ollama=victim_url)]
        app, collector = fleet_app(hosts, clock)
        async with app.run_test(size=(120, 30)) as pilot:
            assert isinstance(app.screen, FleetScreen)
            for cpu in (10.0, 20.0, 40.0):
                for i, e in enumerate(fleet.exporters):
                    e.step(cpu * (i + 1))
                clock.advance()
                await collector.poll_once()

            def polled() -> bool:
                view = rows(app).get("edge-0")
                return view is not None and len(view.cpu_percent.history) == 2

            await until(pilot, polled, "figures")
            views = rows(app)
            assert list(views) == ["edge-0", "edge-1", "edge-2", "local"]
            assert views["local"].reachable is False  # its Ollama is a closed port
            assert [m.name for m in views["edge-0"].loaded] == ["qwen3:0.6b"]
            assert [m.name for m in views["edge-1"].loaded] == ["llama3.2:latest"]
            assert [m.name for m in views["edge-2"].loaded] == ["qwen2.5:0.5b"]
            assert views["edge-0"].cpu_percent.now == pytest.approx(40.0)
            assert views["edge-1"].cpu_percent.now == pytest.approx(80.0)
            assert views["edge-0"].ram_percent.now == pytest.approx(25.0)
            assert views["edge-1"].gpu_percent.now == pytest.approx(75.0)
            line = row_text(app, "edge-0")
            assert "qwen3:0.6b" in line and "4K" in line and "30m" in line, line
            assert " 40% " in line, line
            assert spark([20.0, 40.0], 4) in line, line
            assert "100%GPU" in line  # the replay holds it all in VRAM
            assert "down" in row_text(app, "local")

            # The highlighted host's details: every loaded model, every endpoint.
            await pilot.press("down")
            await pilot.pause()
            details = str(app.screen.query_one("#fleet-details").render())
            assert "edge-1" in details and "llama3.2:latest" in details
            assert "ctx 8192" in details and "unloads in 30m" in details
            assert "VRAM 75% (6.0 GiB of 8.0 GiB)" in details, details

            # edge-2 dies: after one interval only its row is down, with the reason.
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
            for e in fleet.exporters:
                e.step(50.0)
            load(fleet.replays[1], "qwen2.5:0.5b", 2048)
            clock.advance()
            await collector.poll_once()
            await until(pilot, lambda: rows(app)["edge-2"].reachable is False, "edge-2 down")
            views = rows(app)
            assert views["edge-0"].reachable and views["edge-1"].reachable
            assert views["edge-0"].cpu_percent.now == pytest.approx(50.0)
            assert views["edge-1"].cpu_percent.now == pytest.approx(50.0)
            assert {m.name for m in views["edge-1"].loaded} == {"llama3.2:latest", "qwen2.5:0.5b"}
            assert views["edge-2"].loaded == ()
            assert views["edge-2"].reason.startswith(f"ollama {victim_url}/api/ps: ")
            assert "down" in row_text(app, "edge-2")
            assert "ollama: " in row_text(app, "edge-2"), row_text(app, "edge-2")
            assert "down" not in row_text(app, "edge-0") + row_text(app, "edge-1")
            assert "+1" in row_text(app, "edge-1")


async def test_a_host_answering_garbage_degrades_its_own_row() -> None:
    clock = Clock()
    with site(2) as fleet:
        with fleet.exporters[0].server.state.lock:
            fleet.exporters[0].server.state.raw = b"\x00\xffnot [/] metrics {{{\n"
        app, collector = fleet_app(fleet.hosts(), clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await collector.poll_once()
            await until(pilot, lambda: rows(app)["edge-1"].reachable, "edge-1 polled")
            views = rows(app)
            assert views["edge-0"].reachable is True  # Ollama answers
            assert views["edge-0"].cpu_percent.now is None
            assert "node_exporter" in views["edge-0"].reason
            assert "part" in row_text(app, "edge-0")
            assert views["edge-1"].reason == ""


async def test_switching_context_lists_that_hosts_models_on_models() -> None:
    clock = Clock()
    with site() as fleet:
        add_model(fleet.replays[2], "only-on-edge-2:latest")
        app, collector = fleet_app(fleet.hosts(), clock)
        async with app.run_test(size=(100, 30)) as pilot:
            await collector.poll_once()
            await until(pilot, lambda: rows(app)["edge-2"].reachable, "polled")
            table = app.screen.query_one(FleetTable)
            table.move_cursor(row=[r.key for r in table.shown].index("edge-2"))
            await pilot.pause()
            await pilot.press("enter")
            controller = app.controller
            await until(pilot, lambda: controller.current_host == "edge-2", "switched")
            assert app.sub_title == "host edge-2"
            await until(pilot, lambda: "▶ edge-2" in row_text(app, "edge-2"), "marked current")
            await pilot.press("2")
            from tui.screens.models import ModelsScreen
            from tui.widgets.model_table import ModelTable

            await until(pilot, lambda: isinstance(app.screen, ModelsScreen), "models shown")

            def names() -> set[str]:
                return {r.info.name for r in app.screen.query_one(ModelTable).shown}

            await until(pilot, lambda: "only-on-edge-2:latest" in names(), "edge-2's models")
            assert all(r.info.backend == "ollama" for r in app.screen.query_one(ModelTable).shown)
            assert controller.backends["ollama"].location.startswith(fleet.replays[2].url)

            # And back: the other hosts' own lists, not edge-2's.
            await controller.use_host("edge-0")
            await until(pilot, lambda: names() and "only-on-edge-2:latest" not in names(), "edge-0")
            assert app.sub_title == "host edge-0"


async def test_read_only_hides_mutating_keys_and_the_controller_refuses() -> None:
    clock = Clock()
    with site(1) as fleet:
        load(fleet.replays[0], "qwen3:0.6b")
        app, _ = fleet_app(fleet.hosts(), clock, readonly=True, start_screen="models")
        async with app.run_test(size=(100, 30)) as pilot:
            controller = app.controller
            await controller.use_host("edge-0")
            await controller.refresh_all()
            await controller.refresh_loaded_models()
            await pilot.pause()
            from tui.screens.models import ModelsScreen

            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            await until(pilot, lambda: screen.table.shown, "models listed")
            screen.reload()
            await pilot.pause()
            assert controller.read_only("ollama")
            assert "read-only" in app.sub_title
            for action in ("pull", "delete", "copy", "rename", "unload", "import_gguf"):
                assert not screen.check_action(action, ()), action
            assert screen.check_action("edit", ())
            for call in (
                lambda: controller.pull("ollama", "qwen3:0.6b"),
                lambda: controller.import_gguf("ollama", Path("x.gguf"), "x"),
            ):
                with pytest.raises(ReadOnlyRefused, match="refused: slmdeck runs read-only"):
                    call()
            for name, coro in (
                ("delete", lambda: controller.delete("ollama", "qwen3:0.6b")),
                ("copy", lambda: controller.copy("ollama", "qwen3:0.6b", "b")),
                ("rename", lambda: controller.rename("ollama", "qwen3:0.6b", "b")),
                ("unload", lambda: controller.unload("ollama", "qwen3:0.6b")),
            ):
                with pytest.raises(ReadOnlyRefused, match=f"{name} refused"):
                    await coro()
            paths = {r.path for r in fleet.replays[0].requests}
            assert not paths & {"/api/delete", "/api/copy", "/api/pull", "/api/generate"}
            await pilot.press("5")
            await pilot.pause()
            assert not app.screen.check_action("unload", ())


async def test_a_read_only_host_only_refuses_there() -> None:
    clock = Clock()
    with site(2) as fleet:
        hosts = fleet.hosts()
        hosts[1] = dataclasses.replace(hosts[1], readonly=True)
        app, _ = fleet_app(hosts, clock)
        async with app.run_test(size=(100, 30)):
            controller = app.controller
            await controller.use_host("edge-0")
            assert not controller.read_only()
            await controller.use_host("edge-1")
            assert controller.read_only()
            with pytest.raises(ReadOnlyRefused, match="host 'edge-1' is read-only"):
                await controller.delete("ollama", "llama3.2")
            assert app.sub_title == "host edge-1 · read-only"


async def test_filter_and_sort() -> None:
    clock = Clock()
    with site() as fleet:
        load(fleet.replays[1], "llama3.2")
        app, collector = fleet_app(fleet.hosts(["alpha", "bravo", "charlie"]), clock)
        async with app.run_test(size=(80, 24)) as pilot:
            for cpu in (0.0, 0.0):
                for i, e in enumerate(fleet.exporters):
                    e.step([30.0, 10.0, 20.0][i] + cpu)
                clock.advance()
                await collector.poll_once()
            await until(pilot, lambda: rows(app)["charlie"].cpu_percent.now is not None, "cpu")
            await pilot.press("slash", *"llama3")
            await pilot.pause()
            assert list(rows(app)) == ["bravo"]
            await pilot.press("escape")
            await pilot.pause()
            assert len(rows(app)) == 4
            table = app.screen.query_one(FleetTable)
            while table.sort_column != "cpu":
                await pilot.press("s")
            assert list(rows(app)) == ["bravo", "charlie", "alpha", "local"]  # unknown last
            await pilot.press("S")
            assert list(rows(app)) == ["alpha", "charlie", "bravo", "local"]


async def test_hidden_fleet_screen_does_no_work_for_updates() -> None:
    clock = Clock()
    with site(1) as fleet:
        app, collector = fleet_app(fleet.hosts(), clock)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, FleetScreen)
            shown: list[int] = []
            original = screen._show
            screen._show = lambda views: (shown.append(len(views)), original(views))  # type: ignore[method-assign]
            await pilot.press("1")
            await pilot.pause()
            for _ in range(3):
                clock.advance()
                await collector.poll_once()
            await pilot.pause()
            assert shown == []
            await pilot.press("8")
            await until(pilot, lambda: shown, "caught up")
            assert shown == [2]  # the latest only


def test_text_helpers() -> None:
    assert spark([], 4) == ""
    assert spark([0, 50, 100], 5) == "▁▅█"
    assert spark([10, 20, 40, 60, 80, 100], 3) == "▅▇█"
    assert spark([0, 0], 2, top=None) == "▁▁"
    assert until_text(None, NOW) == "–"
    assert until_text(datetime(2030, 1, 1, 12, 4, tzinfo=UTC), NOW) == "4m"
    assert until_text(datetime(2029, 1, 1, tzinfo=UTC), NOW) == "now"
    assert until_text(datetime(2318, 1, 1, tzinfo=UTC), NOW) == "never"


def test_config_reads_hosts_and_fleet_and_keeps_them_on_save(tmp_path: Path) -> None:
    from tui.config import save_config

    path = Path(os.environ["SLMDECK_CONFIG"])
    path.write_text(
        '[ui]\ntheme = "slmdeck-dark"\n'
        "[fleet]\ninterval = 5.0\nreadonly = true\n"
        '[[hosts]]\nname = "edge-5"\nollama = "http://10.0.0.5:11434"\n'
        'openai = [{ name = "vllm", url = "http://10.0.0.5:8000/v1" }]\n'
        '[[hosts]]\nname = "bad"\nollama = "ftp://x"\n'
    )
    cfg = load_config()
    assert [h.name for h in cfg.hosts] == ["local", "edge-5"]
    assert cfg.hosts[0].ollama == f"http://{os.environ['OLLAMA_HOST']}"
    assert cfg.hosts[1].openai[0].url == "http://10.0.0.5:8000/v1"
    assert cfg.fleet.interval == 5.0 and cfg.fleet.readonly
    assert any("ftp://x" in p for p in cfg.problems)
    cfg.theme = "textual-dark"
    save_config(cfg)
    again = load_config()
    assert again.theme == "textual-dark"
    assert [h.name for h in again.hosts] == ["local", "edge-5"] and again.fleet.readonly


def test_cli_models_host_and_readonly(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tui.cli import _ui_config, build_parser, main

    with start_replay_server() as replay:
        add_model(replay, "only-on-edge-5:latest")
        Path(os.environ["SLMDECK_CONFIG"]).write_text(
            f"[backends]\nprobe_timeout = {REACHABLE}\n"
            f'[[hosts]]\nname = "edge-5"\nollama = "{replay.url}"\n'
        )
        assert main(["models", "--host", "edge-5", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert "only-on-edge-5:latest" in {m["name"] for m in out["models"]}
        assert [b["id"] for b in out["backends"]] == ["ollama"]
        assert out["backends"][0]["status"] == "up"
        assert main(["models"]) == 0  # here: the local Ollama (a closed port) has none
        assert "only-on-edge-5" not in capsys.readouterr().out
        with pytest.raises(SystemExit) as exit_:
            main(["models", "--host", "nowhere"])
        assert exit_.value.code == 2
        assert "No host named 'nowhere'" in capsys.readouterr().err
    args = build_parser().parse_args(["ui", "--readonly"])
    assert _ui_config(args).fleet.readonly
    assert not _ui_config(build_parser().parse_args(["ui"])).fleet.readonly
    assert build_parser().parse_args(["fleet", "--json"]).json
