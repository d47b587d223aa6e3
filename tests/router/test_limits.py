"""Operation limits (depth, aliases, root fields, tokens, cost), body size, introspection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coursegraph.settings import Environment, Settings
from router.api_schema import build_api_schema
from router.bootstrap import build_router
from router.config import RouterConfig
from router.edge.introspection import IntrospectionDisabled
from router.edge.limits import LimitsCheck
from router.edge.pipeline import operation_checks
from router.operation import Operations
from router.supergraph import Supergraph
from tests.router.conftest import SETTINGS, RouterFactory, router_settings
from tests.router.graphs.loader import load_graph


def _post(url: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return httpx.post(f"{url}/graphql", json=body, timeout=10)


def _code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


def test_depth_aliases_and_root_fields(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"max_depth": 3, "max_aliases": 1, "max_root_fields": 2})
    allowed = _post(url, '{ a: product(upc: "1") { name reviews { id } } }')
    assert allowed.status_code == 200
    assert "errors" not in allowed.json()
    deep = _post(url, '{ product(upc: "1") { reviews { author { reviews { id } } } } }')
    assert (deep.status_code, _code(deep)) == (400, "MAX_DEPTH_LIMIT")
    aliases = _post(url, '{ a: product(upc: "1") { n: name } }')
    assert (aliases.status_code, _code(aliases)) == (400, "MAX_ALIASES_LIMIT")
    roots = _post(url, '{ me { id } users { id } product(upc: "1") { name } }')
    assert (roots.status_code, _code(roots)) == (400, "MAX_ROOT_FIELDS_LIMIT")


def test_fragments_count_toward_depth(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"max_depth": 2})
    query = '{ product(upc: "1") { ...P } } fragment P on Product { reviews { id } }'
    assert _code(_post(url, query)) == "MAX_DEPTH_LIMIT"


def test_token_limit(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"max_tokens": 20})
    assert _post(url, "{ me { id } }").status_code == 200
    many = "{ me { " + " ".join(["id"] * 30) + " } }"
    response = _post(url, many)
    assert (response.status_code, _code(response)) == (400, "MAX_TOKENS_LIMIT")


def test_cost_uses_list_sizes_from_arguments_and_variables(serve_router: RouterFactory) -> None:
    """`topProducts(first:)` has no @listSize here: `first` may raise the default size of
    10, never lower it (nothing says the subgraph honours it)."""
    url = serve_router(limits={"max_cost": 200, "default_list_size": 10})
    assert _post(url, "{ topProducts(first: 5) { name } }").status_code == 200
    refused = _post(url, "{ topProducts(first: 500) { name } }")
    assert (refused.status_code, _code(refused)) == (400, "COST_ESTIMATED_TOO_EXPENSIVE")
    query = "query($n: Int) { topProducts(first: $n) { name } }"
    assert _post(url, query, {"n": 3}).status_code == 200
    refused = _post(url, query, {"n": 1000})
    assert _code(refused) == "COST_ESTIMATED_TOO_EXPENSIVE"
    # Nested lists multiply: 10 (not 5) products x (1 + 10 reviews) = 110.
    nested = _post(url, "{ topProducts(first: 5) { reviews { id } } }")
    assert "errors" not in nested.json()
    # 20 x 11 = 220.
    nested = _post(url, "{ topProducts(first: 20) { reviews { id } } }")
    assert _code(nested) == "COST_ESTIMATED_TOO_EXPENSIVE"


def test_limits_are_checked_once_per_cached_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_graph("basic")
    router = build_router(Supergraph(loaded.supergraph), RouterConfig(), SETTINGS)
    operations: Operations = router.state.operations
    [limits] = [c.limits for c in operations.checks if isinstance(c, LimitsCheck)]
    calls = 0
    original = limits.check

    def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args)

    monkeypatch.setattr(limits, "check", counting)
    for _ in range(3):
        operations.prepare("{ topProducts { name } }", None)
    assert calls == 1


def test_body_size_limit(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"max_body_bytes": 200})
    assert _post(url, "{ me { id } }").status_code == 200
    response = _post(url, "{ me { id } }" + " " * 400)
    assert (response.status_code, _code(response)) == (413, "PAYLOAD_TOO_LARGE")


def test_introspection_can_be_switched_off(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"introspection": False})
    for query in ("{ __schema { queryType { name } } }", '{ __type(name: "User") { name } }'):
        response = _post(url, query)
        assert (response.status_code, _code(response)) == (400, "INTROSPECTION_DISABLED")
    assert _post(url, "{ me { __typename id } }").json() == {
        "data": {"me": {"__typename": "User", "id": "u1"}}
    }
    url = serve_router(limits={"introspection": True})
    assert _post(url, "{ __schema { queryType { name } } }").json() == {
        "data": {"__schema": {"queryType": {"name": "Query"}}}
    }


def test_introspection_is_off_by_default_outside_development() -> None:
    supergraph = Supergraph(load_graph("basic").supergraph)
    api_schema = build_api_schema(supergraph)

    def refused(config: RouterConfig, settings: Settings) -> bool:
        checks = operation_checks(settings, supergraph, api_schema, config)
        return any(isinstance(check, IntrospectionDisabled) for check in checks)

    production = router_settings(environment=Environment.PRODUCTION)
    assert refused(RouterConfig(), production)
    explicit = RouterConfig.model_validate({"limits": {"introspection": True}})
    # A config copied from development does not publish the schema in production...
    assert refused(explicit, production)
    # ...only the explicit setting does, and only together with the config.
    exposed = router_settings(
        environment=Environment.PRODUCTION, router_expose_schema_in_production=True
    )
    assert not refused(explicit, exposed)
    assert refused(RouterConfig(), exposed)
    testing = router_settings(environment=Environment.TEST)
    assert refused(RouterConfig(), testing)
    assert not refused(explicit, testing)
    assert not refused(RouterConfig(), router_settings(environment=Environment.DEVELOPMENT))


# Every place `__schema`/`__type` can hide in a valid operation.
HIDDEN_INTROSPECTION = {
    "alias": "{ s: __schema { queryType { name } } }",
    "named fragment": "{ ...F } fragment F on Query { __schema { queryType { name } } }",
    "inline fragment": "{ ... on Query { __schema { queryType { name } } } }",
    "untyped inline fragment": '{ ... { t: __type(name: "User") { name } } }',
    "nested fragments": (
        "{ me { id } ...A } fragment A on Query { ... on Query { ...B } } "
        'fragment B on Query { __type(name: "User") { name } }'
    ),
}


@pytest.mark.parametrize("query", HIDDEN_INTROSPECTION.values(), ids=HIDDEN_INTROSPECTION.keys())
def test_hidden_introspection_is_refused(serve_router: RouterFactory, query: str) -> None:
    url = serve_router(limits={"introspection": False})
    response = _post(url, query)
    assert (response.status_code, _code(response)) == (400, "INTROSPECTION_DISABLED")


def test_hidden_introspection_is_answered_when_enabled(serve_router: RouterFactory) -> None:
    url = serve_router(limits={"introspection": True})
    answers = {name: _post(url, query).json() for name, query in HIDDEN_INTROSPECTION.items()}
    query_type = {"queryType": {"name": "Query"}}
    assert answers == {
        "alias": {"data": {"s": query_type}},
        "named fragment": {"data": {"__schema": query_type}},
        "inline fragment": {"data": {"__schema": query_type}},
        "untyped inline fragment": {"data": {"t": {"name": "User"}}},
        "nested fragments": {"data": {"me": {"id": "u1"}, "__type": {"name": "User"}}},
    }
    skipped = _post(url, "{ ... @skip(if: true) { __schema { queryType { name } } } me { id } }")
    assert skipped.json() == {"data": {"me": {"id": "u1"}}}


def test_unknown_limit_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="max_dept"):
        RouterConfig.model_validate({"limits": {"max_dept": 3}})
