"""Input hygiene for every subgraph: one schema extension, so no resolver can forget it.

Every string a request brings, in its variables or written inline in the document, is
checked before execution:

- C0 control characters (U+0000-U+001F) are refused with BAD_USER_INPUT, except tab,
  line feed and carriage return. PostgreSQL refuses U+0000 outright and the others have
  no use in any input. Tab and line breaks stay allowed in every string: descriptions and
  refund reasons are multi-line, and a kernel rule keyed on field names would be one more
  list a subgraph could forget. Every place that shows text renders it as plain text.
- Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are
  removed, so display text (course, section and lecture titles, user names, and so the
  certificates printed from them) is stored clean: a U+202E can make "gpj.exe" read as
  "exe.jpg". They are removed from every string, not only display text, because no input
  of ours needs them; the invisible marks U+200E/U+200F that right-to-left text does use
  are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from coursegraph.errors import BadUserInput

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def refuse_controls(text: str, where: str) -> None:
    """Raise BadUserInput if `text` holds a C0 control other than tab, LF or CR."""
    found = _CONTROL.search(text)
    if found is not None:
        raise BadUserInput(
            f"Text must not contain control characters: found U+{ord(found.group()):04X}"
            f" in {where}.",
            field=where,
        )


def strip_bidi(text: str) -> str:
    """`text` without bidi controls; the same object when it has none."""
    return _BIDI.sub("", text) if _BIDI.search(text) else text


def clean_value(value: Any, where: str) -> Any:
    """`value` (decoded JSON) with every string checked and stripped; the same object
    when nothing changed, so clean requests copy nothing."""
    if isinstance(value, str):
        refuse_controls(value, where)
        return strip_bidi(value)
    if isinstance(value, dict):
        cleaned = {key: clean_value(item, f"{where}.{key}") for key, item in value.items()}
        changed = any(cleaned[key] is not value[key] for key in value)
        return cleaned if changed else value
    if isinstance(value, list):
        items = [clean_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    return value


# Any character `clean_value` refuses or strips.
_UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069]")


def is_clean(value: Any) -> bool:
    """Whether `clean_value` would return `value` itself: the common case, told without
    building a path for every string (an `_entities` call's variables hold dozens)."""
    if isinstance(value, str):
        return _UNCLEAN.search(value) is None
    if isinstance(value, dict):
        return all(is_clean(item) for item in value.values())
    if isinstance(value, list):
        return all(is_clean(item) for item in value)
    return True


def _literal_path(ancestors: list[Any]) -> str:
    """Where a literal sits, named like a variable path: `input.title` in
    `createCourse(input: {title: "…"})`, `$v` for a variable's default value."""
    names: list[str] = []
    for node in ancestors:
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            names.append(node.name.value)
        elif isinstance(node, VariableDefinitionNode):
            names.append(f"${node.variable.name.value}")
    return ".".join(names) or "the operation"


class _CheckStrings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.has_bidi = False

    def enter_string_value(
        self, node: StringValueNode, _key: object, parent: object, _path: object, ancestors: Any
    ) -> None:
        refuse_controls(node.value, _literal_path([*ancestors, parent]))
        self.has_bidi = self.has_bidi or _BIDI.search(node.value) is not None


class _StripBidi(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: object) -> StringValueNode | None:
        value = strip_bidi(node.value)
        if value == node.value:
            return None
        return StringValueNode(value=value, block=node.block, loc=node.loc)


# A literal can hold a control or bidi character only if the text has one raw, or an
# escape (\u, \b, \f) that makes one: without those no literal needs a look (most
# requests; the walk costs ~0.15 ms, this test microseconds).
_MAY_NEED_CLEANING = re.compile(r"\\[ubf]|[\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069]")


def clean_document(document: DocumentNode, source: str | None = None) -> DocumentNode:
    """The document with its inline strings checked and stripped; the cached document
    itself is never changed (the parser cache shares it between requests)."""
    if source is not None and not _MAY_NEED_CLEANING.search(source):
        return document
    check = _CheckStrings()
    visit(document, check)
    if not check.has_bidi:
        return document
    cleaned: DocumentNode = visit(document, _StripBidi())
    return cleaned


class InputHygiene(SchemaExtension):
    """Checks and cleans a request's strings before it executes (see the module doc)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        try:
            if context.graphql_document is not None:
                context.graphql_document = clean_document(context.graphql_document, context.query)
            if context.variables and not is_clean(context.variables):
                context.variables = {
                    name: clean_value(value, f"${name}")
                    for name, value in context.variables.items()
                }
        except BadUserInput as error:
            # A result set here is returned instead of executing the operation.
            context.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)]
            )
        yield
