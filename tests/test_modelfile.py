"""Modelfile parser, validator, editor and /api/create fields, against Ollama's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.diagnostics import DiagnosticError
from tui.core.modelfile import (
    INVALID_COMMAND,
    INVALID_ROLE,
    Instruction,
    Unparsed,
    decode_bytes,
    encode_value,
    is_valid_requires,
    parse,
    parse_go_float32,
    parse_go_int,
    serialize,
    to_create_fields,
    validate,
)

GOLDEN = Path(__file__).parent / "golden" / "modelfiles"


def codes(text: str) -> list[tuple[int, int, str, str]]:
    return [(d.line, d.col, d.severity, d.code) for d in validate(parse(text))]


def values(text: str) -> list[tuple[str, str | None, str | None]]:
    return [(i.keyword, i.name, i.value) for i in parse(text).instructions]


# -- golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.Modelfile")), ids=lambda p: p.name)
def test_golden_round_trip_and_clean(path: Path) -> None:
    text = path.read_text()
    mf = parse(text)
    assert serialize(mf) == text
    assert [d for d in validate(mf) if d.severity == "error"] == []


def test_mario_create_fields() -> None:
    fields = to_create_fields(parse((GOLDEN / "mario.Modelfile").read_text()))
    assert fields.from_ == "llama3.2"
    assert fields.parameters == {"temperature": 1.0, "num_ctx": 4096}
    assert isinstance(fields.parameters["num_ctx"], int)
    assert fields.system == "You are Mario from super mario bros, acting as an assistant."
    assert fields.to_request("mario") == {
        "model": "mario",
        "from": "llama3.2",
        "system": "You are Mario from super mario bros, acting as an assistant.",
        "parameters": {"temperature": 1.0, "num_ctx": 4096},
    }


def test_show_modelfile_template_and_stops() -> None:
    fields = to_create_fields(parse((GOLDEN / "show-llama3.2.Modelfile").read_text()))
    assert fields.template is not None
    assert fields.template.startswith("{{ if .System }}<|start_header_id|>system")
    assert fields.template.endswith("{{ .Response }}<|eot_id|>")
    assert fields.parameters == {
        "stop": [
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|reserved_special_token",
        ]
    }


def test_message_history() -> None:
    fields = to_create_fields(parse((GOLDEN / "messages.Modelfile").read_text()))
    assert [m["role"] for m in fields.messages] == ["user", "assistant"] * 3
    assert fields.messages[2] == {"role": "user", "content": "Is Sacramento in Canada?"}


# -- the parser's rules, as Ollama's parser.go applies them ----------------------------------


def test_trims_and_unquotes_like_ollama() -> None:
    text = (
        'FROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\n'
        'TEMPLATE """   a\n\nb   """    \n'
    )
    assert values(text) == [
        ("FROM", None, "     model 1"),
        ("ADAPTER", None, "adapter3"),
        ("LICENSE", None, "MIT       "),
        ("TEMPLATE", None, "   a\n\nb   "),
    ]


def test_keywords_are_case_insensitive_parameter_names_are_not() -> None:
    text = "from x\nParameter temperature 0.5\nparameter Temperature 0.5\n"
    assert [i.keyword for i in parse(text).instructions] == ["FROM", "PARAMETER", "PARAMETER"]
    assert codes(text) == [(3, 11, "error", "unknown-parameter")]
    assert "did you mean 'temperature'" in validate(parse(text))[0].message


def test_hash_is_a_comment_only_at_line_start() -> None:
    text = "# c\n   # indented comment\nFROM x # not a comment\nSYSTEM a#b\n"
    assert values(text) == [("FROM", None, "x # not a comment"), ("SYSTEM", None, "a#b")]


def test_multiline_strings_close_only_at_a_line_end() -> None:
    text = 'FROM x\nSYSTEM """a""" b\nc"""\nTEMPLATE "one\ntwo"\n'
    assert values(text)[1:] == [("SYSTEM", None, 'a""" b\nc'), ("TEMPLATE", None, "one\ntwo")]


