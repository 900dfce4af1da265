"""How Python values stand in for Go values, and Go's ``fmt`` and ``encoding/json`` output for them.

The data model:

* ``dict`` is a Go ``map[string]any``: a missing key is not an error (see ``missingkey``).
* a dataclass deriving from :class:`GoStruct` is a Go struct: reading a field it does not
  declare is an execution error (``can't evaluate field X in type T``), as it is in Go.
  Other plain objects are treated the same way, through their public attributes.
* ``list``/``tuple`` are slices, ``str`` strings, ``int`` ints, ``float`` float64, ``bool``
  bools; ``None`` is a nil interface value (the zero value of ``any``).
* :data:`MISSING` is Go's invalid ``reflect.Value`` (what a missing map key yields); it
  prints as ``<no value>``.
* A value with a ``go_string()`` method is a ``fmt.Stringer``; one with ``go_json()`` (returning
  JSON text) a ``json.Marshaler``.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .text import go_quote


class _Missing:
    """Go's invalid ``reflect.Value``: no value at all."""

    _instance: ClassVar[_Missing | None] = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class GoStruct:
    """Base for dataclasses that behave as Go structs (unknown fields are errors).

    ``go_type`` names the type in error messages, as Go's ``%s`` of a ``reflect.Type`` would.
    JSON names come from field metadata ``{"json": "name,omitempty"}``, else the field name.
    """

    go_type: ClassVar[str] = "struct"


def is_struct(v: object) -> bool:
    return isinstance(v, GoStruct) or (
        not isinstance(v, str | int | float | complex | list | tuple | dict | _Missing)
        and v is not None
        and not callable(v)
    )


def struct_fields(v: object) -> list[tuple[str, Any]]:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v)]
    return [(k, x) for k, x in vars(v).items() if not k.startswith("_")]


def go_type_name(v: object) -> str:
    """The Go type a value stands for, as ``reflect.Type.String()`` prints it."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, GoStruct):
        return v.go_type
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    go_type = getattr(v, "go_type", None)
    if isinstance(go_type, str):
        return go_type
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if callable(v):
        return "func"
    return type(v).__name__


def truth(v: object) -> bool:
    """Go template truth: false, 0, nil, and empty strings, slices and maps are false."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, bool | int | float | complex):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


def sort_keys(m: Mapping[Any, Any]) -> list[Any]:
    """Map keys in Go's ``fmtsort`` order (numbers numerically, strings bytewise)."""

    def key(k: Any) -> tuple[int, Any]:
        if isinstance(k, bool):
            return (0, k)
        if isinstance(k, int | float):
            return (1, k)
        if isinstance(k, str):
            return (2, k)
        return (3, str(k))

    return sorted(m.keys(), key=key)


# --- floats ------------------------------------------------------------------------------------


def _shortest_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits and the decimal point position (``0.d1d2… × 10**dp``)."""
    d = decimal.Decimal(repr(abs(f)))
    t = d.as_tuple()
    digits = "".join(str(x) for x in t.digits).lstrip("0") or "0"
    exp = int(t.exponent)
    # strip trailing zeros into the exponent
    stripped = digits.rstrip("0") or "0"
    exp += len(digits) - len(stripped)
    digits = stripped
    dp = len(digits) + exp
    return digits, dp


def _exp_str(e: int) -> str:
    sign = "-" if e < 0 else "+"
    return f"e{sign}{abs(e):02d}"


def format_float_shortest(f: float, fmt: str = "g", eprec: int = 6) -> str:
    """``strconv.FormatFloat(f, fmt, -1, 64)`` for ``fmt`` in ``g``, ``e``, ``f``."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = math.copysign(1.0, f) < 0
    sign = "-" if neg else ""
    if f == 0:
        digits, dp = "0", 1
    else:
        digits, dp = _shortest_digits(f)
    if fmt == "g":
        exp = dp - 1
        fmt = "e" if exp < -4 or exp >= eprec else "f"
    if fmt == "e":
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = dp - 1 if digits != "0" else 0
        return sign + mant + _exp_str(e)
    # fixed
    if dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        s = digits + "0" * (dp - len(digits))
    else:
        s = digits[:dp] + "." + digits[dp:]
    return sign + s


# --- fmt %v -------------------------------------------------------------------------------------


