"""The executor: a port of Go's ``text/template/exec.go`` over the data model in ``values``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .errors import TemplateError, line_col
from .funcs import BUILTINS, ArgTypeError, FuncError
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)
from .text import go_quote
from .values import MISSING, fmt_value, go_type_name, is_struct, sort_keys, struct_fields, truth

MAX_EXEC_DEPTH = 100000


class _NoFinal:
    """Go's ``missingVal``: no value piped in from a previous command."""


NO_FINAL: Any = _NoFinal()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0, None
    lo, hi = 0, 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return lo, None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is p.empty:
                lo += 1
    return lo, hi


class State:
    """One execution: output buffer, variable stack and the node being evaluated."""

    def __init__(
        self,
        text: str,
        name: str,
        defined: Mapping[str, ListNode],
        funcs: Mapping[str, Callable[..., Any]],
        missingkey: str,
        out: list[str],
        depth: int = 0,
    ) -> None:
        self.text = text
        self.name = name
        self.defined = defined
        self.funcs = funcs
        self.missingkey = missingkey
        self.out = out
        self.depth = depth
        self.node: Node | None = None
        self.vars: list[list[Any]] = []

    # errors and variables --------------------------------------------------------------------
    def at(self, node: Node) -> None:
        self.node = node

    def errorf(self, msg: str) -> TemplateError:
        if self.node is None:
            return TemplateError(
                f"template: {self.name}: {msg}", line=1, col=1, kind="exec", detail=msg
            )
        line, col, byte_col = line_col(self.text, self.node.pos)
        context = str(self.node)
        if len(context) > 20:
            context = context[:20] + "..."
        message = (
            f"template: {self.name}:{line}:{byte_col}: executing {go_quote(self.name)} "
            f"at <{context}>: {msg}"
        )
        return TemplateError(message, line=line, col=col, kind="exec", detail=msg)

    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for v in reversed(self.vars):
            if v[0] == name:
                v[1] = value
                return
        raise self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[len(self.vars) - n][1] = value

    def var_value(self, name: str) -> Any:
        for v in reversed(self.vars):
            if v[0] == name:
                return v[1]
        raise self.errorf(f"undefined variable: {name}")

    # walking ---------------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, ActionNode):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, val)
        elif isinstance(node, IfNode | WithNode):
            self.walk_if_or_with(isinstance(node, WithNode), dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, CommentNode):
            pass
        else:
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Any, node: IfNode | WithNode) -> None:
        mark = self.mark()
        try:
            val = self.eval_pipeline(dot, node.pipe)
            if truth(val):
                self.walk(val if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, r: RangeNode) -> None:
        self.at(r)
        outer = self.mark()
        try:
            val = self.eval_pipeline(dot, r.pipe)
            mark = self.mark()
            decl = r.pipe.decl

            def one(index: Any, elem: Any) -> None:
                if decl:
                    if r.pipe.is_assign:
                        self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self.set_top_var(1, elem)
                if len(decl) > 1:
                    if r.pipe.is_assign:
                        self.set_var(decl[1].ident[0], elem)
                    else:
                        self.set_top_var(2, index)
                try:
                    self.walk(elem, r.list)
                except _Continue:
                    pass
                finally:
                    self.pop(mark)

            ran = False
            try:
                if isinstance(val, list | tuple):
                    for i, elem in enumerate(val):
                        ran = True
                        one(i, elem)
                elif isinstance(val, dict):
                    for k in sort_keys(val):
                        ran = True
                        one(k, val[k])
                elif isinstance(val, int) and not isinstance(val, bool):
                    if len(decl) > 1:
                        raise self.errorf(f"can't use {val} to iterate over more than one variable")
                    for i in range(val):
                        ran = True
                        one(i, i)
                elif val is MISSING or val is None:
                    pass
                else:
                    raise self.errorf(f"range can't iterate over {fmt_value(val)}")
            except _Break:
                return
            if not ran and r.else_list is not None:
                self.walk(dot, r.else_list)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, t: TemplateNode) -> None:
        self.at(t)
        tree = self.defined.get(t.name)
        if tree is None:
            raise self.errorf(f"template {go_quote(t.name)} not defined")
        if self.depth >= MAX_EXEC_DEPTH:
            raise self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        new_dot = self.eval_pipeline(dot, t.pipe) if t.pipe is not None else MISSING
        sub = State(
            self.text,
            t.name,
            self.defined,
            self.funcs,
            self.missingkey,
            self.out,
            self.depth + 1,
        )
        sub.push("$", new_dot)
        sub.walk(new_dot, tree)

    def print_value(self, node: Node, val: Any) -> None:
        self.at(node)
        if val is MISSING or val is None:
            self.out.append("<no value>")
            return
        self.out.append(fmt_value(val))

    # evaluation ------------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.at(pipe)
        value: Any = NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # an empty interface unwraps to no value at all
                value = MISSING
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.push(var.ident[0], value)
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not NO_FINAL:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.errorf(f"can't evaluate command {go_quote(str(first))}")

    def ideal_constant(self, c: NumberNode) -> Any:
        self.at(c)
        text = c.text
        if c.is_complex:
            return c.complex_value
        is_hex_int = text.lower().lstrip("+-").startswith("0x") and "p" not in text.lower()
        if (
            c.is_float
            and not is_hex_int
            and not text.startswith("'")
            and any(ch in text for ch in ".eEpP")
        ):
            return c.float_value
        if c.is_int:
            return c.int_value
        if c.is_uint:
            raise self.errorf(f"{text} overflows int")
        return MISSING

    def eval_field_node(self, dot: Any, field: FieldNode, args: list[Node], final: Any) -> Any:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(self, dot: Any, chain: ChainNode, args: list[Node], final: Any) -> Any:
        self.at(chain)
        if isinstance(chain.node, NilNode):
            raise self.errorf(f"indirection through explicit nil in {chain}")
        pipe = self.eval_arg(dot, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.field, args, final)

    def eval_variable_node(self, dot: Any, var: VariableNode, args: list[Node], final: Any) -> Any:
        self.at(var)
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: list[str],
        args: list[Node],
        final: Any,
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, [], NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(
        self, dot: Any, name: str, node: Node, args: list[Node], final: Any, receiver: Any
    ) -> Any:
        if receiver is MISSING:
            if self.missingkey == "error":
                raise self.errorf(f"nil data; no entry for key {go_quote(name)}")
            return MISSING
        if receiver is None:
            raise self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        methods = getattr(type(receiver), "go_methods", ())
        if name in methods:
            method = getattr(receiver, name)
            return self.call(dot, method, name, args, final)
        has_args = len(args) > 1 or final is not NO_FINAL
        if isinstance(receiver, dict):
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missingkey == "zero":
                return None
            if self.missingkey == "error":
                raise self.errorf(f"map has no entry for key {go_quote(name)}")
            return MISSING
        if is_struct(receiver):
            for fname, value in struct_fields(receiver):
                if fname == name:
                    if has_args:
                        raise self.errorf(f"{name} has arguments but cannot be invoked as function")
                    return value
        raise self.errorf(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(self, dot: Any, node: IdentifierNode, args: list[Node], final: Any) -> Any:
        self.at(node)
        name = node.ident
        if name in self.funcs:
            return self.call(dot, self.funcs[name], name, args, final)
        builtin = BUILTINS.get(name)
        if builtin is None:
            raise self.errorf(f"{go_quote(name)} is not a defined function")
        nargs = len(args) - 1 + (0 if final is NO_FINAL else 1)
        self.check_arity(name, nargs, builtin.min_args, builtin.max_args)
        if name in ("and", "or"):
            want = name == "or"
            v: Any = MISSING
            for arg in args[1:]:
                v = self.eval_arg(dot, arg)
                if truth(v) == want:
                    return v
            if final is not NO_FINAL:
                v = final
            return v
        values = [self.eval_arg(dot, a) for a in args[1:]]
        if final is not NO_FINAL:
            values.append(final)
        self.at(node)
        try:
            return builtin.fn(values)
        except ArgTypeError as e:
            raise self.errorf(str(e)) from None
        except FuncError as e:
            raise self.errorf(f"error calling {name}: {e}") from None

    def check_arity(self, name: str, n: int, lo: int, hi: int | None) -> None:
        if hi is None:
            if n < lo:
                raise self.errorf(f"wrong number of args for {name}: want at least {lo} got {n}")
        elif not lo <= n <= hi:
            raise self.errorf(f"wrong number of args for {name}: want {hi} got {n}")

    def call(
        self, dot: Any, fn: Callable[..., Any], name: str, args: list[Node], final: Any
    ) -> Any:
        nargs = len(args) - 1 + (0 if final is NO_FINAL else 1)
        lo, hi = _arity(fn)
        self.check_arity(name, nargs, lo, hi)
        values = [self.eval_arg(dot, a) for a in args[1:]]
        if final is not NO_FINAL:
            values.append(final)
        values = [None if v is MISSING else v for v in values]
        try:
            return fn(*values)
        except TemplateError:
            raise
        except Exception as e:
            raise self.errorf(f"error calling {name}: {e}") from None

    def eval_arg(self, dot: Any, n: Node) -> Any:
        self.at(n)
        if isinstance(n, DotNode):
            return dot
        if isinstance(n, NilNode):
            return None
        if isinstance(n, FieldNode):
            return self.eval_field_node(dot, n, [n], NO_FINAL)
        if isinstance(n, VariableNode):
            return self.eval_variable_node(dot, n, [], NO_FINAL)
        if isinstance(n, PipeNode):
            return self.eval_pipeline(dot, n)
        if isinstance(n, IdentifierNode):
            return self.eval_function(dot, n, [n], NO_FINAL)
        if isinstance(n, ChainNode):
            return self.eval_chain_node(dot, n, [], NO_FINAL)
        if isinstance(n, BoolNode):
            return n.value
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return n.text
        raise self.errorf(f"can't handle {n} for arg")


def execute(
    text: str,
    name: str,
    root: ListNode,
    defined: Mapping[str, ListNode],
    funcs: Mapping[str, Callable[..., Any]],
    data: Any,
    missingkey: str = "default",
) -> str:
    """Run ``root`` with ``data`` as dot and ``$``; return the output."""
    out: list[str] = []
    state = State(text, name, defined, funcs, missingkey, out)
    state.push("$", data)
    try:
        state.walk(data, root)
    except (_Break, _Continue):  # pragma: no cover - the parser rejects them outside range
        pass
    return "".join(out)