def test_quote_only_at_start_counts() -> None:
    assert values('FROM x\nSYSTEM say "hi"\nSYSTEM "a" b"\n')[1:] == [
        ("SYSTEM", None, 'say "hi"'),
        ("SYSTEM", None, 'a" b'),
    ]


def test_crlf_and_bom() -> None:
    text = '\ufeffFROM x\r\nPARAMETER temperature 0.1\r\nSYSTEM """a\r\nb"""\r\n'
    mf = parse(text)
    assert serialize(mf) == text
    assert values(text) == [
        ("FROM", None, "x"),
        ("PARAMETER", "temperature", "0.1"),
        ("SYSTEM", None, "a\r\nb"),
    ]
    assert validate(mf) == []


def test_utf16_decoding() -> None:
    text = decode_bytes("FROM x\nSYSTEM héllo\n".encode("utf-16"))
    assert values(text) == [("FROM", None, "x"), ("SYSTEM", None, "héllo")]


def test_non_printable_characters_are_dropped_from_values_but_kept_in_the_tree() -> None:
    text = "\x0bFROM x\u200by\nSYSTEM a\x01b\n"
    mf = parse(text)
    assert serialize(mf) == text
    assert values(text) == [("FROM", None, "xy"), ("SYSTEM", None, "ab")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM x\nBOGUS y\n", [(2, 1, "error", "unknown-instruction")]),
        ("FROM x\nFROM\n", [(2, 1, "error", "missing-value")]),
        ("FROM x\nFR0M y\n", [(2, 1, "error", "unknown-instruction")]),
        ("FROM x\nPARAMETER temperature\n", [(2, 11, "error", "missing-value")]),
        ("FROM x\nPARAMETER temp-x 1\n", [(2, 11, "error", "syntax")]),
        ("FROM x\nMESSAGE badguy hi\n", [(2, 9, "error", "invalid-role")]),
        ("FROM x\nMESSAGE system\n", [(2, 9, "error", "missing-value")]),
        ('FROM x\nTEMPLATE """abc\n', [(2, 10, "error", "unterminated-string")]),
        ('FROM x\nSYSTEM   "abc', [(2, 10, "error", "unterminated-string")]),
        ("SYSTEM hi\n", [(1, 1, "error", "missing-from")]),
        ("", [(1, 1, "error", "missing-from")]),
    ],
)
def test_syntax_errors_with_positions(text: str, expected: list[tuple[int, int, str, str]]) -> None:
    mf = parse(text)
    assert serialize(mf) == text
    assert codes(text) == expected


def test_error_messages_are_ollamas() -> None:
    [unknown] = validate(parse("FROM x\nBOGUS y\n"))
    assert unknown.message == f"unknown instruction 'BOGUS': {INVALID_COMMAND}"
    [role] = validate(parse("FROM x\nMESSAGE bot y\n"))
    assert role.message == INVALID_ROLE
    assert any(isinstance(n, Unparsed) for n in parse("FROM x\nFROM\n").nodes)


def test_parsing_resumes_after_an_error() -> None:
    text = "FROM x\nBOGUS 1\nPARAMETER top_k nope\nPARAMETER seed 1.5\n"
    assert codes(text) == [
        (2, 1, "error", "unknown-instruction"),
        (3, 17, "error", "invalid-value"),
        (4, 16, "error", "invalid-value"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("PARAMETER temperature hot", "invalid float value [hot]"),
        ("PARAMETER num_ctx 4k", "invalid int value [4k]"),
        ("PARAMETER use_mmap yes", "invalid bool value [yes]"),
        ("PARAMETER top_p 0.9 # nice", "invalid float value [0.9 # nice]"),
        ("PARAMETER temperature 1e39", "invalid float value [1e39]"),
        ("PARAMETER num_ctx 1_000", "invalid int value [1_000]"),
        ("PARAMETER bogus 1", "unknown parameter 'bogus'"),
    ],
)
def test_wrong_value_types(line: str, message: str) -> None:
    [d] = validate(parse(f"FROM x\n{line}\n"))
    assert d.severity == "error"
    assert d.message.startswith(message)
    assert d.line == 2


