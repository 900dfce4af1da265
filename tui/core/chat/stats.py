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


def format_stats(stats: dict[str, Any], status: str = "complete") -> str:
    """One line under a reply, e.g. ``TTFT 0.21 s · 41.7 tok/s · 512 tokens``."""
    parts: list[str] = []
    ttft = stats.get("ttft_s")
    if isinstance(ttft, int | float):
        parts.append(f"TTFT {ttft:.2f} s")
    rate = stats.get("tokens_per_second")
    if isinstance(rate, int | float):
        parts.append(f"{rate:.1f} tok/s")
    tokens = stats.get("tokens")
    if isinstance(tokens, int) and tokens:
        parts.append(f"{tokens} tokens")
    if status not in ("complete", "streaming"):
        parts.append(status)
    return " · ".join(parts)
