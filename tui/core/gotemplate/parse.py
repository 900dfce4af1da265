"""The parser of Go's ``text/template``: a port of ``parse.Tree`` with Go's error messages."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from .errors import TemplateError, line_col
from .lex import Item, T, lex
from .nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
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
from .text import UnquoteError, go_quote, go_unquote, unquote_char


@dataclass
class ParsedTemplates:
    """The main tree plus every ``{{define}}``/``{{block}}`` tree, by name."""

    root: ListNode
    defined: dict[str, ListNode] = field(default_factory=dict)


_INT_RE = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)")


def _parse_int(text: str) -> int | None:
    if not _INT_RE.fullmatch(text):
        return None
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if "__" in body or body.endswith("_"):
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
            return sign * int(body.replace("_", ""), 8)
        return sign * int(body, 0)
    except ValueError:
        return None


class _Parser:
    def __init__(self, text: str, name: str, funcs: Collection[str]) -> None:
        self.text = text
        self.name = name
        self.funcs = funcs
        self.items = lex(text)
        self.i = 0
        self.hi = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.defined: dict[str, ListNode] = {}

    # token access -------------------------------------------------------------------------------
    def next(self) -> Item:
        idx = min(self.i, len(self.items) - 1)
        self.hi = max(self.hi, idx)
        self.i += 1
        return self.items[idx]

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Item:
        item = self.next()
        self.backup()
        return item

    def next_non_space(self) -> Item:
        while True:
            item = self.next()
            if item.typ != T.SPACE:
                return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # errors -------------------------------------------------------------------------------------
    def errorf(self, msg: str, at: int | None = None) -> TemplateError:
        token = self.items[min(self.hi, len(self.items) - 1)]
        pos = token.pos if at is None else at
        line = token.line
        _, col, _ = line_col(self.text, pos)
        return TemplateError(
            f"template: {self.name}:{line}: {msg}", line=line, col=col, kind="parse", detail=msg
        )

    def unexpected(self, token: Item, context: str) -> TemplateError:
        if token.typ == T.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}", at=token.pos)
        return self.errorf(f"unexpected {token} in {context}", at=token.pos)

    def expect(self, typ: T, context: str) -> Item:
        token = self.next_non_space()
        if token.typ != typ:
            raise self.unexpected(token, context)
        return token

    # structure ----------------------------------------------------------------------------------
    def parse(self) -> ParsedTemplates:
        root = ListNode(self.peek().pos)
        while self.peek().typ != T.EOF:
            if self.peek().typ == T.LEFT_DELIM:
                save = self.i
                self.next()
                if self.next_non_space().typ == T.DEFINE:
                    self.parse_definition()
                    continue
                self.i = save
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                raise self.errorf(f"unexpected {n}", at=n.pos)
            root.nodes.append(n)
        return ParsedTemplates(root, self.defined)

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        name = self.unquote(token)
        self.expect(T.RIGHT_DELIM, context)
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        self.vars, self.range_depth = saved
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}", at=end.pos)
        self.add_tree(name, body)

    def add_tree(self, name: str, body: ListNode) -> None:
        if name in self.defined and _is_empty(body):
            return
        self.defined[name] = body

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                return lst, n
            lst.nodes.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ == T.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ == T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == T.BLOCK:
            return self.block_control()
        if typ in (T.BREAK, T.CONTINUE):
            word = "break" if typ == T.BREAK else "continue"
            nxt = self.next_non_space()
            if nxt.typ != T.RIGHT_DELIM:
                raise self.unexpected(nxt, "{{" + word + "}}")
            if self.range_depth == 0:
                raise self.errorf("{{" + word + "}} outside {{range}}", at=token.pos)
            return (BreakNode if typ == T.BREAK else ContinueNode)(token.pos, token.line)
        if typ == T.ELSE:
            return self.else_control()
        if typ == T.END:
            return EndNode(self.expect(T.RIGHT_DELIM, "end").pos)
        if typ == T.IF:
            return IfNode(*self.parse_control("if"))
        if typ == T.RANGE:
            return RangeNode(*self.parse_control("range"))
        if typ == T.TEMPLATE:
            return self.template_control()
        if typ == T.WITH:
            return WithNode(*self.parse_control("with"))
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, token.line, self.pipeline("command", T.RIGHT_DELIM))

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (T.IF, T.WITH):
            return ElseNode(peek.pos, peek.line)
        token = self.expect(T.RIGHT_DELIM, "else")
        return ElseNode(token.pos, token.line)

    def parse_control(self, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        nvars = len(self.vars)
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, ElseNode):
                if context == "if" and self.peek().typ == T.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [IfNode(*self.parse_control("if"))])
                elif context == "with" and self.peek().typ == T.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [WithNode(*self.parse_control("with"))])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        raise self.errorf(f"expected end; found {nxt}", at=nxt.pos)
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[nvars:]

    def template_name(self, token: Item, context: str) -> str:
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ != T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        self.vars, self.range_depth = saved
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}", at=end.pos)
        self.add_tree(name, body)
        return TemplateNode(token.pos, token.line, name, pipe)

    # pipelines ----------------------------------------------------------------------------------
    def pipeline(self, context: str, end: T) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        while True:  # the "decls:" label of Go's parser
            v = self.peek_non_space()
            if v.typ != T.VARIABLE:
                break
            self.next_non_space()
            after_var_index = self.i
            token_after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ == T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                break
            if nxt.typ == T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            # Not a declaration: push the variable back (and the space after it).
            self.i = after_var_index - 1
            del token_after
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in (
                T.BOOL,
                T.CHAR_CONSTANT,
                T.COMPLEX,
                T.DOT,
                T.FIELD,
                T.IDENTIFIER,
                T.NUMBER,
                T.NIL,
                T.RAW_STRING,
                T.STRING,
                T.VARIABLE,
                T.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
                continue
            raise self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.typ != T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == T.FIELD:
                chain.field.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, [*node.ident, *chain.field])
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, [*node.ident, *chain.field])
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.errorf(f"unexpected . after term {go_quote(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == T.IDENTIFIER:
            if token.val not in self.funcs:
                raise self.errorf(f"function {go_quote(token.val)} not defined", at=token.pos)
            return IdentifierNode(token.pos, token.val)
        if typ == T.DOT:
            return DotNode(token.pos)
        if typ == T.NIL:
            return NilNode(token.pos)
        if typ == T.VARIABLE:
            ident = token.val.split(".")
            if ident[0] not in self.vars:
                raise self.errorf(f"undefined variable {go_quote(ident[0])}", at=token.pos)
            return VariableNode(token.pos, ident)
        if typ == T.FIELD:
            return FieldNode(token.pos, [token.val[1:]])
        if typ == T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            return self.number(token)
        if typ == T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token))
        self.backup()
        return None

    def unquote(self, token: Item) -> str:
        try:
            return go_unquote(token.val)
        except UnquoteError as e:
            raise self.errorf(str(e), at=token.pos) from None

    def number(self, token: Item) -> NumberNode:
        text = token.val
        n = NumberNode(token.pos, text)
        if token.typ == T.CHAR_CONSTANT:
            try:
                r = unquote_char(text)
            except UnquoteError:
                raise self.errorf(f"malformed character constant: {text}", at=token.pos) from None
            n.is_int = n.is_uint = n.is_float = True
            n.int_value, n.float_value = r, float(r)
            return n
        if token.typ == T.COMPLEX or text.endswith("i"):
            try:
                n.complex_value = complex(text.replace("_", "")[:-1] + "j")
            except ValueError:
                raise self.errorf(
                    f"illegal number syntax: {go_quote(text)}", at=token.pos
                ) from None
            n.is_complex = True
            return n
        iv = _parse_int(text)
        if iv is not None:
            if -(2**63) <= iv < 2**63:
                n.is_int, n.int_value = True, iv
            if 0 <= iv < 2**64:
                n.is_uint = True
                if not n.is_int:
                    n.int_value = iv
            if n.is_int or n.is_uint:
                n.is_float, n.float_value = True, float(iv)
        if not (n.is_int or n.is_uint):
            try:
                f = (
                    float.fromhex(text)
                    if text.lower().lstrip("+-").startswith("0x")
                    else float(text.replace("_", ""))
                )
            except ValueError:
                f = None
            if f is not None:
                if not any(c in text for c in ".eEpP"):
                    raise self.errorf(f"integer overflow: {text}", at=token.pos)
                n.is_float, n.float_value = True, f
                if f == int(f) and abs(f) < 2**63:
                    n.is_int, n.int_value = True, int(f)
        if not (n.is_int or n.is_uint or n.is_float):
            raise self.errorf(f"illegal number syntax: {go_quote(text)}", at=token.pos)
        return n


def _is_empty(n: Node) -> bool:
    if isinstance(n, ListNode):
        return all(_is_empty(c) for c in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip() == ""
    return False


def parse_tree(text: str, name: str, funcs: Collection[str]) -> ParsedTemplates:
    """Parse ``text``; ``funcs`` are the function names that may be called."""
    return _Parser(text, name, funcs).parse()


__all__ = ["BranchNode", "ParsedTemplates", "parse_tree"]
