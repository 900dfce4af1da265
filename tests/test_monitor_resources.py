"""The one-off readings of the fit (tui.monitor.resources): bandwidth measured once and cached,
a cache that cannot be written costs only the cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.readonly import ReadOnlyDir, read_only_folder
from tui.monitor import resources
from tui.monitor.resources import (
    bandwidths,
    gpu_bandwidth,
    measure_memory_bandwidth,
    read_cached_bandwidth,
)


def test_measure_bandwidth_caches(tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "bw.json"
    first = measure_memory_bandwidth(cache, size_mb=4, repeats=1)
    assert first > 0
    assert json.loads(cache.read_text())["bandwidth_bytes_s"] == first
    assert measure_memory_bandwidth(cache, size_mb=4, repeats=1) == first  # from the cache
    cache.write_text(json.dumps({"bandwidth_bytes_s": 123.0}))
    assert measure_memory_bandwidth(cache) == 123.0
    fresh = measure_memory_bandwidth(cache, size_mb=4, repeats=1, refresh=True)
    assert json.loads(cache.read_text())["bandwidth_bytes_s"] == fresh != 123.0
    cache.write_text("not json")
    assert measure_memory_bandwidth(cache, size_mb=4, repeats=1) > 0
    assert sorted(p.name for p in cache.parent.iterdir()) == ["bw.json"]  # no temp, no backup


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[ReadOnlyDir]:
    with read_only_folder(tmp_path / "ro", {}) as folder:
        yield folder


def test_a_cache_that_cannot_be_written_costs_only_the_cache(readonly_dir: ReadOnlyDir) -> None:
    problems: list[str] = []
    cache = readonly_dir.path / "bandwidth.json"
    assert measure_memory_bandwidth(cache, size_mb=4, repeats=1, problems=problems) > 0
    (problem,) = problems
    assert problem.startswith(f"the bandwidth measurement is not cached: Could not save {cache}")
    assert list(readonly_dir.path.iterdir()) == [], readonly_dir.how
    # A folder that cannot even be made: the same.
    problems.clear()
    deeper = readonly_dir.path / "sub" / "bandwidth.json"
    assert measure_memory_bandwidth(deeper, size_mb=4, repeats=1, problems=problems) > 0
    assert len(problems) == 1 and str(deeper) in problems[0]


def test_gpu_bandwidth_is_read_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def nvml() -> tuple[int, float]:
        reads.append(1)
        return 8 << 30, 288e9

    monkeypatch.setattr(resources, "gpu_free_and_bandwidth", nvml)
    assert gpu_bandwidth(tmp_path) == 288e9 and gpu_bandwidth(tmp_path) == 288e9
    assert reads == [1]
    assert read_cached_bandwidth(tmp_path / "gpu_bandwidth.json") == 288e9
    (tmp_path / "bandwidth.json").write_text(json.dumps({"bandwidth_bytes_s": 20e9}))
    assert bandwidths(True, tmp_path) == (20e9, 288e9)
    assert bandwidths(False, tmp_path) == (20e9, 0.0)


def test_gpu_bandwidth_in_a_read_only_dir(
    readonly_dir: ReadOnlyDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "gpu_free_and_bandwidth", lambda: (1 << 30, 100e9))
    assert gpu_bandwidth(readonly_dir.path) == 100e9
    assert list(readonly_dir.path.iterdir()) == []