@pytest.mark.parametrize(
    ("line", "typed"),
    [
        ("PARAMETER temperature .5", 0.5),
        ("PARAMETER temperature 1e-3", 0.001),
        ("PARAMETER temperature -0x1p-2", -0.25),
        ("PARAMETER seed -42", -42),
        ("PARAMETER num_ctx +8192", 8192),
        ("PARAMETER use_mmap F", False),
        ("PARAMETER use_mmap TRUE", True),
        ('PARAMETER main_gpu "1"', 1),
    ],
)
def test_values_go_accepts(line: str, typed: object) -> None:
    fields = to_create_fields(parse(f"FROM x\n{line}\n"))
    [(_name, value)] = fields.parameters.items()
    assert value == typed and type(value) is type(typed)


def test_go_number_syntax() -> None:
    assert parse_go_int("9223372036854775807") == 2**63 - 1
    assert parse_go_int("9223372036854775808") is None
    assert parse_go_int(" 1") is None
    assert parse_go_float32("Inf") == float("inf")
    assert parse_go_float32("+nan") is None
    assert parse_go_float32("1_0") is None
    assert parse_go_float32("3.4e38") == 3.4e38


def test_deprecated_parameters_warn_and_are_not_sent() -> None:
    text = "FROM x\nPARAMETER mirostat 2\nPARAMETER temperature 0.2\n"
    assert codes(text) == [(2, 11, "warning", "deprecated-parameter")]
    assert to_create_fields(parse(text)).parameters == {"temperature": 0.2}


def test_repeats_last_one_wins_stop_accumulates() -> None:
    text = (
        "FROM a\nFROM b\nPARAMETER temperature 1\nPARAMETER temperature 2\n"
        "PARAMETER stop x\nPARAMETER stop y\nLICENSE l1\nLICENSE l2\n"
    )
    assert [(d.line, d.code) for d in validate(parse(text))] == [(2, "duplicate"), (4, "duplicate")]
    fields = to_create_fields(parse(text))
    assert fields.from_ == "b"
    assert fields.parameters == {"temperature": 2.0, "stop": ["x", "y"]}
    assert fields.license == ["l1", "l2"]


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("0.14.0", True),
        ("v0.14.0", True),
        ("0.14", True),
        ("1", True),
        ("1.2.3-rc.1+build.5", True),
        ("1.2-rc1", False),
        ("01.2.3", False),
        ("1.2.3-01", False),
        ("1.2.3.4", False),
        ("latest", False),
        ("", False),
    ],
)
def test_requires_semver(version: str, ok: bool) -> None:
    assert is_valid_requires(version) is ok
    written = version or '""'
    diags = validate(parse(f"FROM x\nREQUIRES {written}\n"))
    assert [d.code for d in diags] == ([] if ok else ["invalid-requires"])


def test_requires_v_prefix_is_stripped_for_create() -> None:
    assert to_create_fields(parse("FROM x\nREQUIRES v0.14.0\n")).requires == "0.14.0"


def test_other_instructions_reach_create_fields() -> None:
    text = "FROM x\nDRAFT ./d.gguf\nADAPTER a1\nADAPTER a2\nRENDERER r\nPARSER p\n"
    fields = to_create_fields(parse(text))
    assert fields.drafts == ["./d.gguf"]
    assert fields.adapters == ["a2"]
    assert (fields.renderer, fields.parser) == ("r", "p")


def test_create_fields_refuses_a_broken_file() -> None:
    with pytest.raises(DiagnosticError) as info:
        to_create_fields(parse("FROM x\nPARAMETER top_k high\n"))
    assert info.value.diagnostics[0].code == "invalid-value"
    assert "line 2" in str(info.value)


def test_template_with_unclosed_action() -> None:
    # Go reports the stray "}" (column 24 of the Modelfile), not the start of the value.
    assert codes('FROM x\nTEMPLATE """{{ .Prompt }"""\n') == [(2, 24, "error", "template-syntax")]


# -- edits -----------------------------------------------------------------------------------

MARIO = (GOLDEN / "mario.Modelfile").read_text()


