"""Go text/template semantics, case by case (expectations reasoned from Go's lexer/parser/exec)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from tui.core.gotemplate import GoStruct, TemplateError, parse


def render(text: str, data: Any = None, **kw: Any) -> str:
    return parse(text, **kw).execute(data)


def parse_error(text: str) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        parse(text)
    assert info.value.kind == "parse"
    return info.value


def exec_error(text: str, data: Any = None, **kw: Any) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        render(text, data, **kw)
    assert info.value.kind == "exec"
    return info.value


@dataclass
class Msg(GoStruct):
    go_type: ClassVar[str] = "*main.Msg"
    Role: str = ""
    Content: str = ""


# --- trimming -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a \n {{- 1 }} b", "a1 b"),
        ("a {{ 1 -}} \n\t b", "a 1b"),
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{-3}} b", "a -3 b"),  # no space after '-': a negative number, nothing trimmed
        ("a {{3 -}} b", "a 3b"),
        ("a {{-\n1\n-}} b", "a1b"),  # any white space next to the marker counts
        ("a\n{{- /* note */ -}}\nb", "ab"),
        ("a {{/* note */}} b", "a  b"),
        ("x{{- `` -}}y", "xy"),
        ("{{ 1 }}\n{{- 2 }}", "12"),
    ],
)
def test_trim_markers(text: str, expected: str) -> None:
    assert render(text) == expected


def test_comment_must_close_at_delimiter() -> None:
    assert (
        str(parse_error("{{/* x */ 1}}")) == "template: :1: comment ends before closing delimiter"
    )
    assert str(parse_error("a\n{{/* x")) == "template: :2: unclosed comment"


def test_actions_may_span_lines() -> None:
    assert render("{{ if\n.X\n}}yes{{ end }}", {"X": 1}) == "yes"


# --- control structures ---------------------------------------------------------------------------


def test_if_else_if_chain() -> None:
    t = parse("{{ if eq .N 1 }}one{{ else if eq .N 2 }}two{{ else }}many{{ end }}")
    assert [t.execute({"N": n}) for n in (1, 2, 3)] == ["one", "two", "many"]


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        ("", False),
        ("x", True),
        (0, False),
        (2, True),
        (0.0, False),
        (None, False),
        ([], False),
        ([0], True),
        ({}, False),
        ({"a": 1}, True),
        (False, False),
        (True, True),
        (Msg(), True),
    ],
)
def test_truthiness(value: Any, truth: bool) -> None:
    assert render("{{ if .V }}T{{ else }}F{{ end }}", {"V": value}) == ("T" if truth else "F")


def test_range_list_with_index_and_else() -> None:
    t = parse("{{ range $i, $m := .L }}{{ $i }}:{{ $m }},{{ else }}empty{{ end }}")
    assert t.execute({"L": ["a", "b"]}) == "0:a,1:b,"
    assert t.execute({"L": []}) == "empty"
    assert t.execute({}) == "empty"  # a missing value ranges like an empty one


def test_range_map_sorted_keys() -> None:
    assert render(
        "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", {"b": 2, "a": 1, "c": 3}
    ) == ("a=1;b=2;c=3;")


def test_range_sets_dot_and_one_variable_is_the_element() -> None:
    assert render("{{ range $x := . }}{{ $x }}{{ . }}{{ end }}", ["p", "q"]) == "ppqq"


def test_range_break_continue() -> None:
    text = "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}"
    assert render(text, [1, 2, 3, 4, 5]) == "13"


def test_range_over_int() -> None:
    assert render("{{ range 3 }}{{ . }}{{ end }}") == "012"


def test_range_over_string_is_an_error() -> None:
    e = exec_error("{{ range . }}{{ end }}", "abc")
    assert e.detail == "range can't iterate over abc"


def test_with_else() -> None:
    t = parse("{{ with .A }}[{{ . }}]{{ else }}none{{ end }}")
    assert t.execute({"A": "x"}) == "[x]"
    assert t.execute({"A": ""}) == "none"
    assert render("{{ with .A }}a{{ else with .B }}{{ . }}{{ end }}", {"B": "b"}) == "b"


# --- variables ------------------------------------------------------------------------------------


def test_variable_assignment_reaches_outer_scope() -> None:
    text = '{{ $s := "" }}{{ range . }}{{ $s = printf "%s%s" $s . }}{{ end }}{{ $s }}'
    assert render(text, ["a", "b", "c"]) == "abc"


def test_declaration_inside_if_is_scoped() -> None:
    e = parse_error("{{ if 1 }}{{ $x := 2 }}{{ end }}{{ $x }}")
    assert str(e) == 'template: :1: undefined variable "$x"'


def test_dollar_is_the_data_and_chained_fields_on_variables() -> None:
    data = {"Name": "top", "L": [{"Role": "user"}]}
    assert render("{{ range $m := .L }}{{ $.Name }}/{{ $m.Role }}{{ end }}", data) == "top/user"


def test_declared_variable_is_not_printed() -> None:
    assert render("{{ $x := 5 }}[{{ $x }}]") == "[5]"


# --- fields and missing keys ----------------------------------------------------------------------


def test_missing_map_key_renders_no_value() -> None:
    assert render("{{ .Nope }}|{{ .A.B }}", {"A": {}}) == "<no value>|<no value>"


def test_missing_key_zero_option_still_prints_no_value_for_any_maps() -> None:
    assert render("{{ .Nope }}", {}, missingkey="zero") == "<no value>"
    e = exec_error("{{ .Nope.Deeper }}", {}, missingkey="zero")
    assert e.detail == "nil pointer evaluating interface {}.Deeper"


def test_missing_key_error_option() -> None:
    e = exec_error("{{ .Nope }}", {}, missingkey="error")
    assert str(e) == 'template: :1:3: executing "" at <.Nope>: map has no entry for key "Nope"'


def test_unknown_struct_field_is_an_error() -> None:
    e = exec_error("ab\n {{ .First }}", Msg("user", "hi"))
    assert str(e) == (
        'template: :2:4: executing "" at <.First>: can\'t evaluate field First in type *main.Msg'
    )
    assert (e.line, e.col) == (2, 5)


def test_struct_fields_and_printing() -> None:
    assert render("{{ .Role }}: {{ .Content }} {{ . }}", Msg("user", "hi")) == "user: hi {user hi}"


def test_parenthesized_pipeline_and_chain() -> None:
    assert render("{{ (index . 0).Role }}", [{"Role": "r"}]) == "r"
    assert render('{{ (printf "%s-%s" "a" "b") }}') == "a-b"


# --- pipelines and functions ----------------------------------------------------------------------


def test_pipeline_passes_last_argument() -> None:
    assert render('{{ "x" | printf "%s-%s" "a" }}') == "a-x"
    assert render("{{ .A | len }}", {"A": [1, 2, 3]}) == "3"


def test_and_or_return_operands_and_short_circuit() -> None:
    assert render('{{ or "" 0 "x" "y" }}') == "x"
    assert render('{{ and 1 "" 3 }}') == ""
    assert render("{{ and 1 2 3 }}") == "3"
    # short-circuit: the missing-field error of the second operand is never raised
    assert render("{{ or 1 .X.Y.Z }}", Msg()) == "1"
    assert render("{{ and 0 .Nope }}", Msg()) == "0"


def test_not() -> None:
    assert render("{{ not 0 }} {{ not .A }}", {"A": [1]}) == "true false"


def test_eq_with_many_arguments_and_ne() -> None:
    assert render('{{ eq .R "system" "user" }}', {"R": "user"}) == "true"
    assert render('{{ eq .R "system" "tool" }}', {"R": "user"}) == "false"
    assert render('{{ ne .R "user" }}', {"R": "user"}) == "false"
    assert render('{{ eq .Missing "x" }}', {}) == "false"


def test_eq_incompatible_types_is_an_error() -> None:
    e = exec_error("{{ eq 1 1.0 }}")
    assert e.detail == "error calling eq: incompatible types for comparison"


def test_ordering_functions() -> None:
    assert render("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 3 }}") == "true true false false"
    assert render('{{ lt "a" "b" }}') == "true"


def test_len_counts_bytes_of_strings() -> None:
    assert render('{{ len "héllo" }} {{ len . }}', {"a": 1, "b": 2}) == "6 2"


def test_index() -> None:
    data = {"L": [[1, 2], [3, 4]], "M": {"k": "v"}}
    assert render('{{ index .L 1 0 }} {{ index .M "k" }} {{ index .M "z" }}', data) == (
        "3 v <no value>"
    )
    assert render('{{ index "abc" 1 }}') == "98"
    e = exec_error("{{ index .L 5 }}", data)
    assert e.detail == "error calling index: index out of range: 5"


def test_slice() -> None:
    assert (
        render("{{ slice . 1 3 }} {{ slice . 2 }} {{ slice . }}", [1, 2, 3, 4])
        == "[2 3] [3 4] [1 2 3 4]"
    )
    assert render('{{ slice "hello" 1 3 }}') == "el"
    assert exec_error("{{ slice . 3 1 }}", [1, 2, 3]).detail == (
        "error calling slice: invalid slice index: 3 > 1"
    )


def test_print_family() -> None:
    assert render('{{ print "a" 1 2 "b" }}') == "a1 2b"
    assert render('{{ println "a" 1 }}') == "a 1\n"
    assert render("{{ print .Nope }}", {}) == "<nil>"


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s|%q", '"a" "b"', 'a|"b"'),
        ("%d|%5d|%-4d|%03d", "7 7 7 7", "7|    7|7   |007"),
        ("%v|%v|%v", "1.5 true nil", "1.5|true|<nil>"),
        ("%t", "false", "false"),
        ("%.2f|%f|%e", "3.14159 1.0 1234.5678", "3.14|1.000000|1.234568e+03"),
        ("%x|%X|%o|%b|%c", "255 255 8 5 65", "ff|FF|10|101|A"),
        ("%d", '"s"', "%!d(string=s)"),
        ("%s %s", '"a"', "a %!s(MISSING)"),
        ("%s", '"a" "b"', "a%!(EXTRA string=b)"),
        ("100%%", "", "100%"),
        ("%v", "1e6", "1e+06"),
        ("%v", "100000.0", "100000"),
        ("%q", '"tab\\t"', '"tab\\t"'),
        ("%6.2s|", '"abc"', "    ab|"),
    ],
)
def test_printf_verbs(fmt: str, args: str, expected: str) -> None:
    assert render('{{ printf "' + fmt.replace('"', '\\"') + '" ' + args + " }}") == expected


def test_printf_value_forms() -> None:
    data = {"L": [1, "a"], "M": {"b": 1, "a": [2]}, "S": Msg("u", "c")}
    assert render('{{ printf "%v %v %v %+v" .L .M .S .S }}', data) == (
        "[1 a] map[a:[2] b:1] {u c} {Role:u Content:c}"
    )


def test_html_js_urlquery() -> None:
    assert render("{{ html . }}", "<a href=\"x\">'&'</a>") == (
        "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    )
    assert render("{{ js . }}", "a'b\"<c>=\n") == "a\\'b\\\"\\u003Cc\\u003E\\u003D\\u000A"
    assert render("{{ urlquery . }}", "a b&c=d/é") == "a+b%26c%3Dd%2F%C3%A9"
    assert render("{{ html .Nope }}", {}) == "&lt;no value&gt;"


def test_call_and_custom_funcs() -> None:
    t = parse("{{ call .F 2 3 }} {{ up .S }}", funcs={"up": str.upper})
    assert t.execute({"F": lambda a, b: a * b, "S": "x"}) == "6 X"


def test_func_errors_and_arity() -> None:
    def boom(x: Any) -> str:
        raise ValueError("bad input")

    assert (
        exec_error("{{ boom 1 }}", funcs={"boom": boom}).detail == "error calling boom: bad input"
    )
    assert exec_error("{{ not 1 2 }}").detail == "wrong number of args for not: want 1 got 2"
    assert exec_error("{{ printf 3 }}").detail == "wrong type for value; expected string; got int"


# --- literals -------------------------------------------------------------------------------------


def test_string_literals() -> None:
    assert render(r'{{ "a\tb\n\x41\u00e9\101\"" }}') == 'a\tb\nAéA"'
    assert render("{{ `raw\\n` }}") == "raw\\n"
    assert str(parse_error(r'{{ "\q" }}')) == "template: :1: invalid syntax"


def test_numbers_bools_nil() -> None:
    assert render("{{ 0x1F }} {{ 1_000 }} {{ 1.50 }} {{ 'a' }} {{ -2 }} {{ true }}") == (
        "31 1000 1.5 97 -2 true"
    )
    assert exec_error("{{ nil }}").detail == "nil is not a command"


# --- define/template ------------------------------------------------------------------------------


def test_define_and_template() -> None:
    text = (
        '{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" .X }}{{ block "b" 2 }}[{{ . }}]{{ end }}'
    )
    assert render(text, {"X": 1}) == "<1>[2]"
    assert exec_error('{{ template "zz" }}').detail == 'template "zz" not defined'


# --- parse errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("{{ if .X }}a", "template: :1: unexpected EOF", 1),
        ("a\n{{ end }}", "template: :2: unexpected {{end}}", 2),
        ("{{ foo }}", 'template: :1: function "foo" not defined', 1),
        ("x\n\n{{ .X ", "template: :3: unclosed action", 3),
        ("{{ .X\n\n", "template: :3: unclosed action started at :1", 3),
        (
            "{{ if .A }}{{ else }}{{ else }}{{ end }}",
            "template: :1: expected end; found {{else}}",
            1,
        ),
        ("{{ break }}", "template: :1: {{break}} outside {{range}}", 1),
        ("{{ }}", "template: :1: missing value for command", 1),
        ("{{ .X | 3 }}", "template: :1: non executable command in pipeline stage 2", 1),
        ("{{ (1 }}", "template: :1: unclosed left paren", 1),
        ("{{ 1) }}", "template: :1: unexpected right paren", 1),
        ("{{ .X.3 }}", 'template: :1: unexpected ".3" in operand', 1),
        ("{{ 3x }}", 'template: :1: bad number syntax: "3x"', 1),
        ("{{ $x }}", 'template: :1: undefined variable "$x"', 1),
        ("{{ range $a, $b, $c := . }}{{ end }}", "template: :1: too many declarations in range", 1),
        ('{{ "x }}', "template: :1: unterminated quoted string", 1),
        ("{{ # }}", 'template: :1: unexpected "#" in command', 1),
        ("{{ else }}", "template: :1: unexpected {{else}}", 1),
    ],
)
def test_parse_errors(text: str, message: str, line: int) -> None:
    e = parse_error(text)
    assert str(e) == message
    assert e.line == line


def test_parse_error_column_points_at_the_token() -> None:
    e = parse_error("ab\n  {{ foo }}")
    assert (e.line, e.col) == (2, 6)


def test_template_name_in_messages() -> None:
    with pytest.raises(TemplateError) as info:
        parse("{{ end }}", name="tmpl")
    assert str(info.value) == "template: tmpl:1: unexpected {{end}}"
