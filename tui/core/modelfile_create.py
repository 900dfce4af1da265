"""From a Modelfile to Ollama's ``/api/create``: the request fields, and writing new Modelfiles.

Split out of :mod:`tui.core.modelfile` (which re-exports these names), with the part of the
editor's create that needs no Textual: which local files (GGUF weights, a LoRA adapter) a
Modelfile points at and must be uploaded first. Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.diagnostics import DiagnosticError, has_errors
from tui.core.modelfile_syntax import INVALID_ROLE, MESSAGE_ROLES, QUOTE, TRIPLE, encode_value
from tui.core.modelfile_validate import validate
from tui.core.modelfile_values import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    convert_parameter,
    format_parameter_value,
    param_error,
)

if TYPE_CHECKING:
    from tui.core.modelfile import Modelfile


@dataclass(frozen=True, slots=True)
class CreateFields:
    """What a Modelfile sends to Ollama's ``/api/create`` (as ``ollama create`` builds it)."""

    from_: str | None
    template: str | None = None
    system: str | None = None
    license: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None

    def to_request(self, model: str) -> dict[str, Any]:
        """The JSON body for ``POST /api/create`` with ``from`` (adapters/drafts need blobs first)."""
        body: dict[str, Any] = {"model": model}
        if self.from_ is not None:
            body["from"] = self.from_
        for key in ("template", "system", "renderer", "parser", "requires"):
            v = getattr(self, key)
            if v is not None:
                body[key] = v
        if self.license:
            body["license"] = list(self.license)
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        if self.messages:
            body["messages"] = [dict(m) for m in self.messages]
        return body


def to_create_fields(mf: Modelfile) -> CreateFields:
    """The ``/api/create`` fields for ``mf``, built as Ollama's ``CreateRequest`` builds them.

    Raises:
        DiagnosticError: ``validate`` found an error.
    """
    diags = validate(mf)
    if has_errors(diags):
        raise DiagnosticError([d for d in diags if d.severity == "error"])
    from_: str | None = None
    template = system = renderer = parser = requires = None
    licenses: list[str] = []
    params: dict[str, Any] = {}
    messages: list[dict[str, str]] = []
    adapters: list[str] = []
    drafts: list[str] = []
    for inst in mf.effective():
        value = inst.value or ""
        key = inst.keyword
        if key == "FROM":
            from_ = value
        elif key == "TEMPLATE":
            template = value
        elif key == "SYSTEM":
            system = value
        elif key == "LICENSE":
            licenses.append(value)
        elif key == "RENDERER":
            renderer = value
        elif key == "PARSER":
            parser = value
        elif key == "REQUIRES":
            requires = value[1:] if value.startswith("v") else value
        elif key == "MESSAGE":
            messages.append({"role": inst.name or "", "content": value})
        elif key == "ADAPTER":
            adapters = [value]  # Ollama keeps only the last ADAPTER
        elif key == "DRAFT":
            drafts.append(value)
        elif key == "PARAMETER":
            pname = inst.name or ""
            if pname in DEPRECATED_PARAMETERS:
                continue
            typed, _err = convert_parameter(pname, value)
            if pname == "stop":
                params.setdefault("stop", []).append(typed)
            else:
                params[pname] = typed
    return CreateFields(
        from_=from_,
        template=template,
        system=system,
        license=licenses,
        parameters=params,
        messages=messages,
        adapters=adapters,
        drafts=drafts,
        renderer=renderer,
        parser=parser,
        requires=requires,
    )


def render_modelfile(
    from_: str,
    *,
    template: str | None = None,
    system: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    messages: Iterable[tuple[str, str]] = (),
    header: str = "",
) -> str:
    """Write a new Modelfile (FROM, TEMPLATE, SYSTEM, PARAMETERs, MESSAGEs) that parses back.

    Raises:
        DiagnosticError: a value the format cannot carry, or an unknown parameter.
    """
    lines = [header.rstrip("\n")] if header else []
    lines.append(f"FROM {encode_value(from_)}")
    if template is not None:
        lines.append(f"TEMPLATE {encode_value(template, TRIPLE)}")
    if system is not None:
        lines.append(f"SYSTEM {encode_value(system)}")
    for name, value in (parameters or {}).items():
        if name not in PARAMETER_TYPES:
            raise param_error(f"unknown parameter {name!r}", "unknown-parameter")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            lines.append(
                f"PARAMETER {name} {encode_value(format_parameter_value(v), QUOTE if name == 'stop' else '')}"
            )
    for role, content in messages:
        if role not in MESSAGE_ROLES:
            raise param_error(INVALID_ROLE, "invalid-role")
        lines.append(f"MESSAGE {role} {encode_value(content)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The editor's create: which local files a Modelfile sends along


class CreateProblem(Exception):
    """A Modelfile that parses but cannot be created from here; ``str(err)`` says why."""


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """What creating a model from a Modelfile sends.

    Attributes:
        fields: The ``/api/create`` fields.
        from_: The ``from`` to send: None when local GGUF weights are uploaded instead.
        files: Local GGUF weights to upload first (at most one).
        adapters: Local LoRA adapter files to upload first.
    """

    fields: CreateFields
    from_: str | None
    files: list[Path]
    adapters: list[Path]


def resolve_path(value: str, base: Path) -> Path:
    """A Modelfile path as Ollama's client reads it: ``~`` expanded, relative to ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def plan_create(mf: Modelfile, *, base: Path, model: str = "") -> CreatePlan:
    """The create request of ``mf``: its fields, and the local files to upload first.

    Args:
        mf: The parsed Modelfile.
        base: The folder relative paths (FROM, ADAPTER) are read from: the Modelfile's own.
        model: The model the Modelfile was opened from (``ollama show`` writes FROM as a blob
            path of the server; the model's name means the same weights).

    Raises:
        DiagnosticError: The Modelfile has errors.
        CreateProblem: DRAFT models, or an ADAPTER that is a folder or missing.
    """
    fields = to_create_fields(mf)
    if fields.drafts:
        raise CreateProblem(
            "DRAFT models are sent to Ollama as draft files, which the editor does not do; "
            "use `ollama create -f` for this Modelfile."
        )
    adapters: list[Path] = []
    for adapter in fields.adapters:
        path = resolve_path(adapter, base)
        if path.is_dir():
            raise CreateProblem(
                f"ADAPTER {adapter} is a folder. Ollama takes one GGUF LoRA file (since 0.12.11 "
                "its client no longer accepts safetensors adapter folders): convert it with "
                "llama.cpp's convert_lora_to_gguf.py and point ADAPTER at the .gguf."
            )
        if not path.is_file():
            raise CreateProblem(f"ADAPTER file not found: {path}")
        adapters.append(path)
    from_ = fields.from_
    if from_ and "/blobs/sha256" in from_.replace("\\", "/") and model:
        from_ = model
    gguf: Path | None = None
    if from_ and from_.lower().endswith(".gguf"):
        candidate = resolve_path(from_, base)
        gguf = candidate if candidate.is_file() else None
    return CreatePlan(
        fields=fields,
        from_=None if gguf is not None else from_,
        files=[gguf] if gguf is not None else [],
        adapters=adapters,
    )