def test_set_parameter_changes_only_its_value() -> None:
    mf = parse(MARIO)
    mf.set_parameter("temperature", 0.7)
    assert mf.text == MARIO.replace("PARAMETER temperature 1\n", "PARAMETER temperature 0.7\n")


def test_set_new_parameter_goes_after_the_last_parameter() -> None:
    mf = parse(MARIO)
    mf.set_parameter("top_k", 20)
    assert mf.text == MARIO.replace(
        "PARAMETER num_ctx 4096\n", "PARAMETER num_ctx 4096\nPARAMETER top_k 20\n"
    )
    assert to_create_fields(mf).parameters["top_k"] == 20


def test_set_parameter_rejects_bad_names_and_values() -> None:
    mf = parse(MARIO)
    with pytest.raises(DiagnosticError, match="unknown parameter 'Temperature'"):
        mf.set_parameter("Temperature", 1)
    with pytest.raises(DiagnosticError, match="invalid int value"):
        mf.set_parameter("num_ctx", 1.5)
    with pytest.raises(DiagnosticError, match="stop takes strings"):
        mf.set_parameter("stop", 5)
    assert mf.text == MARIO


def test_set_stop_list_rewrites_adds_and_removes() -> None:
    text = (GOLDEN / "show-llama3.2.Modelfile").read_text()
    mf = parse(text)
    mf.set_parameter("stop", ["<|eot_id|>", "</s>"])
    assert to_create_fields(mf).parameters["stop"] == ["<|eot_id|>", "</s>"]
    assert mf.text.endswith('PARAMETER stop "<|eot_id|>"\nPARAMETER stop "</s>"\n')
    assert mf.text.startswith(text.split("PARAMETER stop")[0])
    mf.set_parameter("stop", ["a", "b", "c"])
    assert to_create_fields(mf).parameters["stop"] == ["a", "b", "c"]


def test_set_template_and_system_keep_everything_else() -> None:
    mf = parse(MARIO)
    mf.set_system('Say "wahoo"\nalways')
    assert mf.system == 'Say "wahoo"\nalways'
    assert mf.text.startswith(MARIO.split("SYSTEM")[0])
    mf.set_template("{{ .Prompt }}")
    assert mf.text.split("\n")[:2] == ["FROM llama3.2", "TEMPLATE {{ .Prompt }}"]
    assert mf.template == "{{ .Prompt }}"


def test_set_from_and_remove() -> None:
    mf = parse(MARIO)
    mf.set_from("./weights/model.gguf")
    assert mf.text == MARIO.replace("FROM llama3.2", "FROM ./weights/model.gguf")
    assert mf.remove("PARAMETER", "num_ctx") == 1
    assert "num_ctx" not in mf.text.replace("# sets the context window size to 4096", "")
    assert "# sets the context window size to 4096" in mf.text
    assert mf.remove("SYSTEM") == 1
    assert mf.text.endswith("chat assistant\n")


def test_set_from_on_an_empty_file() -> None:
    mf = parse("# just a comment")
    mf.set_from("llama3.2")
    assert mf.text == "# just a comment\nFROM llama3.2"
    assert validate(mf) == []


def test_encode_value_round_trips_or_refuses() -> None:
    assert encode_value("plain") == "plain"
    assert encode_value(" padded ") == '" padded "'
    assert encode_value('x"\ny') == '"""x"\ny"""'
    assert encode_value("") == '""'
    with pytest.raises(DiagnosticError):
        encode_value('a"""\nb')
    with pytest.raises(DiagnosticError):
        encode_value("bell\x07")


# -- properties ------------------------------------------------------------------------------

ALPHABET = st.sampled_from(
    [
        *'FROMPARETLSYINGDVQUfromparet #"\n\r\t \x0b\u200b\ufeffé_0123456789.{}-:',
        *("FROM ", "PARAMETER ", "TEMPLATE ", "MESSAGE ", '"""', "stop ", "temperature "),
    ]
)
TEXTS = st.lists(ALPHABET, max_size=60).map("".join) | st.text(max_size=200)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXTS)
def test_parse_is_lossless_and_never_raises(text: str) -> None:
    mf = parse(text)
    assert serialize(mf) == text
    pos = 0
    for node in mf.nodes:
        assert node.start == pos
        pos = node.end
    assert pos == len(text)
    for d in validate(mf):
        assert d.line >= 1 and d.col >= 1


