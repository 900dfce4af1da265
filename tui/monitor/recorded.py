"""Recorded samples: a file format and a source that plays them back (for deterministic UI tests)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from tui.backends.base import RunningModel
from tui.monitor.sample import FORMAT_VERSION, Sample


def dump_samples(
    samples: Iterable[Sample], path: str | os.PathLike[str], *, source: str = ""
) -> None:
    """Write samples to a JSON file ``{"format", "source", "samples": [...]}``.

    Args:
        samples: The samples, oldest first.
        path: Where to write.
        source: A sentence saying where the samples came from.

    Raises:
        FileSaveError: The file could not be written (an ``OSError``; the old one is unchanged).
    """
    from tui.store.files import save_atomic

    # One sample per line: compact, yet a diff of a re-recorded file stays readable.
    head = json.dumps({"format": FORMAT_VERSION, "source": source})[:-1]
    lines = ",\n".join(json.dumps(s.to_dict(), separators=(",", ":")) for s in samples)
    save_atomic(path, f'{head}, "samples": [\n{lines}\n]}}\n', backup=False)


def load_samples(path: str | os.PathLike[str]) -> list[Sample]:
    """Read a file written by :func:`dump_samples`.

    Raises:
        ValueError: The file is not a recorded-samples file (the message says what is wrong).
        OSError: The file cannot be read.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        raise ValueError(f"{path} is not a recorded-samples file (no 'samples' list)")
    if doc.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has samples in format {doc.get('format')!r}; this slmdeck reads "
            f"format {FORMAT_VERSION}"
        )
    out: list[Sample] = []
    for i, item in enumerate(doc["samples"]):
        try:
            out.append(Sample.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"{path}: sample {i} is {exc}") from None
    return out


class RecordedSource:
    """Plays recorded samples back in order, one per read.

    After the last one it keeps answering with the last sample and sets :attr:`exhausted`, so a
    UI that keeps ticking stays still (a stable snapshot) instead of failing.
    """

    def __init__(self, samples: Sequence[Sample]) -> None:
        """Create the source.

        Raises:
            ValueError: ``samples`` is empty.
        """
        if not samples:
            raise ValueError("there are no recorded samples to play back")
        self._samples = tuple(samples)
        self._next = 0
        self.exhausted = False

    def __len__(self) -> int:
        return len(self._samples)

    def read(
        self, tick: int, slow: bool, loaded_models: tuple[RunningModel, ...] | None = None
    ) -> Sample:
        """The next recorded sample (tick and slow as recorded; ``loaded_models`` replaces the
        recorded ones only when given)."""
        if self._next >= len(self._samples):
            self.exhausted = True
            sample = self._samples[-1]
        else:
            sample = self._samples[self._next]
            self._next += 1
        if loaded_models is not None:
            sample = replace(sample, loaded_models=loaded_models)
        return sample

    def close(self) -> None:
        """Nothing to release."""