def fmt_value(v: object, plus: bool = False, top: bool = True) -> str:
    """Go's ``%v`` (``%+v`` with ``plus``) of a value."""
    if v is None or v is MISSING:
        return "<nil>"
    stringer = getattr(v, "go_string", None)
    if callable(stringer):
        return str(stringer())
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_shortest(v)
    if isinstance(v, complex):
        re_s = format_float_shortest(v.real)
        im_s = format_float_shortest(v.imag)
        if not im_s.startswith(("-", "+")):
            im_s = "+" + im_s
        return f"({re_s}{im_s}i)"
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + " ".join(fmt_value(x, plus, False) for x in v) + "]"
    if isinstance(v, dict):
        parts = [
            f"{fmt_value(k, plus, False)}:{fmt_value(v[k], plus, False)}" for k in sort_keys(v)
        ]
        return "map[" + " ".join(parts) + "]"
    if callable(v):
        return f"0x{id(v):x}"
    fields = struct_fields(v)
    if plus:
        body = " ".join(f"{k}:{fmt_value(x, plus, False)}" for k, x in fields)
    else:
        body = " ".join(fmt_value(x, plus, False) for _, x in fields)
    return ("" if top or not getattr(v, "go_pointer", False) else "&") + "{" + body + "}"


def sprint(args: list[Any]) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(fmt_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    """``fmt.Sprintln``: operands always separated by spaces, then a newline."""
    return " ".join(fmt_value(a) for a in args) + "\n"


# --- fmt.Sprintf ---------------------------------------------------------------------------------


def _pad(s: str, width: int | None, minus: bool, zero: bool = False) -> str:
    if width is None or len(s) >= width:
        return s
    if minus:
        return s + " " * (width - len(s))
    if zero:
        sign = s[0] if s[:1] in ("-", "+") else ""
        body = s[len(sign) :]
        return sign + "0" * (width - len(s)) + body
    return " " * (width - len(s)) + s


def _bad_verb(verb: str, v: object) -> str:
    if v is None or v is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(v)}={fmt_value(v)})"


def _fmt_int(v: int, verb: str, flags: str, prec: int | None) -> str | None:
    neg = v < 0
    a = abs(v)
    if verb in "dv":
        body = str(a)
    elif verb == "x":
        body = f"{a:x}"
    elif verb == "X":
        body = f"{a:X}"
    elif verb == "o":
        body = f"{a:o}"
    elif verb == "O":
        body = "0o" + f"{a:o}"
    elif verb == "b":
        body = f"{a:b}"
    elif verb == "c":
        return chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return go_quote(chr(v), "'") if 0 <= v <= 0x10FFFF else "'\ufffd'"
    elif verb == "U":
        s = f"U+{v:04X}"
        if "#" in flags and 0 <= v <= 0x10FFFF:
            s += f" '{chr(v)}'"
        return s
    else:
        return None
    if prec is not None:
        body = body.rjust(prec, "0") if not (prec == 0 and a == 0) else ""
    if "#" in flags:
        body = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}.get(verb, "") + body
    sign = "-" if neg else ("+" if "+" in flags else (" " if " " in flags else ""))
    return sign + body


def _fmt_float(v: float, verb: str, flags: str, prec: int | None) -> str | None:
    if verb in "vgG":
        if prec is None:
            s = format_float_shortest(v, "g")
        else:
            s = f"{v:.{prec}g}" if prec > 0 else f"{v:.1g}"
            s = s.replace("inf", "+Inf").replace("nan", "NaN")
        if verb == "G":
            s = s.upper()
    elif verb in "fF":
        s = f"{v:.{6 if prec is None else prec}f}"
    elif verb in "eE":
        s = f"{v:.{6 if prec is None else prec}e}"
        if verb == "E":
            s = s.upper()
    else:
        return None
    if math.isinf(v):
        s = "+Inf" if v > 0 else "-Inf"
    elif math.isnan(v):
        s = "NaN"
    if "+" in flags and not s.startswith(("-", "+")):
        s = "+" + s
    elif " " in flags and not s.startswith(("-", "+")):
        s = " " + s
    if s.startswith("+Inf") and "+" not in flags:
        s = s[1:]
    return s


