"""The Prometheus text format, read with ``prometheus_client``'s parser.

Three things keep it cheap for a fleet: lines of metrics nobody reads are dropped with a string
test before any parsing (a node_exporter answer is mostly series slmdeck ignores); the kept lines,
when every one is a sample in the plain form exporters write (``name{a="b"} value``, no escapes),
are split by one regular expression instead of the library (measured on an 8-CPU node_exporter
answer: 1.47 ms a host with ``prometheus_client``, 0.1 ms this way; 100 hosts every 2 s made it 7 %
of a core); anything else (escapes, garbage) goes to ``prometheus_client``, which judges it. The
library is imported on first use. Lookups are tolerant of the ways exporters name the same series:
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


_SAMPLE = re.compile(
    r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^{}\\]*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*"
)
_LABEL = re.compile(r'[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"([^"\\]*)"[ \t]*(?:,|$)')
_LABELS: dict[str, dict[str, str]] = {}
"""Label sets seen (the same few strings every poll of every host), parsed once; at most
:data:`_LABELS_MAX` kept."""
_LABELS_MAX = 4096


def _labels(text: str) -> dict[str, str] | None:
    """``a="b",c="d"`` as a dict; None when it is not in the plain form (the library decides)."""
    found = _LABELS.get(text)
    if found is not None:
        return dict(found)
    out: dict[str, str] = {}
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _LABEL.match(text, pos)
        if m is None:
            return None
        out[m.group(1)] = m.group(2)
        pos = m.end()
    if len(_LABELS) < _LABELS_MAX:
        _LABELS[text] = dict(out)
    return out


def _fast(lines: Iterable[str], keep: tuple[str, ...]) -> Metrics | None:
    """The samples of the ``lines`` kept by ``keep`` when every one is in the plain form; None
    otherwise."""
    out = Metrics()
    series = out.series
    sample = _SAMPLE.fullmatch
    for line in lines:
        if not line.startswith(keep):
            continue  # comments too: types matter to the library only
        m = sample(line)
        if m is None:
            return None
        name, label_text, value = m.groups()
        labels = _labels(label_text) if label_text else {}
        if labels is None:
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        found = series.get(name)
        if found is None:
            series[name] = [(labels, number)]
        else:
            found.append((labels, number))
    return out


def parse_metrics(text: str, prefixes: Iterable[str] | None = None) -> Metrics:
    """Parse exposition text, keeping only metrics whose name starts with one of ``prefixes``.

    Raises:
        MetricsError: A kept line is not the format (a garbage answer; the message quotes it).
    """
    if prefixes is not None:
        _check_start(text)
        keep = tuple(prefixes)
        lines = text.splitlines()
        fast = _fast(lines, keep)
        if fast is not None:
            return fast
        text = "\n".join(line for line in lines if _wanted(line, keep)) + "\n"
    from prometheus_client.parser import text_string_to_metric_families

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
