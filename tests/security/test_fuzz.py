"""A schema-driven fuzz pass over every public operation, through the router, on the real
stack: no generated input may produce a 5xx or an INTERNAL_SERVER_ERROR.

Two generators, both seeded (derandomized) and bounded in examples:
- hypothesis-graphql builds whole operations from the public API schema, one root field
  at a time, with arguments written inline: valid ones (POSITIVE), as a signed-in teacher
  and anonymously, and invalid ones (NEGATIVE), which must be refused cleanly;
- the apps' own operations (clients/operations/) are sent with generated variables, so
  variable coercion at the router and at the subgraphs is fuzzed too;
- and, in depth, each subgraph's own schema (internal fields, `_entities` with well- and
  ill-formed representations) is fuzzed at the subgraph, signed as the router.
The stack is the module's own: the fuzzer creates data and trips throttles that other
tests must not see.
"""

from __future__ import annotations

import importlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from coursegraph.settings import SUBGRAPHS
from router.api_schema import build_api_schema
from router.supergraph import Supergraph
from tests.e2e.client import OPERATIONS_DIR, PASSWORD, operation
from tests.e2e.stack import REPO_ROOT, Stack, build_stack, fresh_database
from tests.security.subgraph_calls import router_signer

API_SCHEMA = build_api_schema(Supergraph.from_file(REPO_ROOT / "supergraph.graphql"))
QUERY_FIELDS = sorted(API_SCHEMA.query_type.fields) if API_SCHEMA.query_type else []
MUTATION_FIELDS = sorted(API_SCHEMA.mutation_type.fields) if API_SCHEMA.mutation_type else []

# Bounded and reproducible: the same examples on every run, in about a minute here.
FUZZ = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Strings a hostile client sends: NUL and other controls, bidi overrides, huge numbers.
HOSTILE_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\x1b[2J", "\u202egpj.exe", "\u2066x\u2069", "1E+1000000", "", " "]
)
TEXT = st.one_of(st.text(max_size=40), HOSTILE_TEXT)
DECIMAL_TEXT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.sampled_from(["1E+300000", "1E+1000000", "1E-999999", "21474836.48", "9" * 60, "1_0"]),
    TEXT,
)
CUSTOM_SCALARS = {
    "Decimal": DECIMAL_TEXT.map(lambda text: graphql.StringValueNode(value=text)),
    "DateTime": st.one_of(
        st.datetimes().map(lambda moment: graphql.StringValueNode(value=moment.isoformat())),
        TEXT.map(lambda text: graphql.StringValueNode(value=text)),
    ),
}


# ------------------------------------------------------------------ the stack
def _register(client: httpx.Client, url: str, role: str) -> str:
    email = f"fuzz-{role.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    variables = {"input": {"email": email, "password": PASSWORD, "name": "Fuzz", "role": role}}
    response = client.post(
        url, json={"query": operation("Register"), "variables": variables}
    ).json()
    token: str = response["data"]["register"]["accessToken"]
    return token


