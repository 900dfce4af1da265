"""Go's builtin template functions (``text/template/funcs.go``), with Go's error texts.

Each builtin takes the evaluated arguments (``MISSING`` and ``None`` kept apart, as Go's
``reflect.Value`` arguments are) and returns a value or raises :class:`FuncError`, which the
executor reports as ``error calling NAME: …``. ``and``/``or`` short-circuit in the executor.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .values import MISSING, fmt_value, go_type_name, sprint, sprintf, sprintln, truth


class FuncError(Exception):
    """A function returned an error; the executor prefixes ``error calling NAME:``."""


class ArgTypeError(Exception):
    """An argument does not fit the parameter; reported without the ``error calling`` prefix."""


@dataclass(frozen=True)
class Builtin:
    fn: Callable[[list[Any]], Any]
    min_args: int
    max_args: int | None  # None: variadic


def _kind(v: object) -> str:
    if v is MISSING or v is None:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "other"


def _eq(args: list[Any]) -> bool:
    a1 = args[0]
    if len(args) == 1:
        raise FuncError("missing argument for comparison")
    k1 = _kind(a1)
    for a in args[1:]:
        k2 = _kind(a)
        if k1 != k2:
            if a1 is not MISSING and a1 is not None and a is not MISSING and a is not None:
                raise FuncError("incompatible types for comparison")
            continue
        if k1 in ("bool", "int", "float", "complex", "string"):
            if a1 == a:
                return True
            continue
        if k1 == "invalid":
            return True
        if isinstance(a1, list | tuple | dict) or isinstance(a, list | tuple | dict):
            raise FuncError(f"non-comparable type {fmt_value(a)}: {go_type_name(a)}")
        if a1 == a:
            return True
    return False


def _ne(args: list[Any]) -> bool:
    return not _eq(args)


def _lt_values(a1: Any, a2: Any) -> bool:
    k1, k2 = _kind(a1), _kind(a2)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    return bool(a1 < a2)


def _lt(args: list[Any]) -> bool:
    return _lt_values(args[0], args[1])


def _le(args: list[Any]) -> bool:
    return _lt_values(args[0], args[1]) or _eq(args)


def _gt(args: list[Any]) -> bool:
    return not _le(args)


def _ge(args: list[Any]) -> bool:
    return not _lt(args)


def _not(args: list[Any]) -> bool:
    return not truth(args[0])


def _len(args: list[Any]) -> int:
    v = args[0]
    if v is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    if v is None:
        raise FuncError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, list | tuple | dict):
        return len(v)
    raise FuncError(f"len of type {go_type_name(v)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is MISSING or index is None:
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(args: list[Any]) -> Any:
    item = args[0]
    if item is MISSING or item is None:
        raise FuncError("index of untyped nil")
    for index in args[1:]:
        if item is None or item is MISSING:
            raise FuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            seq: Any = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
            x = _index_arg(index, len(seq))
            if x == len(seq):
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = seq[x]
        elif isinstance(item, dict):
            if index is MISSING or index is None:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FuncError(f"value has type {go_type_name(index)}; should be string")
            item = item.get(index)
        else:
            raise FuncError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(args: list[Any]) -> Any:
    item = args[0]
    indexes = args[1:]
    if item is MISSING or item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, list | tuple):
        data = None
    else:
        raise FuncError(f"can't slice item of type {go_type_name(item)}")
    length = len(item) if data is None else len(data)
    idx = [0, length, length]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, length)
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    if data is not None:
        return data[idx[0] : idx[1]].decode("utf-8", "surrogateescape")
    return list(item[idx[0] : idx[1]])


def _printable(args: list[Any]) -> list[Any]:
    return [None if a is MISSING else a for a in args]


def _print(args: list[Any]) -> str:
    return sprint(_printable(args))


def _println(args: list[Any]) -> str:
    return sprintln(_printable(args))


def _printf(args: list[Any]) -> str:
    fmt = args[0]
    if fmt is MISSING or fmt is None:
        raise ArgTypeError("invalid value; expected string")
    if not isinstance(fmt, str):
        raise ArgTypeError(f"wrong type for value; expected string; got {go_type_name(fmt)}")
    return sprintf(fmt, _printable(args[1:]))


def _eval_args(args: list[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is MISSING or a is None else a for a in args])


def html_escape(s: str) -> str:
    """``template.HTMLEscapeString``."""
    out = []
    for c in s:
        if c == '"':
            out.append("&#34;")
        elif c == "'":
            out.append("&#39;")
        elif c == "&":
            out.append("&amp;")
        elif c == "<":
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == "\0":
            out.append("\ufffd")
        else:
            out.append(c)
    return "".join(out)


_JS_SPECIAL = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js_escape(s: str) -> str:
    """``template.JSEscapeString``."""
    out = []
    for c in s:
        if c in _JS_SPECIAL:
            out.append(_JS_SPECIAL[c])
        elif ord(c) < 0x20:
            out.append(f"\\u00{ord(c):02X}")
        elif ord(c) >= 0x80 and not (c.isprintable() or c == "\u00a0"):
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _html(args: list[Any]) -> str:
    return html_escape(_eval_args(args))


def _js(args: list[Any]) -> str:
    return js_escape(_eval_args(args))


def _urlquery(args: list[Any]) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _call(args: list[Any]) -> Any:
    fn = args[0]
    if fn is MISSING or fn is None:
        raise FuncError("call of nil")
    if not callable(fn):
        raise FuncError(f"non-function {fmt_value(fn)} of type {go_type_name(fn)}")
    rest = [None if a is MISSING else a for a in args[1:]]
    return fn(*rest)


BUILTINS: dict[str, Builtin] = {
    "and": Builtin(lambda a: a[-1], 1, None),
    "or": Builtin(lambda a: a[-1], 1, None),
    "not": Builtin(_not, 1, 1),
    "len": Builtin(_len, 1, 1),
    "index": Builtin(_index, 1, None),
    "slice": Builtin(_slice, 1, None),
    "eq": Builtin(_eq, 1, None),
    "ne": Builtin(_ne, 2, 2),
    "lt": Builtin(_lt, 2, 2),
    "le": Builtin(_le, 2, 2),
    "gt": Builtin(_gt, 2, 2),
    "ge": Builtin(_ge, 2, 2),
    "print": Builtin(_print, 0, None),
    "printf": Builtin(_printf, 1, None),
    "println": Builtin(_println, 0, None),
    "html": Builtin(_html, 0, None),
    "js": Builtin(_js, 0, None),
    "urlquery": Builtin(_urlquery, 0, None),
    "call": Builtin(_call, 1, None),
}
"""Go's builtins; ``and``/``or`` are evaluated lazily by the executor, not through ``fn``."""
