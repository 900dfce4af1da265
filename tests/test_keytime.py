"""The judges of key latency (tests/keytime.py) fail what a blocked loop does, and only that."""

from __future__ import annotations

import pytest

from tests.keytime import HANG, TRIES, best, judge, within_budget


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


async def test_a_key_is_pressed_again_only_while_it_is_late() -> None:
    latencies = iter([0.3, 0.04, 0.3])
    pressed: list[float] = []

    async def press() -> float:
        pressed.append(next(latencies))
        return pressed[-1]

    await within_budget(press, "k")
    assert pressed == [0.3, 0.04]

    async def blocked() -> float:
        pressed.append(0.4)
        return 0.4

    pressed.clear()
    with pytest.raises(AssertionError, match="k: every press waited"):
        await within_budget(blocked, "k")
    assert len(pressed) == TRIES