@pytest.fixture(scope="module")
def fuzz_stack(
    database_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("fuzz")
    (workdir / "data").mkdir()
    with fresh_database(database_server_url, "coursegraph_fuzz") as url:
        running = build_stack(
            workdir,
            url,
            {
                "SERVICE_SECRET_KEY": secrets.token_hex(16),
                "SANDBOX_WEBHOOK_SECRET": secrets.token_hex(16),
                "FILES_VIDEO_PROCESSOR": "local",
            },
        )
        with running:
            yield running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def tokens(fuzz_stack: Stack, client: httpx.Client) -> dict[str, str]:
    url = fuzz_stack.graphql_url
    return {role: _register(client, url, role) for role in ("TEACHER", "STUDENT")}


def send(
    client: httpx.Client,
    stack: Stack,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> None:
    """Send one generated request to the router and check the answer."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        stack.graphql_url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    check(response, query, variables)


def check(response: httpx.Response, query: str, variables: dict[str, Any] | None) -> None:
    """The answer a hardened service gives to anything: no 5xx, every error with a code
    and none of them INTERNAL_SERVER_ERROR."""
    context = f"\n{query}\nvariables: {variables!r}\n-> {response.status_code} {response.text}"
    assert response.status_code < 500, context
    payload = response.json()
    codes = [(e.get("extensions") or {}).get("code") for e in payload.get("errors") or []]
    assert "INTERNAL_SERVER_ERROR" not in codes, context
    assert all(codes), f"an error without extensions.code{context}"


# ------------------------------------------------------------------ whole operations
@pytest.mark.parametrize(
    "field",
    [("query", name) for name in QUERY_FIELDS] + [("mutation", name) for name in MUTATION_FIELDS],
    ids=lambda field: f"{field[0]}.{field[1]}",
)
def test_generated_operations_never_fail_inside(
    fuzz_stack: Stack, client: httpx.Client, tokens: dict[str, str], field: tuple[str, str]
) -> None:
    _, name = field
    strategy = from_schema(
        API_SCHEMA,
        fields=[name],
        custom_scalars=CUSTOM_SCALARS,
    )

    @FUZZ
    @given(query=strategy, as_teacher=st.booleans())
    def run(query: str, as_teacher: bool) -> None:
        send(client, fuzz_stack, str(query), token=tokens["TEACHER"] if as_teacher else None)

    run()


def test_invalid_operations_are_refused_cleanly(
    fuzz_stack: Stack, client: httpx.Client, tokens: dict[str, str]
) -> None:
    strategy = from_schema(API_SCHEMA, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE)

    @settings(FUZZ, max_examples=100)
    @given(query=strategy)
    def run(query: str) -> None:
        send(client, fuzz_stack, str(query), token=tokens["STUDENT"])

    run()


# ------------------------------------------------------------------ the apps' operations
def _input_value(type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    """JSON values for a variable of `type_`: valid shapes, hostile contents."""
    if isinstance(type_, graphql.GraphQLNonNull):
        # Nulls and wrong types where they are not allowed: the negative pass above.
        return _value(type_.of_type)
    return st.one_of(st.none(), _value(type_))


def _value(type_: graphql.GraphQLNullableType) -> st.SearchStrategy[Any]:
    nullable: st.SearchStrategy[Any]
    if isinstance(type_, graphql.GraphQLList):
        nullable = st.lists(_input_value(type_.of_type), max_size=3)
    elif isinstance(type_, graphql.GraphQLInputObjectType):
        nullable = st.fixed_dictionaries(
            {name: _input_value(field.type) for name, field in type_.fields.items()}
        )
    elif isinstance(type_, graphql.GraphQLEnumType):
        nullable = st.one_of(st.sampled_from(sorted(type_.values)), TEXT)
    elif type_.name in ("Int", "Float"):
        nullable = st.one_of(
            st.integers(min_value=-(2**40), max_value=2**40),
            # JSON has no NaN or infinity: a client cannot send them.
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([2**31, -(2**31) - 1, 1e308]),
        )
    elif type_.name == "Boolean":
        nullable = st.booleans()
    elif type_.name == "Decimal":
        # A JSON number is accepted as an amount too.
        numbers = st.decimals(
            min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False, places=2
        ).map(float)
        nullable = st.one_of(DECIMAL_TEXT, numbers)
    else:  # String, ID, DateTime
        nullable = st.one_of(TEXT, st.uuids().map(str))
    return nullable


def _client_operations() -> list[str]:
    names: list[str] = []
    for path in sorted(Path(OPERATIONS_DIR).glob("*.graphql")):
        for definition in graphql.parse(path.read_text()).definitions:
            if isinstance(definition, graphql.OperationDefinitionNode) and definition.name:
                names.append(definition.name.value)
    return names


@pytest.mark.parametrize("name", _client_operations())
def test_client_operations_with_generated_variables(
    fuzz_stack: Stack, client: httpx.Client, tokens: dict[str, str], name: str
) -> None:
    document = operation(name)
    definition = next(
        d
        for d in graphql.parse(document).definitions
        if isinstance(d, graphql.OperationDefinitionNode)
    )
    variables = st.fixed_dictionaries(
        {
            var.variable.name.value: _input_value(
                graphql.type_from_ast(API_SCHEMA, var.type)  # type: ignore[arg-type]
            )
            for var in definition.variable_definitions or ()
        }
    )

    @FUZZ
    @given(values=variables, role=st.sampled_from([None, "TEACHER", "STUDENT"]))
    def run(values: dict[str, Any], role: str | None) -> None:
        send(client, fuzz_stack, document, values, tokens[role] if role else None)

    run()


# ------------------------------------------------------------------ each subgraph directly
def _ast(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (for the `_Any` scalar of `_entities`)."""
    if isinstance(value, dict):
        return graphql.ObjectValueNode(
            fields=tuple(
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_ast(v))
                for k, v in value.items()
            )
        )
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(_ast(v) for v in value))
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if value is None:
        return graphql.NullValueNode()
    return graphql.StringValueNode(value=str(value))


