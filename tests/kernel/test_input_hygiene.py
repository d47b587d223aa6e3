"""The kernel's input hygiene on its own: what is refused, what is stripped, what is left
alone (and not copied)."""

from __future__ import annotations

import pytest
from graphql import StringValueNode, parse, print_ast

from coursegraph.errors import BadUserInput
from coursegraph.input_hygiene import clean_document, clean_value, is_clean


@pytest.mark.parametrize("char", [chr(code) for code in range(32) if chr(code) not in "\t\n\r"])
def test_every_c0_control_but_tab_and_line_breaks_is_refused(char: str) -> None:
    with pytest.raises(BadUserInput, match=f"U\\+{ord(char):04X} in \\$input.title"):
        clean_value({"title": f"a{char}b"}, "$input")


def test_tab_and_line_breaks_pass_unchanged() -> None:
    value = {"description": "one\n\ttwo\r\nthree", "tags": ["a\tb"], "n": [1, None]}
    assert clean_value(value, "$input") is value  # nothing copied


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "one\n\ttwo\r\n",
        "\u200f\u200e marks stay",
        {"representations": [{"__typename": "User", "id": "1"}] * 3, "n": [1, None, 2.5]},
        "a\x00b",
        "a\x1fb",
        "x\u202ey",
        "\u2069",
        {"deep": [{"title": ["ok", "\u2066Go"]}]},
        [{"a": "\x0b"}],
    ],
)
def test_is_clean_tells_when_clean_value_changes_nothing(value: object) -> None:
    try:
        unchanged = clean_value(value, "$v") is value
    except BadUserInput:
        unchanged = False
    assert is_clean(value) is unchanged


def test_bidi_controls_are_removed_at_any_depth() -> None:
    value = {"names": ["Ali\u202ecod.exe", "ok"], "course": {"title": "\u2066Go\u2069"}, "n": 3}
    assert clean_value(value, "$v") == {
        "names": ["Alicod.exe", "ok"],
        "course": {"title": "Go"},
        "n": 3,
    }
    assert value["names"] == ["Ali\u202ecod.exe", "ok"]  # the request's own value untouched


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{ a(s: "x\\u0000") }', "U+0000"),
        ('{ a(s: "x\\b") }', "U+0008"),
        ('{ a(s: "x\\f") }', "U+000C"),
        ('{ a(s: "x\x00y") }', "U+0000"),  # raw: GraphQL's lexer allows it in strings
        ('{ a(s: """x\x1by""") }', "U+001B"),
        ('{ a(o: {list: ["ok", "x\\u0007"]}) }', "U+0007"),
        ('query($v: String = "x\\u0001") { a(s: $v) }', "U+0001"),  # a variable's default
    ],
)
def test_inline_literals_with_controls_are_refused(text: str, found: str) -> None:
    with pytest.raises(BadUserInput, match=found.replace("+", "\\+")):
        clean_document(parse(text), text)


def test_a_refused_literal_is_named_like_a_variable_path() -> None:
    text = 'mutation { createCourse(input: {title: "A\\u0000B"}) { id } }'
    with pytest.raises(BadUserInput, match=r"U\+0000 in input\.title\.") as refused:
        clean_document(parse(text), text)
    assert refused.value.extensions == {"field": "input.title"}


def test_inline_bidi_is_removed_without_touching_the_cached_document() -> None:
    text = '{ a(s: "Rust\u202e basics", t: "\\u2067x\\u2069") { b } }'
    document = parse(text)
    cleaned = clean_document(document, text)
    assert cleaned is not document
    assert '"Rust basics"' in print_ast(cleaned)
    assert '"x"' in print_ast(cleaned)
    strings = [
        arg.value
        for arg in document.definitions[0].selection_set.selections[0].arguments  # type: ignore[attr-defined]
    ]
    assert isinstance(strings[0], StringValueNode)
    assert strings[0].value == "Rust\u202e basics"


def test_a_clean_document_is_returned_as_is() -> None:
    text = '{ a(s: "plain \\" text\\n", n: 3) { b } }'
    document = parse(text)
    assert clean_document(document, text) is document
    assert clean_document(document) is document  # without the source text: walked
