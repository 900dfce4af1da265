"""GPU samplers beyond NVML (amdgpu, i915/xe, Jetson) against recorded sysfs trees.

The trees in ``tests/fixtures/sysfs`` hold the files and units the kernel documents (see their
README); every expected figure below is worked out by hand from those files. NVML is never asked
for a copied tree, so these tests read the same on a machine with an NVIDIA driver.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tui.core.quant import GIB, FitLevel, MemoryPool, Placement, fit_level
from tui.monitor import Monitor
from tui.monitor.gpu_auto import AutoGpuReader
from tui.monitor.live import LiveSource
from tui.monitor.resources import detect_memory, free_ram, pool_from
from tui.monitor.sample import GpuSample, Sample
from tui.monitor.sysfs import ROOT_ENV, read_meminfo, sys_root
from tui.screens.monitor import resource_rows

TREES = Path(__file__).parent / "fixtures" / "sysfs"
MIB = 1024**2


def _read(tree: str | Path) -> tuple[AutoGpuReader, tuple[GpuSample, ...]]:
    root = TREES / tree if isinstance(tree, str) else tree
    reader = AutoGpuReader(root, nvml=None)
    return reader, reader.read(True)


def _copy(tree: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(TREES / tree, tmp_path / tree))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


# ------------------------------------------------------------------------------------ samplers


def test_amd_discrete_card_values_and_units() -> None:
    reader, (g,) = _read("amd_dgpu")
    assert reader.kind == "amdgpu" and reader.status == ""
    assert g.index == 0 and g.name == "AMD Radeon GPU [1002:744c]"
    assert g.util_percent == 37.0  # gpu_busy_percent
    # mem_info_vram_* are bytes: 24 GiB card, 4 GiB in use by another process.
    assert (g.memory_total, g.memory_used, g.memory_free) == (24576 * MIB, 4096 * MIB, 20480 * MIB)
    assert g.memory_percent == pytest.approx(100 * 4 / 24)
    assert g.temperature_c == 54.0  # temp1_input 54000 m°C (edge, not junction's 61000)
    assert g.power_w == 78.0 and g.power_limit_w == 327.0  # power1_average / power1_cap in µW
    assert g.freq_mhz == 2400.0  # freq1_input in Hz
    assert (g.shared_used, g.shared_total) == (100 * MIB, 16 * GIB)  # GTT
    assert g.driver == "amdgpu" and not g.unified and not g.memory_is_ram


def test_amd_apu_is_unified_with_a_carve_out() -> None:
    _, (g,) = _read("amd_apu")
    # No mem_info_vram_vendor: amdgpu hides it where there is no VRAM vendor, i.e. an APU.
    assert g.unified and not g.memory_is_ram
    assert g.name == "AMD Radeon Graphics (APU) [1002:15bf]"
    assert (g.memory_total, g.memory_used, g.memory_free) == (512 * MIB, 256 * MIB, 256 * MIB)
    assert (g.shared_used, g.shared_total) == (1 * GIB, 15 * GIB)
    assert g.util_percent == 12.0 and g.temperature_c == 48.0
    assert g.power_w == 9.0 and g.power_limit_w is None  # power1_input (newer kernels), no cap


def test_intel_igpu_says_load_na_and_shares_ram() -> None:
    reader, (g,) = _read("intel_igpu")
    assert reader.kind == "i915" and g.name == "Intel Graphics [8086:46a6]"
    assert g.util_percent is None and g.note.startswith("load n/a")
    assert (g.freq_mhz, g.freq_max_mhz) == (700.0, 1400.0)  # gt_cur/max_freq_mhz
    # An iGPU's memory is system RAM: /proc/meminfo's 16 GiB total, 9 GiB available.
    assert (g.memory_total, g.memory_free, g.memory_used) == (16 * GIB, 9 * GIB, 7 * GIB)
    assert g.unified and g.memory_is_ram
    assert g.temperature_c is None and g.power_w is None  # no hwmon on an iGPU


def test_intel_xe_discrete_card(tmp_path: Path) -> None:
    card = tmp_path / "sys/class/drm/card0"
    _write(card / "device/vendor", "0x8086")
    _write(card / "device/device", "0xe20b")
    _write(card / "device/tile0/gt0/freq0/cur_freq", "1850")
    _write(card / "device/tile0/gt0/freq0/max_freq", "2850")
    mon = card / "device/hwmon/hwmon4"
    _write(mon / "name", "xe")
    _write(mon / "temp2_input", "41000")
    _write(mon / "power1_max", "190000000")
    reader, (g,) = _read(tmp_path)
    assert reader.kind == "xe" and g.driver == "xe" and g.name == "Intel Arc GPU [8086:e20b]"
    assert (g.freq_mhz, g.freq_max_mhz) == (1850.0, 2850.0)
    assert g.temperature_c == 41.0 and g.power_limit_w == 190.0 and g.power_w is None
    assert not g.unified and g.memory_total is None and "VRAM n/a" in g.note


def test_jetson_orin_values_and_units() -> None:
    reader, (g,) = _read("jetson_orin")
    assert reader.kind == "jetson" and g.name == "NVIDIA Jetson AGX Orin Developer Kit"
    assert g.util_percent == pytest.approx(45.7)  # device/load 457 per-mille
    assert (g.freq_mhz, g.freq_max_mhz) == (918.0, 1300.5)  # devfreq Hz
    assert g.temperature_c == 47.25  # the gpu-thermal zone, not cpu-thermal's 45.5
    assert (g.memory_total, g.memory_free, g.memory_used) == (31 * GIB, 24 * GIB, 7 * GIB)
    assert g.unified and g.memory_is_ram and g.power_w is None


def test_older_jetson_layout(tmp_path: Path) -> None:
    # Xavier NX on JetPack 4: the model from the firmware device tree (NUL-terminated), the load
    # in /sys/devices/gpu.0 and its devfreq node below it.
    _write(tmp_path / "sys/firmware/devicetree/base/model", "NVIDIA Jetson Xavier NX\x00")
    _write(tmp_path / "sys/devices/gpu.0/load", "1000")
    _write(tmp_path / "sys/devices/gpu.0/devfreq/17000000.gv11b/cur_freq", "1109250000")
    _write(tmp_path / "proc/meminfo", "MemTotal: 8000000 kB\nMemAvailable: 5000000 kB")
    _, (g,) = _read(tmp_path)
    assert g.name == "NVIDIA Jetson Xavier NX" and g.util_percent == 100.0
    assert g.freq_mhz == 1109.25 and g.memory_free == 5_000_000 * 1024


def test_no_gpu_tree_is_a_quiet_state() -> None:
    reader, gpus = _read("none")
    assert gpus == () and reader.kind == ""
    assert reader.status.startswith("no GPU") and "AMD, Intel or Jetson" in reader.status
    assert reader.read(False) == ()


def test_slow_fields_are_read_on_slow_ticks_only(tmp_path: Path) -> None:
    root = _copy("amd_dgpu", tmp_path)
    mon = root / "sys/class/drm/card0/device/hwmon/hwmon2"
    reader, _ = _read(root)
    _write(mon / "temp1_input", "70000")
    _write(root / "sys/class/drm/card0/device/gpu_busy_percent", "90")
    (fast,) = reader.read(False)
    assert fast.temperature_c == 54.0 and fast.util_percent == 90.0
    (slow,) = reader.read(True)
    assert slow.temperature_c == 70.0


def test_a_file_that_vanishes_reads_as_na(tmp_path: Path) -> None:
    root = _copy("amd_dgpu", tmp_path)
    reader, _ = _read(root)
    (root / "sys/class/drm/card0/device/gpu_busy_percent").unlink()
    _write(root / "sys/class/drm/card0/device/mem_info_vram_used", "garbage")
    (g,) = reader.read(True)
    assert g.util_percent is None and g.memory_used is None and g.memory_free is None


def test_device_text_is_never_markup_or_escapes(tmp_path: Path) -> None:
    root = _copy("amd_dgpu", tmp_path)
    _write(root / "sys/class/drm/card0/device/product_name", "Radeon [bold]Pro[/] \x1b]0;x\x07")
    _, (g,) = _read(root)
    assert "\x1b" not in g.name and "\\x1b" in g.name and "[bold]" in g.name
    rows = resource_rows(_sample((g,)), lambda _: ())
    assert any(r.detail == g.name for r in rows)  # shown as given, drawn as plain text


# ------------------------------------------------------------------------------------- chooser


class FakeNvml:
    """Stands in for NVML: the one thing these trees cannot hold."""

    def __init__(self, gpus: tuple[GpuSample, ...], status: str = "") -> None:
        self.gpus = gpus
        self.status = status
        self.closed = False

    def read(self, slow: bool = True) -> tuple[GpuSample, ...]:
        return self.gpus

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("tree", "kind", "unified"),
    [
        ("amd_dgpu", "amdgpu", False),
        ("amd_apu", "amdgpu", True),
        ("intel_igpu", "i915", True),
        ("jetson_orin", "jetson", True),
        ("none", "", None),
    ],
)
def test_chooser_picks_the_sampler_of_each_tree(tree: str, kind: str, unified: bool) -> None:
    reader, gpus = _read(tree)
    assert reader.kind == kind
    assert [g.unified for g in gpus] == ([] if unified is None else [unified])


def test_nvml_comes_first_where_it_finds_a_gpu() -> None:
    card = GpuSample(0, "NVIDIA RTX A2000", 5.0, 1 * GIB, 12 * GIB, 11 * GIB, driver="nvml")
    nvml = FakeNvml((card,))
    reader = AutoGpuReader(TREES / "amd_dgpu", nvml=lambda: nvml)
    assert reader.read() == (card,) and reader.kind == "nvml"
    assert reader.read(False) == (card,)
    reader.close()
    assert nvml.closed


def test_without_nvml_gpus_the_sysfs_samplers_are_next() -> None:
    nvml = FakeNvml((), "no GPU: the NVIDIA driver is not loaded")
    reader = AutoGpuReader(TREES / "jetson_orin", nvml=lambda: nvml)
    (g,) = reader.read()
    assert g.driver == "jetson" and nvml.closed
    none = AutoGpuReader(TREES / "none", nvml=lambda: FakeNvml((), "no GPU: NVML says so"))
    assert none.read() == ()
    assert none.status.startswith("no GPU: NVML says so; no AMD, Intel or Jetson GPU")


def test_sys_root_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sys_root({}) == Path("/") and sys_root({ROOT_ENV: ""}) == Path("/")
    assert sys_root({ROOT_ENV: "/tmp/tree"}) == Path("/tmp/tree")
    monkeypatch.setenv(ROOT_ENV, str(TREES / "jetson_orin"))
    source = LiveSource(include_self=False)
    sample = source.read(0, True)
    source.close()
    (g,) = sample.gpus
    assert g.driver == "jetson" and sample.gpu_status == ""
    # Below a copied tree RAM comes from its /proc/meminfo too: the gauges agree.
    assert (sample.ram_total, sample.ram_available) == (31 * GIB, 24 * GIB)
    assert free_ram() == 24 * GIB


def test_meminfo_is_read_in_bytes() -> None:
    info = read_meminfo(TREES / "intel_igpu")
    assert info["MemTotal"] == 16 * GIB and info["SwapTotal"] == 2 * GIB


# ---------------------------------------------------------------------------- monitor and fit


def _sample(gpus: tuple[GpuSample, ...], ram_available: int = 20 * GIB) -> Sample:
    return Sample(
        tick=0,
        time=0.0,
        interval=1.0,
        cpu_percent=0.0,
        cpu_per_core=(0.0,),
        load_avg=None,
        ram_total=32 * GIB,
        ram_used=12 * GIB,
        ram_available=ram_available,
        swap_total=0,
        swap_used=0,
        net_rx_rate=None,
        net_tx_rate=None,
        gpus=gpus,
    )


def test_new_fields_survive_the_json_form() -> None:
    _, gpus = _read("amd_apu")
    sample = _sample(gpus)
    assert Sample.from_dict(sample.to_dict()) == sample
    old = sample.to_dict()
    for key in ("driver", "unified", "memory_is_ram", "note"):
        del old["gpus"][0][key]  # a recording made before these existed
    assert Sample.from_dict(old).gpus[0].unified is False


def test_monitor_never_counts_unified_memory_as_vram() -> None:
    _, (jetson,) = _read("jetson_orin")
    monitor = Monitor.replay([_sample((jetson,), ram_available=24 * GIB)], preload=True)
    assert monitor.free_vram() is None  # the Jetson's memory is RAM, counted once by free_ram
    pool = monitor.memory_pool()
    assert pool.unified and pool.grading() == (24 * GIB, 0)
    assert monitor.history("gpu0.util") == pytest.approx((45.7,))


def test_monitor_screen_rows_mark_unified_memory_and_load_na() -> None:
    _, (jetson,) = _read("jetson_orin")
    _, (intel,) = _read("intel_igpu")
    _, (apu,) = _read("amd_apu")
    rows = resource_rows(_sample((jetson,)), lambda _: ())
    vram = next(r for r in rows if r.label == "VRAM")
    assert vram.detail == "unified 7.0/31.0G"
    gpu = next(r for r in rows if r.label == "GPU")
    assert gpu.value == "45.7 %" and gpu.detail == "Jetson AGX Orin Developer Kit"
    rows = resource_rows(_sample((intel, replace(apu, index=1))), lambda _: ())
    assert next(r for r in rows if r.label == "GPU0").value == "load n/a"
    assert next(r for r in rows if r.label == "VRAM1").detail == "unified 256/512M"


def test_pools_of_each_tree() -> None:
    dgpu, _ = detect_memory(TREES / "amd_dgpu")
    # Graded against FREE VRAM (24 GiB card less the 4 GiB another process holds), then RAM.
    assert dgpu.grading() == (20 * GIB, 20 * GIB) and dgpu.vram_used == 4 * GIB
    apu, kind = detect_memory(TREES / "amd_apu")
    # One pool: 20 GiB available RAM + the 256 MiB of the carve-out still free; the 15 GiB GTT is
    # system RAM already counted, so it is not added.
    assert kind == "amdgpu" and apu.unified and apu.grading() == (20 * GIB + 256 * MIB, 0)
    jetson, _ = detect_memory(TREES / "jetson_orin")
    assert jetson.grading() == (24 * GIB, 0)
    intel, _ = detect_memory(TREES / "intel_igpu")
    assert intel.grading() == (9 * GIB, 0)
    none, kind = detect_memory(TREES / "none")
    assert kind == "" and not none.unified and none.grading() == (0, 12 * GIB)


def test_unified_grading_never_adds_the_pool_twice() -> None:
    pool = MemoryPool(free_ram=24 * GIB, unified=True)
    vram, ram = pool.grading()
    # 20 GiB of 24: 4/24 = 16.7 % left → Good, on the GPU.
    fit = fit_level(20 * GIB, vram, ram)
    assert (fit.level, fit.where) == (FitLevel.GOOD, Placement.GPU)
    assert fit.headroom == pytest.approx(4 / 24)
    # 25 GiB does not fit in 24; counted as VRAM + RAM (48 GiB) it would have "fit" offloaded.
    assert fit_level(25 * GIB, vram, ram).level is FitLevel.TOO_TIGHT
    assert fit_level(25 * GIB, 24 * GIB, 24 * GIB).where is Placement.OFFLOAD


def test_discrete_grading_uses_free_not_total_vram() -> None:
    _, (card,) = _read("amd_dgpu")
    busy = replace(card, memory_used=20 * GIB, memory_free=4 * GIB)
    pool = pool_from((busy,), 20 * GIB)
    vram, ram = pool.grading()
    assert (vram, ram, pool.vram_total, pool.vram_used) == (4 * GIB, 20 * GIB, 24 * GIB, 20 * GIB)
    # 6 GiB needs more than the 4 GiB free (though the card has 24): split, 18/24 left → Good.
    fit = fit_level(6 * GIB, vram, ram)
    assert (fit.where, fit.level) == (Placement.OFFLOAD, FitLevel.GOOD)
    assert fit.headroom == pytest.approx(18 / 24)


def test_overrides_replace_what_detection_gives() -> None:
    apu = MemoryPool(free_ram=20 * GIB, unified=True, carve_out_free=256 * MIB)
    # memory_gib on unified memory is the whole pool: the carve-out is not added on top.
    mine = apu.with_overrides(memory_gib=8)
    assert mine.grading() == (8 * GIB, 0) and mine.set_by_you == {"memory"}
    # vram_gib would count the same bytes twice on unified memory: not used, and said so.
    same = apu.with_overrides(vram_gib=4)
    assert same.grading() == apu.grading() and same.set_by_you == frozenset()
    assert any("vram_gib is not used" in n for n in same.notes)
    # An APU graded as a discrete GPU: its carve-out is its VRAM.
    split = apu.with_overrides(unified=False)
    assert split.grading() == (256 * MIB, 20 * GIB) and split.set_by_you == {"unified"}
    box = MemoryPool(free_ram=12 * GIB).with_overrides(vram_gib=6, unified=False)
    assert box.grading() == (6 * GIB, 12 * GIB) and box.set_by_you == {"vram", "unified"}
    jetson = MemoryPool(free_ram=12 * GIB).with_overrides(unified=True)
    assert jetson.grading() == (12 * GIB, 0)


# ----------------------------------------------------------------------------------- snapshot


def _jetson_samples() -> list[Sample]:
    """The recorded monitor samples with this tree's Jetson GPU and RAM in place of the card's."""
    from tests.conftest import FIXTURES
    from tui.monitor import load_samples

    _, (gpu,) = _read("jetson_orin")
    return [
        replace(
            s,
            gpus=(gpu,),
            ram_total=31 * GIB,
            ram_available=24 * GIB,
            ram_used=7 * GIB,
            loaded_models=(),
        )
        for s in load_samples(FIXTURES / "monitor_samples.json")
    ]


def test_monitor_screen_on_the_jetson_tree(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import REACHABLE
    from tests.waiting import until, workers_done
    from tui.app import make_app
    from tui.config import Config

    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    monitor = Monitor.replay(_jetson_samples(), preload=True)

    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        await app.controller.refresh_all()
        await until(pilot, lambda: app.last_sample is not None)
        await workers_done(app)
        await pilot.pause()

    app = make_app(cfg, start_screen="monitor", monitor=monitor)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_backend_vram_claims_are_checked_against_the_sampler() -> None:
    from tui.monitor.sample import vram_cross_check
    from tui.types import RunningModel

    _, (card,) = _read("amd_dgpu")  # 4 GiB in use on the card
    fits = RunningModel("qwen2.5:3b", "ollama", size=3 * GIB, size_vram=3 * GIB)
    assert vram_cross_check((fits,), (card,)) == ""
    assert vram_cross_check((), (card,)) == ""
    # Ollama's /api/ps claiming more in VRAM than the whole card has in use: show both.
    big = RunningModel("qwen2.5:14b", "ollama", size=9 * GIB, size_vram=9 * GIB)
    assert vram_cross_check((fits, big), (card,)) == (
        "backends say 12.0 GiB is in VRAM; the GPU sampler reads 4.0 GiB in use"
    )
    assert "no GPU memory" in vram_cross_check((fits,), ())


async def test_variants_screen_grades_the_jetson_pool_once() -> None:
    import json

    from textual.widgets import Static

    from tests.conftest import FIXTURES, REACHABLE
    from tests.ollama_replay import start_replay_server
    from tests.test_variants_screen import ready
    from tui.app import make_app
    from tui.config import Config, data_dir

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("bandwidth.json", "gpu_bandwidth.json"):  # cached: nothing is measured
        (folder / name).write_text(json.dumps({"bandwidth_bytes_s": 100e9}))
    samples = [replace(s, ram_available=24 * GIB) for s in _jetson_samples()]
    with start_replay_server() as server:
        for memory_gib, shown in (
            (None, "24.0 GiB free, CPU+GPU"),
            (2.0, "2.0 GiB free, CPU+GPU (set by you)"),
        ):
            cfg = Config(
                probe_timeout=REACHABLE,
                ollama_host=server.host_port,
                model_dirs=[FIXTURES],
                retry_interval=0,
                hardware_memory_gib=memory_gib,
            )
            app = make_app(
                cfg,
                start_screen="variants",
                screen_options={"model": "qwen2.5:0.5b", "backend": "ollama"},
                monitor=Monitor.replay(samples, preload=True),
            )
            async with app.run_test(size=(100, 30)) as pilot:
                screen = await ready(pilot)
                assert screen.budget is not None and screen.budget.unified
                pool = 24 * GIB if memory_gib is None else 2 * GIB
                assert (screen.budget.free_vram, screen.budget.free_ram) == (pool, 0)
                assert all(r.fit.where in (Placement.GPU, Placement.NONE) for r in screen.rows)
                budget = str(screen.query_one("#variants-budget", Static).render())
                assert f"unified memory {shown}" in budget


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ("jetson_orin", "shared 7.0 GiB of 31.0 GiB (unified with RAM)"),
        ("amd_apu", "(unified with RAM)"),
        ("intel_igpu", "load n/a"),
        ("amd_dgpu", "VRAM 4.0 GiB of 24.0 GiB"),
    ],
)
def test_top_text_marks_unified_memory_and_missing_load(
    tree: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.commands import top

    monkeypatch.setenv(ROOT_ENV, str(TREES / tree))
    gpus = AutoGpuReader().read()
    assert gpus
    from tui.monitor import load_samples

    recorded = load_samples(TREES.parent / "monitor_samples.json")[-1]
    sample = replace(recorded, gpus=gpus)
    line = next(x for x in top.format_text(sample).splitlines() if x.startswith("GPU0"))
    assert expected in line
    if tree == "amd_dgpu":
        assert "unified" not in line
