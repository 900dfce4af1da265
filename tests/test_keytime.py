"""The judges of key latency (tests/keytime.py) fail what a blocked loop does, and only that."""

from __future__ import annotations

from tests.keytime import HANG, best, judge


def test_one_key_is_judged_by_its_best_press() -> None:
    assert best([0.3, 0.04]) is None
    # A fault that blocks the loop makes every press late, and that fails.
    late = best([0.3, 0.31, 0.4])
    assert late is not None and "0.310 s" in late
    assert best([]) is not None


def test_a_stream_of_keys_is_judged_by_its_median_and_its_worst() -> None:
    assert judge([0.05] * 8 + [0.3, 0.5]) is None
    # Most keys late: the loop is blocked by what it streams.
    assert judge([0.05] * 4 + [0.3] * 5) is not None
    # However few are late, one hung key fails.
    assert judge([0.05] * 99 + [HANG]) is not None
    assert judge([]) is not None
