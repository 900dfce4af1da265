"""Render a conversation into a prompt exactly as Ollama does with a Modelfile TEMPLATE.

Ported from ollama/ollama ``template/template.go`` (``Parse``, ``Vars``, ``Execute``, ``collate``,
the ``template*`` conversion types and the registered functions) and ``server/prompt.go`` /
``server/routes.go`` (how the Modelfile SYSTEM and MESSAGE history join the request).

What Ollama passes to a template (its ``Values``, flattened into a ``map[string]any``):

* messages form (the template mentions ``Messages``): ``System`` (every system message, joined
  by blank lines), ``Messages`` (consecutive same-role messages merged), ``Tools``, ``Response``
  (always empty), ``Think``, ``ThinkLevel``, ``IsThinkSet``;
* legacy form (no ``Messages``): the template runs once per system/user/assistant round with
  ``System``, ``Prompt``, ``Response``, ``Think``, ``ThinkLevel``, ``IsThinkSet``; the last run
  stops at the first ``.Response``. A template naming neither ``Messages`` nor ``Response`` gets
  ``{{ .Response }}`` appended;
* suffix form (generate with a prompt and a suffix): ``Prompt``, ``Suffix``, ``Response``, the
  think fields.

Top-level data is a map, so an unknown field such as ``.First`` renders ``<no value>`` and is
false (no error). Messages, tools and tool calls are structs: an unknown field there is an
execution error. :func:`check_template` reports both before anything runs.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tui.core.diagnostics import Diagnostic, sort_diagnostics
from tui.core.gotemplate import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    FieldNode,
    GoStruct,
    ListNode,
    Node,
    PipeNode,
    Template,
    TemplateError,
    TemplateNode,
    VariableNode,
    go_json,
    parse,
)
from tui.core.gotemplate.errors import line_col
from tui.core.gotemplate.nodes import IfNode, RangeNode, WithNode
from tui.core.gotemplate.values import fmt_value

# --- the values Ollama hands to templates ---------------------------------------------------------


def _json_number(v: Any) -> Any:
    """JSON decoded into Go ``any``: every number is a float64."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, list | tuple):
        return [_json_number(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_number(x) for k, x in v.items()}
    return v


class PropertyType(list[str]):
    """``api.PropertyType``: one JSON type or several; prints as the single name."""

    go_type = "api.PropertyType"

    def go_string(self) -> str:
        if not self:
            return ""
        if len(self) == 1:
            return self[0]
        return "[" + " ".join(self) + "]"

    def go_json(self) -> str:
        if len(self) == 1:
            return go_json(self[0])
        return go_json(list(self))


class ToolPropertiesMap(dict[str, "ToolProperty"]):
    """``*api.ToolPropertiesMap``: keeps insertion order in JSON."""

    go_type = "*api.ToolPropertiesMap"

    def go_json(self) -> str:
        return "{" + ",".join(go_json(k) + ":" + go_json(v) for k, v in self.items()) + "}"


@dataclass
class ToolProperty(GoStruct):
    """``api.ToolProperty``."""

    go_type: ClassVar[str] = "api.ToolProperty"
    AnyOf: list[ToolProperty] = field(default_factory=list, metadata={"json": "anyOf,omitempty"})
    Type: PropertyType = field(default_factory=PropertyType, metadata={"json": "type,omitempty"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Description: str = field(default="", metadata={"json": "description,omitempty"})
    Enum: list[Any] = field(default_factory=list, metadata={"json": "enum,omitempty"})
    Properties: ToolPropertiesMap | None = field(
        default=None, metadata={"json": "properties,omitempty"}
    )
    Required: list[str] = field(default_factory=list, metadata={"json": "required,omitempty"})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ToolProperty:
        t = d.get("type")
        types = PropertyType([t] if isinstance(t, str) else list(t or []))
        props = d.get("properties")
        return cls(
            AnyOf=[cls.from_json(x) for x in d.get("anyOf") or []],
            Type=types,
            Items=_json_number(d.get("items")),
            Description=str(d.get("description") or ""),
            Enum=_json_number(list(d.get("enum") or [])),
            Properties=_props_map(props) if isinstance(props, dict) else None,
            Required=list(d.get("required") or []),
        )

    def to_typescript_type(self) -> str:
        if self.AnyOf:
            return " | ".join(p.to_typescript_type() for p in self.AnyOf)
        if not self.Type:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in self.Type)


_TS_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}


def _props_map(d: Mapping[str, Any]) -> ToolPropertiesMap:
    m = ToolPropertiesMap()
    for k, v in d.items():
        m[str(k)] = ToolProperty.from_json(v if isinstance(v, dict) else {})
    return m


class _JSONStringMap(dict[str, Any]):
    """A Go map type whose ``String()`` is its JSON (``templateArgs``, ``templateProperties``)."""

    go_type = "map[string]interface {}"

    def __init__(self, *args: Any, nil: bool = False) -> None:
        super().__init__(*args)
        self.nil = nil

    def go_string(self) -> str:
        return "{}" if self.nil else go_json(self)

    def go_json(self) -> str:
        if self.nil:
            return "null"
        return "{" + ",".join(go_json(k) + ":" + go_json(self[k]) for k in sorted(self)) + "}"


class TemplateArgs(_JSONStringMap):
    go_type = "template.templateArgs"


class TemplateProperties(_JSONStringMap):
    go_type = "template.templateProperties"


@dataclass
class TemplateToolFunctionParameters(GoStruct):
    go_type: ClassVar[str] = "template.templateToolFunctionParameters"
    Type: str = field(default="", metadata={"json": "type"})
    Defs: Any = field(default=None, metadata={"json": "$defs,omitempty"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Required: list[str] = field(default_factory=list, metadata={"json": "required,omitempty"})
    Properties: TemplateProperties = field(
        default_factory=lambda: TemplateProperties(nil=True), metadata={"json": "properties"}
    )


@dataclass
class TemplateToolFunction(GoStruct):
    go_type: ClassVar[str] = "template.templateToolFunction"
    Name: str = field(default="", metadata={"json": "name"})
    Description: str = field(default="", metadata={"json": "description"})
    Parameters: TemplateToolFunctionParameters = field(
        default_factory=TemplateToolFunctionParameters, metadata={"json": "parameters"}
    )


@dataclass
class TemplateTool(GoStruct):
    go_type: ClassVar[str] = "template.templateTool"
    Type: str = field(default="", metadata={"json": "type"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Function: TemplateToolFunction = field(
        default_factory=TemplateToolFunction, metadata={"json": "function"}
    )

    def go_string(self) -> str:
        return self.go_json()

    def go_json(self) -> str:
        parts = ['"type":' + go_json(self.Type)]
        if self.Items is not None:
            parts.append('"items":' + go_json(self.Items))
        parts.append('"function":' + go_json(self.Function))
        return "{" + ",".join(parts) + "}"


class TemplateTools(list[TemplateTool]):
    go_type = "template.templateTools"

    def __init__(self, items: Iterable[TemplateTool] = (), *, nil: bool = False) -> None:
        super().__init__(items)
        self.nil = nil

    def go_string(self) -> str:
        return go_json(self)

    def go_json(self) -> str:
        if self.nil:
            return "null"
        return "[" + ",".join(t.go_json() for t in self) + "]"


@dataclass
class TemplateToolCallFunction(GoStruct):
    go_type: ClassVar[str] = "template.templateToolCallFunction"
    Index: int = 0
    Name: str = ""
    Arguments: TemplateArgs = field(default_factory=lambda: TemplateArgs(nil=True))


@dataclass
class TemplateToolCall(GoStruct):
    go_type: ClassVar[str] = "template.templateToolCall"
    ID: str = ""
    Function: TemplateToolCallFunction = field(default_factory=TemplateToolCallFunction)


@dataclass
class TemplateMessage(GoStruct):
    """``*template.templateMessage``, what ``range .Messages`` sets dot to."""

    go_type: ClassVar[str] = "*template.templateMessage"
    Role: str = ""
    Content: str = ""
    Thinking: str = ""
    Images: list[Any] = field(default_factory=list)
    ToolCalls: list[TemplateToolCall] = field(default_factory=list)
    ToolName: str = ""
    ToolCallID: str = ""


def convert_tools(tools: Sequence[Mapping[str, Any]] | None) -> TemplateTools:
    """``convertToolsForTemplate`` from OpenAI/Ollama-style tool JSON."""
    if tools is None:
        return TemplateTools(nil=True)
    out = TemplateTools()
    for t in tools:
        fn = t.get("function") or {}
        params = fn.get("parameters") or {}
        props = params.get("properties")
        out.append(
            TemplateTool(
                Type=str(t.get("type") or ""),
                Items=_json_number(t.get("items")),
                Function=TemplateToolFunction(
                    Name=str(fn.get("name") or ""),
                    Description=str(fn.get("description") or ""),
                    Parameters=TemplateToolFunctionParameters(
                        Type=str(params.get("type") or ""),
                        Defs=_json_number(params.get("$defs")),
                        Items=_json_number(params.get("items")),
                        Required=list(params.get("required") or []),
                        Properties=TemplateProperties(_props_map(props))
                        if isinstance(props, dict)
                        else TemplateProperties(nil=True),
                    ),
                ),
            )
        )
    return out


def _tool_calls(calls: Iterable[Mapping[str, Any]]) -> list[TemplateToolCall]:
    out = []
    for c in calls:
        fn = c.get("function") or {}
        args = fn.get("arguments")
        out.append(
            TemplateToolCall(
                ID=str(c.get("id") or ""),
                Function=TemplateToolCallFunction(
                    Index=int(fn.get("index") or 0),
                    Name=str(fn.get("name") or ""),
                    Arguments=TemplateArgs(_json_number(args))
                    if isinstance(args, dict)
                    else TemplateArgs(nil=True),
                ),
            )
        )
    return out


def _message(m: Mapping[str, Any]) -> TemplateMessage:
    return TemplateMessage(
        Role=str(m.get("role") or ""),
        Content=str(m.get("content") or ""),
        Thinking=str(m.get("thinking") or ""),
        Images=list(m.get("images") or []),
        ToolCalls=_tool_calls(m.get("tool_calls") or []),
        ToolName=str(m.get("tool_name") or ""),
        ToolCallID=str(m.get("tool_call_id") or ""),
    )


# --- functions Ollama registers --------------------------------------------------------------------


def ollama_funcs(today: Callable[[], datetime.date] | None = None) -> dict[str, Callable[..., Any]]:
    """``json``, ``currentDate``, ``yesterdayDate``, ``toTypeScriptType`` (template.go ``funcs``)."""
    clock = today or datetime.date.today

    def json_(v: Any) -> str:
        try:
            return go_json(v)
        except ValueError:
            return ""

    def current_date(*args: str) -> str:
        return clock().isoformat()

    def yesterday_date(*args: str) -> str:
        return (clock() - datetime.timedelta(days=1)).isoformat()

    def to_typescript_type(v: Any) -> str:
        return v.to_typescript_type() if isinstance(v, ToolProperty) else "any"

    return {
        "json": json_,
        "currentDate": current_date,
        "yesterdayDate": yesterday_date,
        "toTypeScriptType": to_typescript_type,
    }


FUNC_NAMES = frozenset(ollama_funcs())

# --- Parse and Vars ---------------------------------------------------------------------------------


class _UndefinedTemplate(Exception):
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def identifiers(n: Node) -> list[str]:
    """Ollama's ``Identifiers``: field and variable names, not looking into chains."""
    if isinstance(n, ListNode):
        return [i for c in n.nodes for i in identifiers(c)]
    if isinstance(n, TemplateNode):
        if n.pipe is None:
            raise _UndefinedTemplate(n.pos)
        return identifiers(n.pipe)
    if isinstance(n, ActionNode):
        return identifiers(n.pipe)
    if isinstance(n, BranchNode):
        names = identifiers(n.pipe) + identifiers(n.list)
        if n.else_list is not None:
            names += identifiers(n.else_list)
        return names
    if isinstance(n, PipeNode):
        return [i for c in n.cmds for a in c.args for i in identifiers(a)]
    if isinstance(n, FieldNode | VariableNode):
        return list(n.ident)
    return []


def template_vars(t: Template) -> list[str]:
    """Ollama's ``Template.Vars``: sorted, lower-cased identifiers of every tree."""
    try:
        names = [i for tree in t.trees() for i in identifiers(tree)]
    except _UndefinedTemplate as e:
        # Ollama's Parse fails here: a {{ template "x" }} without a pipeline.
        line, col, _ = line_col(t.text, e.pos)
        msg = "undefined template specified"
        raise TemplateError(msg, line=line, col=col, kind="parse", detail=msg) from None
    return sorted({n.lower() for n in names})


def template_references(template: str | Template) -> set[str]:
    """The lower-cased names Ollama sees in a template (``Vars``), e.g. ``{"messages", "role"}``."""
    t = template if isinstance(template, Template) else parse_ollama(template)
    return set(template_vars(t))


def _response_action(pos: int) -> ActionNode:
    return ActionNode(
        pos, 0, PipeNode(pos, 0, cmds=[CommandNode(pos, [FieldNode(pos, ["Response"])])])
    )


def parse_ollama(text: str, *, today: Callable[[], datetime.date] | None = None) -> Template:
    """Ollama's ``template.Parse``: CRLF kept as is, ``missingkey=zero``, Ollama's funcs, and
    ``{{ .Response }}`` appended when neither ``Messages`` nor ``Response`` is used."""
    t = parse(text, "", funcs=ollama_funcs(today), missingkey="zero")
    names = template_vars(t)
    if "messages" not in names and "response" not in names:
        t.root.nodes.append(_response_action(len(text)))
    return t


# --- Execute --------------------------------------------------------------------------------------


class _CutPanic(Exception):
    """Ollama's ``deleteNode`` panics on an else branch after the cut (a nil type assertion)."""


def _cut_after_response(root: ListNode) -> ListNode:
    """Ollama's ``deleteNode`` with the "everything after the first .Response" predicate."""
    cut = False

    def fn(n: Node) -> bool:
        nonlocal cut
        if isinstance(n, FieldNode) and "Response" in n.ident:
            cut = True
            return False
        return cut

    def walk(n: Node) -> Node | None:
        if fn(n):
            return None
        if isinstance(n, ListNode):
            n.nodes = [c for c in (walk(c) for c in n.nodes) if c is not None]
            return n
        if isinstance(n, BranchNode):
            if fn(n):  # Go walks &t.BranchNode, asking the predicate again
                raise _CutPanic
            lst = walk(n.list)
            if not isinstance(lst, ListNode):
                raise _CutPanic
            n.list = lst
            if n.else_list is not None:
                el = walk(n.else_list)
                if not isinstance(el, ListNode):
                    raise _CutPanic
                n.else_list = el
            return n
        if isinstance(n, ActionNode):
            p = walk(n.pipe)
            if p is None:
                return None
            assert isinstance(p, PipeNode)
            n.pipe = p
            return n
        if isinstance(n, PipeNode):
            cmds = []
            for c in n.cmds:
                args = [a for a in (walk(a) for a in c.args) if a is not None]
                if not args:
                    return None
                c.args = args
                cmds.append(c)
            if not cmds:
                return None
            n.cmds = cmds
            return n
        return n

    result = walk(copy.deepcopy(root))
    assert isinstance(result, ListNode)
    return result


def collate(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Ollama's ``collate``: all system texts joined, consecutive same roles merged (not tools)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "system":
            system.append(str(m.get("content") or ""))
        if out and out[-1].get("role") == role and role != "tool":
            out[-1]["content"] = (
                str(out[-1].get("content") or "") + "\n\n" + str(m.get("content") or "")
            )
        else:
            out.append(dict(m))
    return "\n\n".join(system), out


def _think_values(think: bool | str | None) -> dict[str, Any]:
    if think is None:
        return {"Think": False, "ThinkLevel": "", "IsThinkSet": False}
    if isinstance(think, bool):
        return {"Think": think, "ThinkLevel": "medium" if think else "", "IsThinkSet": True}
    return {
        "Think": think in ("high", "medium", "low", "max"),
        "ThinkLevel": think,
        "IsThinkSet": True,
    }


def execute_ollama(
    t: Template,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    think: bool | str | None = None,
    prompt: str = "",
    suffix: str = "",
    force_legacy: bool = False,
) -> str:
    """Ollama's ``Template.Execute`` over ``Values`` built from the arguments."""
    system, msgs = collate(messages)
    names = template_vars(t)
    tv = _think_values(think)
    if prompt and suffix:
        return t.execute({"Prompt": prompt, "Suffix": suffix, "Response": "", **tv})
    if not force_legacy and "messages" in names:
        return t.execute(
            {
                "System": system,
                "Messages": [_message(m) for m in msgs],
                "Tools": convert_tools(tools),
                "Response": "",
                **tv,
            }
        )
    out: list[str] = []
    system = p = response = ""
    for m in msgs:
        role = m.get("role")
        content = str(m.get("content") or "")
        if role == "system":
            if p or response:
                out.append(t.execute({"System": system, "Prompt": p, "Response": response, **tv}))
                system = p = response = ""
            system = content
        elif role == "user":
            if response:
                out.append(t.execute({"System": system, "Prompt": p, "Response": response, **tv}))
                system = p = response = ""
            p = content
        elif role == "assistant":
            response = content
    try:
        root = _cut_after_response(t.root)
    except _CutPanic:
        raise TemplateError(
            "runtime error: invalid memory address or nil pointer dereference",
            line=1,
            col=1,
            kind="exec",
            detail="Ollama's legacy-template rewrite panics on this template",
        ) from None
    # Ollama runs the cut tree in a fresh template: no functions, default missingkey.
    bare = Template(t.text, "", root, {}, {}, "default")
    out.append(bare.execute({"System": system, "Prompt": p, "Response": response, **tv}))
    return "".join(out)


def _tag_images(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``imageTaggedMessages``: ``[img-N]`` before the text, or in place of ``[img]``."""
    out = []
    n = 0
    for m in messages:
        m = dict(m)
        images = m.get("images") or []
        if images:
            prefix = ""
            text = str(m.get("content") or "")
            for _ in images:
                tag = f"[img-{n}]"
                n += 1
                if "[img]" not in text:
                    prefix += tag
                else:
                    text = text.replace("[img]", tag, 1)
            m["content"] = prefix + text
        out.append(m)
    return out


def chat_messages(
    messages: Sequence[Mapping[str, Any]],
    system: str | None = None,
    history: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """What ``/api/chat`` renders: Modelfile MESSAGE ``history`` then the request's messages, and
    the Modelfile SYSTEM first unless the request starts with its own system message."""
    if not messages:
        return []
    msgs = [dict(m) for m in history] + [dict(m) for m in messages]
    if messages[0].get("role") != "system" and system:
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


def render_prompt(
    template_text: str,
    messages: Sequence[Mapping[str, Any]],
    system: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    history: Sequence[Mapping[str, Any]] = (),
    think: bool | str | None = None,
    today: Callable[[], datetime.date] | None = None,
) -> str:
    """The prompt Ollama's ``/api/chat`` builds for a model with this TEMPLATE.

    Args:
        template_text: The Modelfile TEMPLATE (Go template).
        messages: The request's messages, ``{"role", "content", "images"?, "tool_calls"?, …}``.
        system: The Modelfile SYSTEM, used unless the first message is a system message.
        tools: Tool definitions in Ollama/OpenAI JSON form.
        history: The Modelfile MESSAGE lines, as messages.
        think: The request's ``think`` (``True``/``False``/``"high"``…, ``None`` when unset).
        today: A clock for ``currentDate``/``yesterdayDate``.

    Raises:
        TemplateError: The template does not parse, or fails while running.
    """
    t = parse_ollama(template_text, today=today)
    msgs = _tag_images(chat_messages(messages, system, history))
    return execute_ollama(t, msgs, tools=tools, think=think)


# --- static check ---------------------------------------------------------------------------------

_ANY = "any"
_STRUCTS: dict[str, dict[str, str]] = {
    "message": {
        "Role": "string",
        "Content": "string",
        "Thinking": "string",
        "Images": "list:any",
        "ToolCalls": "list:toolcall",
        "ToolName": "string",
        "ToolCallID": "string",
    },
    "toolcall": {"ID": "string", "Function": "toolcallfunc"},
    "toolcallfunc": {"Index": "int", "Name": "string", "Arguments": "map:any"},
    "tool": {"Type": "string", "Items": _ANY, "Function": "toolfunc"},
    "toolfunc": {"Name": "string", "Description": "string", "Parameters": "toolparams"},
    "toolparams": {
        "Type": "string",
        "Defs": _ANY,
        "Items": _ANY,
        "Required": "list:string",
        "Properties": "map:toolprop",
    },
    "toolprop": {
        "AnyOf": "list:toolprop",
        "Type": "list:string",
        "Items": _ANY,
        "Description": "string",
        "Enum": "list:any",
        "Properties": _ANY,
        "Required": "list:string",
    },
}
_GO_NAMES = {
    "message": "*template.templateMessage",
    "toolcall": "template.templateToolCall",
    "toolcallfunc": "template.templateToolCallFunction",
    "tool": "template.templateTool",
    "toolfunc": "template.templateToolFunction",
    "toolparams": "template.templateToolFunctionParameters",
    "toolprop": "api.ToolProperty",
}
MESSAGES_FIELDS = {
    "System": "string",
    "Messages": "list:message",
    "Tools": "list:tool",
    "Response": "string",
    "Think": "bool",
    "ThinkLevel": "string",
    "IsThinkSet": "bool",
}
LEGACY_FIELDS = {
    "System": "string",
    "Prompt": "string",
    "Response": "string",
    "Think": "bool",
    "ThinkLevel": "string",
    "IsThinkSet": "bool",
}


class _Checker:
    def __init__(self, text: str, root_fields: dict[str, str], form: str) -> None:
        self.text = text
        self.root_fields = root_fields
        self.form = form
        self.out: list[Diagnostic] = []
        self.seen: set[tuple[int, str]] = set()

    def pos(self, p: int) -> tuple[int, int]:
        line = 1 + self.text.count("\n", 0, p)
        return line, p - (self.text.rfind("\n", 0, p) + 1) + 1

    def field(self, typ: str, name: str, node: Node) -> str:
        if typ == "root":
            if name in self.root_fields:
                return self.root_fields[name]
            if name == "Suffix":
                return "string"
            key = (node.pos, name)
            if key not in self.seen:
                self.seen.add(key)
                line, col = self.pos(node.pos)
                known = ", ".join(f".{k}" for k in self.root_fields)
                self.out.append(
                    Diagnostic(
                        line,
                        col,
                        "warning",
                        f".{name} is never set by Ollama in a {self.form} template, so it prints "
                        f'"<no value>" and tests false; Ollama passes {known}',
                        "template-unknown-field",
                    )
                )
            return _ANY
        if typ in _STRUCTS:
            fields = _STRUCTS[typ]
            if name in fields:
                return fields[name]
            key = (node.pos, name)
            if key not in self.seen:
                self.seen.add(key)
                line, col = self.pos(node.pos)
                self.out.append(
                    Diagnostic(
                        line,
                        col,
                        "error",
                        f"can't evaluate field {name} in type {_GO_NAMES[typ]}: Ollama fails "
                        f"the request when this runs (fields: {', '.join(fields)})",
                        "template-struct-field",
                    )
                )
            return _ANY
        if typ.startswith("map:"):
            return typ[4:]
        return _ANY

    def chain(self, typ: str, names: Sequence[str], node: Node) -> str:
        for n in names:
            typ = self.field(typ, n, node)
        return typ

    def node_type(self, n: Node, dot: str, vars_: dict[str, str]) -> str:
        if isinstance(n, FieldNode):
            return self.chain(dot, n.ident, n)
        if isinstance(n, VariableNode):
            base = vars_.get(n.ident[0], _ANY)
            return self.chain(base, n.ident[1:], n)
        if isinstance(n, PipeNode):
            return self.pipe_type(n, dot, vars_)
        if isinstance(n, ChainNode):
            base = self.node_type(n.node, dot, vars_)
            return self.chain(base, n.field, n)
        if type(n).__name__ == "DotNode":
            return dot
        return _ANY

    def pipe_type(self, p: PipeNode, dot: str, vars_: dict[str, str]) -> str:
        typ = _ANY
        for c in p.cmds:
            types = [self.node_type(a, dot, vars_) for a in c.args]
            typ = types[0] if len(c.args) == 1 else _ANY
        return typ

    def walk(self, n: Node, dot: str, vars_: dict[str, str]) -> None:
        if isinstance(n, ListNode):
            for c in n.nodes:
                self.walk(c, dot, vars_)
        elif isinstance(n, ActionNode):
            typ = self.pipe_type(n.pipe, dot, vars_)
            for v in n.pipe.decl:
                if not n.pipe.is_assign:
                    vars_[v.ident[0]] = typ
        elif isinstance(n, BranchNode):
            inner = dict(vars_)
            typ = self.pipe_type(n.pipe, dot, inner)
            body_dot = dot
            if isinstance(n, WithNode):
                body_dot = typ
            elif isinstance(n, RangeNode):
                elem = (
                    typ[5:]
                    if typ.startswith("list:")
                    else typ[4:]
                    if typ.startswith("map:")
                    else _ANY
                )
                body_dot = elem
                decl = n.pipe.decl
                if not n.pipe.is_assign and decl:
                    inner[decl[-1].ident[0]] = elem
                    if len(decl) > 1:
                        inner[decl[0].ident[0]] = _ANY
            else:
                for v in n.pipe.decl:
                    inner[v.ident[0]] = typ
            assert isinstance(n, IfNode | WithNode | RangeNode)
            self.walk(n.list, body_dot, dict(inner))
            if n.else_list is not None:
                self.walk(n.else_list, dot, dict(inner))
        elif isinstance(n, TemplateNode) and n.pipe is not None:
            self.pipe_type(n.pipe, dot, vars_)


def check_template(text: str) -> list[Diagnostic]:
    """Problems Ollama would have with a TEMPLATE: parse errors (at Go's line, with its message)
    and fields Ollama never passes (warnings) or that fail on its structs (errors)."""
    try:
        t = parse_ollama(text)
    except TemplateError as e:
        return [Diagnostic(e.line, e.col, "error", str(e), "template-syntax")]
    names = template_vars(t)
    if "messages" in names:
        checker = _Checker(text, MESSAGES_FIELDS, "messages")
    else:
        checker = _Checker(text, LEGACY_FIELDS, "legacy (no .Messages)")
    checker.walk(t.root, "root", {"$": "root"})
    for body in t.defined.values():
        checker.walk(body, _ANY, {"$": _ANY})
    return sort_diagnostics(checker.out)


__all__ = [
    "TemplateError",
    "chat_messages",
    "check_template",
    "collate",
    "convert_tools",
    "execute_ollama",
    "fmt_value",
    "ollama_funcs",
    "parse_ollama",
    "render_prompt",
    "template_references",
    "template_vars",
]
