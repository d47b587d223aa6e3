"""Bearer tokens verified at the edge; client address forwarded to subgraphs."""

from __future__ import annotations

from tests.router.conftest import Stack, make_token


def test_request_without_token_passes(stack: Stack) -> None:
    assert stack.query("basic-auth", "{ me { id } }") == {"data": {"me": {"id": "u1"}}}


def test_valid_token_is_forwarded(stack: Stack) -> None:
    stack.reset()
    token = make_token()
    result = stack.query("basic-auth", "{ me { id } }", authorization=f"Bearer {token}")
    assert result == {"data": {"me": {"id": "u1"}}}
    [headers] = stack.subgraphs["basic"]["accounts"].headers
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["x-forwarded-for"] == "127.0.0.1"


def test_bad_tokens_are_refused_before_any_subgraph_call(stack: Stack) -> None:
    stack.reset()
    for authorization in (
        "Bearer not-a-jwt",
        f"Bearer {make_token(exp=1)}",
        f"Bearer {make_token(aud='someone-else')}",
        f"Bearer {make_token(role='ROOT')}",
        "Basic dXNlcjpwYXNz",
    ):
        response = stack.post("basic-auth", {"query": "{ me { id } }"}, authorization=authorization)
        assert response.status_code == 401, authorization
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert stack.requests("basic", "accounts") == []