def _fmt_one(v: object, verb: str, flags: str, prec: int | None) -> str:
    if verb == "T":
        return go_type_name(v) if v is not None else "<nil>"
    if verb in "vs" and (v is None or v is MISSING):
        return "<nil>" if verb == "v" else "%!s(<nil>)"
    if verb == "v":
        if isinstance(v, float) and prec is not None:
            return _fmt_float(v, "g", flags, prec) or ""
        if "#" in flags:
            if isinstance(v, str):
                return go_quote(v)
            return fmt_value(v, True)
        return fmt_value(v, "+" in flags)
    stringer = getattr(v, "go_string", None)
    if callable(stringer) and verb in "sqxX":
        v = str(stringer())
    if isinstance(v, bool):
        if verb == "t":
            return "true" if v else "false"
        return _bad_verb(verb, v)
    if isinstance(v, int):
        s = _fmt_int(v, verb, flags, prec)
        return _bad_verb(verb, v) if s is None else s
    if isinstance(v, float):
        f = _fmt_float(v, verb, flags, prec)
        return _bad_verb(verb, v) if f is None else f
    if isinstance(v, str):
        if verb == "s":
            return v if prec is None else v[:prec]
        if verb == "q":
            s = v if prec is None else v[:prec]
            if "#" in flags and "`" not in s and all(c.isprintable() or c == "\t" for c in s):
                return "`" + s + "`"
            return go_quote(s)
        if verb in "xX":
            h = v.encode("utf-8", "surrogateescape").hex()
            return h.upper() if verb == "X" else h
        return _bad_verb(verb, v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(_fmt_one(x, verb, flags, prec) for x in v) + "]"
    if isinstance(v, dict):
        parts = [
            f"{_fmt_one(k, verb, flags, prec)}:{_fmt_one(v[k], verb, flags, prec)}"
            for k in sort_keys(v)
        ]
        return "map[" + " ".join(parts) + "]"
    if is_struct(v) and verb in "sdqxXfeg":
        return "{" + " ".join(_fmt_one(x, verb, flags, prec) for _, x in struct_fields(v)) + "}"
    return _bad_verb(verb, v)


def sprintf(fmt: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use (``%v %s %q %d %t %f %e %g %x %c %T %%``)."""
    out: list[str] = []
    i = 0
    n = len(fmt)
    argi = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width: int | None = None
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int):
                width = args[argi]
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                width = int(fmt[start:i])
        prec: int | None = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int) and args[argi] >= 0:
                    prec = args[argi]
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                start = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[start:i]) if i > start else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        s = _fmt_one(arg, verb, flags, prec)
        numeric = isinstance(arg, int | float) and not isinstance(arg, bool)
        out.append(_pad(s, width, "-" in flags, "0" in flags and numeric))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type_name(a)}={fmt_value(a)}"
            for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --- encoding/json ------------------------------------------------------------------------------


class JSONError(ValueError):
    """``json.Marshal`` failed (NaN, or a value it cannot encode)."""


def _json_string(s: str) -> str:
    out = ['"']
    for c in s:
        cp = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\b":
            out.append("\\b")
        elif c == "\f":
            out.append("\\f")
        elif cp < 0x20 or c in "<>&" or cp in (0x2028, 0x2029):
            out.append(f"\\u{cp:04x}")
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise JSONError(f"json: unsupported value: {format_float_shortest(f)}")
    a = abs(f)
    fmt = "e" if a != 0 and (a < 1e-6 or a >= 1e21) else "f"
    s = format_float_shortest(f, fmt)
    if fmt == "e":
        s = s.replace("e-0", "e-").replace("e+0", "e+")
    return s


def json_field_spec(f: dataclasses.Field[Any]) -> tuple[str, bool] | None:
    tag = f.metadata.get("json")
    if tag is None:
        return f.name, False
    if tag == "-":
        return None
    name, _, opts = str(tag).partition(",")
    return name or f.name, "omitempty" in opts.split(",")


def _is_empty_json(v: object) -> bool:
    if v is None or v is MISSING:
        return True
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float):
        return v == 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) == 0
    return False


def go_json(v: object) -> str:
    """``json.Marshal`` of a value, byte for byte (HTML-safe escapes, sorted map keys)."""
    marshal: Callable[[], str] | None = getattr(v, "go_json", None)
    if callable(marshal):
        return marshal()
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{" + ",".join(_json_string(str(k)) + ":" + go_json(v[k]) for k in sort_keys(v)) + "}"
        )
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        parts = []
        for f in dataclasses.fields(v):
            spec = json_field_spec(f)
            if spec is None:
                continue
            name, omit = spec
            x = getattr(v, f.name)
            if omit and _is_empty_json(x):
                continue
            parts.append(_json_string(name) + ":" + go_json(x))
        return "{" + ",".join(parts) + "}"
    raise JSONError(f"json: unsupported type: {go_type_name(v)}")
