"""Go's ``text/template`` in pure Python, faithful to what Ollama's templates use.

>>> parse("{{- range $i, $m := .Messages }}{{ $i }}={{ $m.Role }} {{ end -}}").execute(
...     {"Messages": [{"Role": "user"}, {"Role": "assistant"}]})
'0=user 1=assistant '

Data model (see :mod:`.values`): ``dict`` is a Go map (a missing key yields ``<no value>``, or
per ``missingkey``), a :class:`GoStruct` dataclass is a Go struct (an unknown field is an
execution error, as in Go), ``None`` is nil. Errors are :class:`TemplateError` with Go's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import TemplateError
from .exec import execute
from .funcs import BUILTINS
from .nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    FieldNode,
    ListNode,
    Node,
    PipeNode,
    TemplateNode,
    VariableNode,
)
from .parse import parse_tree
from .values import MISSING, GoStruct, fmt_value, go_json, sprintf

MISSING_KEY_OPTIONS = ("default", "invalid", "zero", "error")


class Template:
    """A parsed template: ``execute(data)`` renders it; the tree is ``root``."""

    def __init__(
        self,
        text: str,
        name: str,
        root: ListNode,
        defined: dict[str, ListNode],
        funcs: Mapping[str, Callable[..., Any]],
        missingkey: str,
    ) -> None:
        self.text = text
        self.name = name
        self.root = root
        self.defined = defined
        self.funcs = dict(funcs)
        self.missingkey = missingkey

    def execute(self, data: Any = None, *, root: ListNode | None = None) -> str:
        """Render with ``data`` as dot; ``root`` replaces the main tree (Ollama cuts trees)."""
        return execute(
            self.text,
            self.name,
            self.root if root is None else root,
            self.defined,
            self.funcs,
            data,
            self.missingkey,
        )

    def trees(self) -> Iterator[ListNode]:
        """The main tree, then each defined template's tree."""
        yield self.root
        yield from self.defined.values()


def parse(
    text: str,
    name: str = "",
    *,
    funcs: Mapping[str, Callable[..., Any]] | None = None,
    missingkey: str = "default",
) -> Template:
    """Parse Go template ``text`` (raises :class:`TemplateError` like Go's ``Parse``).

    ``funcs`` adds functions (Go's ``Funcs``); ``missingkey`` is Go's ``Option("missingkey=…")``.
    """
    if missingkey not in MISSING_KEY_OPTIONS:
        raise ValueError(f"unrecognized option: missingkey={missingkey}")
    funcs = dict(funcs or {})
    names = set(BUILTINS) | set(funcs)
    tree = parse_tree(text, name, names)
    return Template(text, name, tree.root, tree.defined, funcs, missingkey)


def walk_nodes(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (pre-order), descending into pipelines and arguments."""
    yield node
    if isinstance(node, ListNode):
        for n in node.nodes:
            yield from walk_nodes(n)
    elif isinstance(node, ActionNode):
        yield from walk_nodes(node.pipe)
    elif isinstance(node, BranchNode):
        yield from walk_nodes(node.pipe)
        yield from walk_nodes(node.list)
        if node.else_list is not None:
            yield from walk_nodes(node.else_list)
    elif isinstance(node, TemplateNode):
        if node.pipe is not None:
            yield from walk_nodes(node.pipe)
    elif isinstance(node, PipeNode):
        yield from node.decl
        for c in node.cmds:
            yield from walk_nodes(c)
    elif isinstance(node, CommandNode):
        for a in node.args:
            yield from walk_nodes(a)
    elif isinstance(node, ChainNode):
        yield from walk_nodes(node.node)


__all__ = [
    "MISSING",
    "ActionNode",
    "BranchNode",
    "ChainNode",
    "CommandNode",
    "FieldNode",
    "GoStruct",
    "ListNode",
    "Node",
    "PipeNode",
    "Template",
    "TemplateError",
    "TemplateNode",
    "VariableNode",
    "fmt_value",
    "go_json",
    "parse",
    "sprintf",
    "walk_nodes",
]
