"""Authorization directives enforced from the claims: denied fields are removed from the
plan, read as null with an error at their path, and a fetch with only denied fields is
never sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coursegraph.identity import Viewer
from router.bootstrap import build_router
from router.config import RouterConfig
from router.edge.authorization import AuthorizationCheck, DeniedFields
from router.prepared import PlannedOperation
from router.supergraph import Supergraph
from tests.router.conftest import SETTINGS, RouterFactory, Stack, make_token
from tests.router.graphs.loader import load_graph

POLICIES = {"policies": {"support": ["ADMIN"]}}


@pytest.fixture
def secure(serve_router: RouterFactory) -> str:
    return serve_router("secure", authenticated=True, authorization=POLICIES)


def _post(url: str, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _codes(result: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(e["path"], e["extensions"]["code"]) for e in result.get("errors", ())]


def test_anonymous_request_gets_nulls_and_unauthenticated(secure: str, stack: Stack) -> None:
    stack.reset()
    result = _post(secure, '{ me { id } publicUser(id: "u2") { name } }')
    assert result["data"] == {"me": None, "publicUser": {"name": "Alan Turing"}}
    assert _codes(result) == [(["me"], "UNAUTHENTICATED")]
    # The accounts fetch carries only the allowed field.
    [request] = stack.requests("secure", "accounts")
    assert request["query"] == 'query{publicUser(id:"u2"){name}}'


def test_a_fetch_with_only_denied_fields_is_not_sent(secure: str, stack: Stack) -> None:
    stack.reset()
    result = _post(secure, '{ publicUser(id: "u1") { name balance invoices { number } } }')
    assert result["data"] == {
        "publicUser": {"name": "Ada Lovelace", "balance": None, "invoices": None}
    }
    assert sorted(_codes(result)) == [
        (["publicUser", "balance"], "UNAUTHENTICATED"),
        (["publicUser", "invoices"], "UNAUTHENTICATED"),
    ]
    assert stack.requests("secure", "billing") == []
    assert len(stack.requests("secure", "accounts")) == 1


def test_signed_in_viewer_with_scopes(secure: str, stack: Stack) -> None:
    token = make_token(scope="billing:read users:email")
    result = _post(
        secure, "{ me { id email balance invoices { number total } internalNote } }", token
    )
    assert result["data"] == {
        "me": {
            "id": "u1",
            "email": "ada@example.test",
            "balance": 120,
            "invoices": [{"number": "A-1", "total": 100}],
            "internalNote": None,
        }
    }
    # @policy(support) is held by ADMIN only.
    assert _codes(result) == [(["me", "internalNote"], "FORBIDDEN")]


def test_missing_scope_is_forbidden(secure: str) -> None:
    token = make_token(scope="courses:read")
    result = _post(secure, "{ me { email balance } }", token)
    assert result["data"] == {"me": {"email": None, "balance": 120}}
    assert _codes(result) == [(["me", "email"], "FORBIDDEN")]


def test_scope_alternatives(secure: str) -> None:
    query = "{ adminStats { users } }"
    assert _codes(_post(secure, query, make_token(scope="stats:read"))) == [
        (["adminStats"], "FORBIDDEN")
    ]
    for scope in ("admin:read", "stats:read reports:read"):
        assert _post(secure, query, make_token(scope=scope)) == {
            "data": {"adminStats": {"users": 2}}
        }


def test_policies_by_role(secure: str) -> None:
    result = _post(secure, "{ me { internalNote } }", make_token(role="ADMIN"))
    assert result == {"data": {"me": {"internalNote": "VIP"}}}


def test_a_type_level_requirement_applies_to_fields_returning_it(secure: str) -> None:
    token = make_token(scope="billing:read")
    assert _post(secure, "{ me { invoices { number } } }", token) == {
        "data": {"me": {"invoices": [{"number": "A-1"}]}}
    }


def test_denied_mutation_is_not_sent(secure: str, stack: Stack) -> None:
    stack.reset()
    result = _post(secure, 'mutation { renameMe(name: "Ada L.") { name } }')
    assert result["data"] == {"renameMe": None}
    assert _codes(result) == [(["renameMe"], "UNAUTHENTICATED")]
    assert stack.requests("secure", "accounts") == []
    allowed = _post(secure, 'mutation { renameMe(name: "Ada L.") { name } }', make_token())
    assert allowed == {"data": {"renameMe": {"name": "Ada L."}}}


def test_errors_point_into_lists_and_fragments(serve_router: RouterFactory) -> None:
    url = serve_router("secure", authenticated=True)
    query = "{ me { ...Bill } } fragment Bill on User { invoices { number total } }"
    result = _post(url, query, make_token(scope="billing:read"))
    assert result == {"data": {"me": {"invoices": [{"number": "A-1", "total": 100}]}}}
    result = _post(url, query, make_token(scope="nothing"))
    assert result["data"] == {"me": {"invoices": None}}
    assert _codes(result) == [(["me", "invoices"], "FORBIDDEN")]


def _denied(planned: PlannedOperation) -> list[str]:
    return [
        denial.coordinate
        for restricted in planned.restricted
        if isinstance(restricted, DeniedFields)
        for denial in restricted.denials
    ]


def test_plans_are_cached_per_verdict() -> None:
    loaded = load_graph("secure")
    router = build_router(Supergraph(loaded.supergraph), RouterConfig(), SETTINGS)
    operations = router.state.operations
    prepared = operations.prepare("{ me { id email } }", None)
    [requirements] = [
        note
        for check, note in zip(operations.checks, prepared.notes, strict=True)
        if isinstance(check, AuthorizationCheck)
    ]
    assert len(requirements) == 2
    anonymous = operations.planned(prepared, {}, None)
    assert operations.planned(prepared, {}, None) is anonymous
    assert _denied(anonymous) == ["Query.me"]
    viewer = Viewer(id="u1", role="STUDENT", scopes=frozenset({"users:email"}))
    allowed = operations.planned(prepared, {}, viewer)
    assert allowed.restricted == ()
    assert allowed is not anonymous


def test_graphs_without_the_directives_pay_nothing() -> None:
    loaded = load_graph("basic")
    router = build_router(Supergraph(loaded.supergraph), RouterConfig(), SETTINGS)
    checks = router.state.operations.checks
    assert not any(isinstance(check, AuthorizationCheck) for check in checks)


def test_authorization_can_be_switched_off(serve_router: RouterFactory) -> None:
    url = serve_router("secure", authorization={"enabled": False})
    assert _post(url, "{ me { id } }") == {"data": {"me": {"id": "u1"}}}


def test_refusals_say_what_is_needed_and_who_has_it(secure: str) -> None:
    def messages(result: dict[str, Any]) -> dict[tuple[Any, ...], str]:
        return {tuple(e["path"]): e["message"] for e in result["errors"]}

    anonymous = _post(secure, "{ me { id } adminStats { users } }")
    assert messages(anonymous) == {
        ("me",): "Query.me needs a signed-in user.",
        ("adminStats",): "Query.adminStats needs a signed-in user with scope `admin:read` or "
        "scopes `reports:read` and `stats:read` (no role has it).",
    }
    student = _post(secure, "{ me { email internalNote } }", make_token(scope="profile"))
    assert messages(student) == {
        ("me", "email"): "User.email needs scope `users:email` (no role has it).",
        ("me", "internalNote"): "User.internalNote needs policy `support` (ADMIN).",
    }