def _representations(schema: graphql.GraphQLSchema) -> st.SearchStrategy[graphql.ValueNode]:
    """Entity representations, well-formed or not: known and unknown `__typename`s, keys
    present, missing or of the wrong type, extra (`@requires`-like) fields."""
    entity = schema.type_map.get("_Entity")
    names = [t.name for t in entity.types] if isinstance(entity, graphql.GraphQLUnionType) else []
    typename = st.one_of(st.sampled_from(names or ["Nope"]), TEXT)
    key = st.one_of(st.uuids().map(str), TEXT, st.integers(), st.none())
    extra = st.dictionaries(st.sampled_from(["viewerCanWatch", "price", "x"]), st.booleans())
    shaped = st.builds(
        lambda name, id_, more, keep: {"__typename": name, **({"id": id_} if keep else {}), **more},
        typename,
        key,
        extra,
        st.booleans(),
    )
    return st.one_of(shaped, TEXT, st.integers()).map(_ast)


SUBGRAPH_SCALARS = {
    **CUSTOM_SCALARS,
    "_FieldSet": TEXT.map(lambda text: graphql.StringValueNode(value=text)),
    "link__Import": TEXT.map(lambda text: graphql.StringValueNode(value=text)),
}


@pytest.mark.parametrize("subgraph", SUBGRAPHS)
def test_subgraphs_called_directly_never_fail_inside(
    fuzz_stack: Stack, client: httpx.Client, tokens: dict[str, str], subgraph: str
) -> None:
    """Defence in depth: each subgraph's own schema (internal fields and `_entities`
    included), called as the router calls it."""
    # The graphql-core schema Strawberry executes (its printed SDL lacks the federation
    # directive definitions a standalone build needs).
    schema: graphql.GraphQLSchema = importlib.import_module(
        f"subgraphs.{subgraph}.schema"
    ).schema._schema
    strategy = from_schema(
        schema,
        custom_scalars={**SUBGRAPH_SCALARS, "_Any": _representations(schema)},
    )
    url = f"{fuzz_stack.services[subgraph].url}/graphql"
    signer = router_signer(fuzz_stack)

    @settings(FUZZ, max_examples=60)
    @given(query=strategy, as_teacher=st.booleans())
    def run(query: str, as_teacher: bool) -> None:
        body = orjson.dumps({"query": str(query)})
        headers = {"content-type": "application/json", **signer.headers("POST", "/graphql", body)}
        if as_teacher:
            headers["authorization"] = f"Bearer {tokens['TEACHER']}"
        check(client.post(url, content=body, headers=headers), str(query), None)

    run()