@FAST
@given(TEXTS)
def test_create_fields_raise_only_diagnostic_errors(text: str) -> None:
    try:
        to_create_fields(parse(text))
    except DiagnosticError:
        pass


@FAST
@given(TEXTS, st.text(max_size=30), st.floats(0, 2, allow_nan=False))
def test_edits_preserve_the_rest(text: str, system: str, temperature: float) -> None:
    mf = parse(text)
    before = [i.text for i in mf.instructions if i.keyword not in ("SYSTEM", "PARAMETER")]
    try:
        mf.set_system(system)
        mf.set_parameter("temperature", temperature)
    except DiagnosticError:
        return
    assert mf.system == system
    assert to_create_fields_or_none(mf, "temperature") in (temperature, None)
    after = [i.text for i in mf.instructions if i.keyword not in ("SYSTEM", "PARAMETER")]
    assert after == before
    mf.remove("SYSTEM")
    assert mf.system is None
    assert [i.text for i in mf.instructions if i.keyword not in ("SYSTEM", "PARAMETER")] == before


def to_create_fields_or_none(mf: object, name: str) -> float | None:
    try:
        value = to_create_fields(mf).parameters.get(name)  # type: ignore[arg-type]
    except DiagnosticError:
        return None
    return float(value) if value is not None else None


@FAST
@given(st.text(max_size=40))
def test_encode_value_is_exact_when_it_succeeds(value: str) -> None:
    try:
        encoded = encode_value(value)
    except DiagnosticError:
        return
    [inst] = [i for i in parse(f"FROM x\nSYSTEM {encoded}\n").instructions if i.keyword == "SYSTEM"]
    assert isinstance(inst, Instruction) and inst.value == value


# ------------------------------------------------------------------ bytes that are not UTF-8


def test_bad_bytes_round_trip_and_are_shown_as_ollama_reads_them() -> None:
    from tui.core.modelfile_encoding import encode_text, shown, undecodable_diagnostics

    data = b"FROM x\nSYSTEM caf\xe9 \xff\n"
    raw = decode_bytes(data)
    assert encode_text(raw) == data
    assert shown(raw) == "FROM x\nSYSTEM caf\ufffd \ufffd\n" and len(shown(raw)) == len(raw)
    [warning] = undecodable_diagnostics(raw)
    assert (warning.line, warning.col, warning.severity, warning.code) == (
        2,
        11,
        "warning",
        "encoding",
    )
    assert undecodable_diagnostics(shown(raw)) == []
    # Ollama reads the value with U+FFFD; so does the parser, from the text as shown.
    assert parse(shown(raw)).system == "caf\ufffd \ufffd"


def test_byte_keeper_restores_unedited_bytes_only() -> None:
    from tui.core.modelfile_encoding import ByteKeeper, shown

    raw = decode_bytes(b"FROM x\nSYSTEM a\xff b\nMESSAGE user \xfe\n")
    keeper = ByteKeeper(raw)
    text = shown(raw)
    assert keeper.restore(text) == raw
    # Lines moved or another line edited: each bad line gets its bytes back.
    moved = "PARAMETER top_k 1\nMESSAGE user \ufffd\nFROM y\nSYSTEM a\ufffd b\n"
    assert keeper.restore(moved) == (
        "PARAMETER top_k 1\nMESSAGE user \udcfe\nFROM y\nSYSTEM a\udcff b\n"
    )
    # The bad line edited before and after the byte: the byte stays.
    assert keeper.restore("SYSTEM xa\ufffd b!\n").encode("utf-8", "surrogateescape") == (
        b"SYSTEM xa\xff b!\n"
    )
    # A U+FFFD the user typed on a new line stays U+FFFD.
    assert keeper.restore("new \ufffd\n") == "new \ufffd\n"
    assert not ByteKeeper("FROM x\n").active
