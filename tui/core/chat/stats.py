"""The figures of one reply and the line that shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class TurnStats:
    """Figures of one reply, preferring the backend's own counts."""

    ttft_s: float | None = None
    tokens: int = 0
    tokens_per_second: float | None = None
    prompt_tokens: int | None = None
    counted_by: str = "slmdeck"
    """``backend`` when token count and rate came from the backend, else ``slmdeck``."""
    done_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_s": self.ttft_s,
            "tokens": self.tokens,
            "tokens_per_second": self.tokens_per_second,
            "prompt_tokens": self.prompt_tokens,
            "counted_by": self.counted_by,
            "done_reason": self.done_reason,
        }


def plural(count: int, noun: str, many: str = "") -> str:
    """``1 token``, ``2 tokens`` (``many`` for an irregular plural)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


MIN_RATE_TOKENS = 16
"""Fewer tokens than this give no meaningful rate: the line shows "–" tok/s."""
MIN_RATE_SECONDS = 0.25
"""Nor does a reply generated in less time than this (an 8-token reply at "4799.7 tok/s")."""


def rate_text(tokens: int, rate: float | None) -> str:
    """``41.7 tok/s``, or ``– tok/s`` when the figure would be noise (too few tokens, too short)."""
    if rate is None or rate <= 0:
        return "– tok/s"
    if tokens < MIN_RATE_TOKENS or tokens / rate < MIN_RATE_SECONDS:
        return "– tok/s"
    return f"{rate:.1f} tok/s"


def format_stats(stats: dict[str, Any], status: str = "complete") -> str:
    """One line under a reply, e.g. ``TTFT 0.21 s · 41.7 tok/s · 512 tokens``; a reply cut by
    the token limit says so (``done_reason`` ``length``, from Ollama and OpenAI alike)."""
    parts: list[str] = []
    ttft = stats.get("ttft_s")
    if isinstance(ttft, int | float):
        parts.append(f"TTFT {ttft:.2f} s")
    rate = stats.get("tokens_per_second")
    tokens = stats.get("tokens")
    count = tokens if isinstance(tokens, int) else 0
    if isinstance(rate, int | float):
        parts.append(rate_text(count, float(rate)))
    if count:
        parts.append(plural(count, "token"))
    if stats.get("done_reason") == "length":
        parts.append("cut at the token limit (max_tokens)")
    if status not in ("complete", "streaming"):
        parts.append(status)
    return " · ".join(parts)
