"""GPU readings through real NVML (nvidia-ml-py).

On a machine without an NVIDIA driver these go through NVML's own failure path (the library is not
found or the driver not loaded) and check the quiet "no GPU" state. On a GPU machine they check
real readings are in range. Which kind of machine this is gets decided independently of the code
under test (the driver's /proc entry or nvidia-smi).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pynvml  # nvidia-ml-py, a hard dependency
import pytest

from tui.monitor import Monitor
from tui.monitor.gpu import NOT_STARTED, NvmlReader, _Device, _reason
from tui.monitor.live import LiveSource

HAS_GPU = Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no NVIDIA driver on this machine")
needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA driver")


@pytest.fixture
def init_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls to the real ``pynvml.nvmlInit`` (it still runs; nothing is faked)."""
    calls: list[int] = []
    real = pynvml.nvmlInit

    def counting() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(pynvml, "nvmlInit", counting)
    return calls


def test_nothing_is_started_before_the_first_read() -> None:
    reader = NvmlReader()
    assert reader.status == NOT_STARTED and reader.init_attempts == 0
    reader.close()


@needs_no_gpu
def test_no_gpu_is_a_quiet_state_with_a_reason(init_calls: list[int]) -> None:
    reader = NvmlReader()
    for slow in (True, False, True):
        assert reader.read(slow) == ()
    assert reader.status.startswith("no GPU")
    assert "driver" in reader.status
    # NVML start-up was tried once, not on every tick.
    assert reader.init_attempts == 1 and len(init_calls) == 1
    reader.close()


@needs_no_gpu
def test_monitor_without_gpu_reports_na(init_calls: list[int]) -> None:
    m = Monitor(LiveSource(), slow_every=2)
    samples = [m.sample() for _ in range(4)]
    assert all(s.gpus == () for s in samples)
    assert all(s.gpu_status.startswith("no GPU") for s in samples)
    assert m.free_vram() is None and m.free_vram(gpu=0) is None
    assert not any(name.startswith("gpu") for name in m.series())
    assert len(init_calls) == 1
    m.close()


def test_start_up_failures_read_as_sentences() -> None:
    cases = {
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: "libnvidia-ml",
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED: "driver is not loaded",
        pynvml.NVML_ERROR_NO_PERMISSION: "no permission",
        pynvml.NVML_ERROR_UNKNOWN: "NVML did not start",
    }
    for code, words in cases.items():
        # pynvml.NVMLError(code) builds the same subclass NVML raises for that return code.
        err = pynvml.NVMLError(code)
        assert words in _reason(pynvml, err)


def test_unsupported_field_is_na_and_not_asked_again() -> None:
    reader = NvmlReader()
    reader.read()  # starts (or fails to start) NVML, so the reader knows the module
    dev = _Device(index=0, handle=None, name="test")
    calls: list[int] = []

    def not_supported(code: int) -> None:
        calls.append(code)
        pynvml._nvmlCheckReturn(code)  # NVML's own return-code check raises the error

    assert reader._call(dev, "temp", not_supported, pynvml.NVML_ERROR_NOT_SUPPORTED) is None
    assert reader._call(dev, "temp", not_supported, pynvml.NVML_ERROR_NOT_SUPPORTED) is None
    assert calls == [pynvml.NVML_ERROR_NOT_SUPPORTED]
    assert "temp" in dev.unsupported
    # A transient error is N/A this time but asked again next time.
    assert reader._call(dev, "power", not_supported, pynvml.NVML_ERROR_TIMEOUT) is None
    assert reader._call(dev, "power", not_supported, pynvml.NVML_ERROR_TIMEOUT) is None
    assert "power" not in dev.unsupported
    reader.close()


@needs_no_gpu
def test_real_nvml_call_without_a_driver_is_na() -> None:
    reader = NvmlReader()
    reader.read()
    dev = _Device(index=0, handle=None, name="none")
    # The real binding, with no library loaded, raises an NVMLError; the reader answers N/A.
    assert reader._call(dev, "count", pynvml.nvmlDeviceGetCount) is None
    reader.close()


@needs_gpu
def test_real_gpu_readings_are_in_range(init_calls: list[int]) -> None:
    reader = NvmlReader()
    gpus = reader.read(slow=True)
    assert reader.status == "", reader.status
    assert len(gpus) >= 1
    for g in gpus:
        assert g.name and not g.name.startswith("b'")
        if g.util_percent is not None:
            assert 0 <= g.util_percent <= 100
        assert g.memory_total is not None and g.memory_total > 0
        assert g.memory_used is not None and 0 <= g.memory_used <= g.memory_total
        assert g.memory_free is not None and 0 <= g.memory_free <= g.memory_total
        if g.temperature_c is not None:
            assert 0 < g.temperature_c < 130
        if g.power_w is not None:
            assert 0 <= g.power_w < 2000
            if g.power_limit_w is not None:
                assert g.power_w <= g.power_limit_w * 1.5
    # A fast read keeps the slow fields from the last slow read and re-reads the rest.
    fast = reader.read(slow=False)
    assert [g.temperature_c for g in fast] == [g.temperature_c for g in gpus]
    assert [g.memory_total for g in fast] == [g.memory_total for g in gpus]
    assert reader.init_attempts == 1 and len(init_calls) == 1
    reader.close()


@needs_gpu
def test_monitor_free_vram_on_a_real_gpu() -> None:
    m = Monitor(LiveSource())
    s = m.sample()
    assert s.gpus and s.gpu_status == ""
    free = m.free_vram()
    assert free is not None and free == sum(g.memory_free or 0 for g in s.gpus)
    assert m.free_vram(gpu=s.gpus[0].index) == s.gpus[0].memory_free
    assert m.history("gpu0.util") and m.history("gpu0.vram")
    m.close()
