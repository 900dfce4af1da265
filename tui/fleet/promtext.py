"""The Prometheus text format, read with ``prometheus_client``'s parser.

Two things keep it cheap for a fleet: lines of metrics nobody reads are dropped with a string test
before the parser sees them (a node_exporter answer is mostly series slmdeck ignores), and the
parser is imported on first use. Lookups are tolerant of the ways exporters name the same series:
``prometheus_client`` strips ``_total`` from a counter family's name and adds it to a counter's
sample name when missing (llama.cpp declares ``llamacpp:n_tokens_max`` a counter), so
:meth:`Metrics.samples` accepts the name with or without ``_total``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = Mapping[str, str]


class MetricsError(ValueError):
    """The text is not the Prometheus exposition format; ``str()`` says where."""


@dataclass(slots=True)
class Metrics:
    """Samples by name: ``name -> [(labels, value), ...]``."""

    series: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return bool(self.samples(name))

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample of ``name`` (also found as ``name_total`` or without its ``_total``)."""
        found = self.series.get(name)
        if found is None:
            other = name[: -len("_total")] if name.endswith("_total") else name + "_total"
            found = self.series.get(other, [])
        return found

    def value(self, name: str, **match: str) -> float | None:
        """The first sample of ``name`` whose labels include ``match``; None when none."""
        for labels, value in self.samples(name):
            if all(labels.get(k) == v for k, v in match.items()):
                return value
        return None

    def total(self, name: str, **match: str) -> float | None:
        """The sum of the samples of ``name`` matching ``match``; None when there is none."""
        values = [
            v
            for labels, v in self.samples(name)
            if all(labels.get(k) == w for k, w in match.items())
        ]
        return sum(values) if values else None

    def names(self) -> set[str]:
        return set(self.series)


def _wanted(line: str, prefixes: tuple[str, ...]) -> bool:
    if line.startswith("#"):
        # "# TYPE name type" / "# HELP name text": kept for the series we read, so types hold.
        parts = line.split(None, 3)
        return len(parts) >= 3 and parts[2].startswith(prefixes)
    return line.startswith(prefixes)


_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(\{|\s|$)")


def _check_start(text: str) -> None:
    """The filter would hide a body that is not the format at all (an HTML page, binary junk):
    its first line must be a comment or a sample."""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#") or _NAME.match(line):
            return
        from tui.backends.base import one_line

        raise MetricsError(f"not the Prometheus text format (it starts {one_line(line, 40)!r})")


def parse_metrics(text: str, prefixes: Iterable[str] | None = None) -> Metrics:
    """Parse exposition text, keeping only metrics whose name starts with one of ``prefixes``.

    Raises:
        MetricsError: A kept line is not the format (a garbage answer; the message quotes it).
    """
    from prometheus_client.parser import text_string_to_metric_families

    if prefixes is not None:
        _check_start(text)
        keep = tuple(prefixes)
        text = "\n".join(line for line in text.splitlines() if _wanted(line, keep)) + "\n"
    out = Metrics()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.series.setdefault(sample.name, []).append(
                    (dict(sample.labels), float(sample.value))
                )
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        from tui.backends.base import one_line

        raise MetricsError(f"not the Prometheus text format ({one_line(str(exc), 80)})") from exc
    return out
