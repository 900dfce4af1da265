"""What the editor is editing: the kind of document and where it came from (file, model, new).

The draft key says which document a draft belongs to (the file's path, ``<backend>:<model>``, or
``new:<n>``); the origin, stored with the draft as JSON, is enough to reopen the document when a
draft is restored after a crash. Pure Python; nothing here imports Textual.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

MODELFILE = "modelfile"
INFERENCE_MODEL = "inference-model"
KIND_TITLES = {MODELFILE: "Modelfile", INFERENCE_MODEL: "inference_model.json"}


def kind_of(path: Path | None, text: str = "") -> str:
    """``inference-model`` for ``*.json`` files (or text that starts with ``{``), else Modelfile."""
    if path is not None and path.suffix.lower() == ".json":
        return INFERENCE_MODEL
    if path is None and text.lstrip("\ufeff \t\r\n").startswith("{"):
        return INFERENCE_MODEL
    return MODELFILE


@dataclass(frozen=True, slots=True)
class EditorDoc:
    """One document of the editor.

    Attributes:
        kind: ``modelfile`` or ``inference-model``.
        path: The file it is saved to, or None (a model's Modelfile, a new document).
        backend: The backend of the model it was opened from, or ``""``.
        model: The model it was opened from, or ``""``.
        new_id: Set for a new document, to tell drafts of different new documents apart.
    """

    kind: str = MODELFILE
    path: Path | None = None
    backend: str = ""
    model: str = ""
    new_id: str = ""

    @classmethod
    def new(cls, kind: str) -> EditorDoc:
        """A new, unsaved document of ``kind``."""
        return cls(kind=kind, new_id=f"{time.time_ns():x}")

    @property
    def key(self) -> str:
        """The draft key: the file's path, ``<backend>:<model>`` or ``new:<id>``."""
        if self.path is not None:
            return str(self.path)
        if self.model:
            return f"{self.backend}:{self.model}"
        return f"new:{self.new_id or 'untitled'}"

    @property
    def title(self) -> str:
        """A short description for the screen's title line."""
        what = KIND_TITLES.get(self.kind, self.kind)
        if self.model and self.path is not None:
            return f"{what} of {self.model} ({self.backend}) · {self.path}"
        if self.model:
            return f"{what} of {self.model} ({self.backend})"
        if self.path is not None:
            return f"{what} · {self.path}"
        return f"new {what} (not saved yet)"

    def saved_as(self, path: Path) -> EditorDoc:
        """This document, now saved to ``path``."""
        return replace(self, path=path, kind=self.kind, new_id="")

    def origin(self) -> str:
        """JSON that :meth:`from_origin` reads back (stored with drafts)."""
        return json.dumps(
            {
                "kind": self.kind,
                "path": str(self.path) if self.path is not None else None,
                "backend": self.backend,
                "model": self.model,
                "new_id": self.new_id,
            }
        )

    @classmethod
    def from_origin(cls, origin: str, kind: str, key: str) -> EditorDoc:
        """Rebuild a document from a draft's origin; a missing or bad one falls back to its key."""
        try:
            data = json.loads(origin) if origin else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        path = data.get("path")
        if not data and not key.startswith("new:") and "/" in key:
            path = key
        return cls(
            kind=str(data.get("kind") or kind),
            path=Path(path) if isinstance(path, str) and path else None,
            backend=str(data.get("backend") or ""),
            model=str(data.get("model") or ""),
            new_id=str(data.get("new_id") or (key[4:] if key.startswith("new:") else "")),
        )
