"""CSRF prevention: simple requests without a preflight-forcing header are refused."""

from __future__ import annotations

import httpx

from tests.router.conftest import RouterFactory, Stack


def _url(stack: Stack) -> str:
    return f"{stack.router_url}/basic/graphql"


def test_simple_requests_are_refused(stack: Stack) -> None:
    stack.reset()
    body = '{"query": "{ me { id } }"}'
    for content_type in (
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        response = httpx.post(_url(stack), content=body, headers={"content-type": content_type})
        assert response.status_code == 400, content_type
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
    response = httpx.get(_url(stack), params={"query": "{ me { id } }"})
    assert response.status_code == 400
    assert stack.requests("basic", "accounts") == []


def test_json_or_a_preflight_header_is_let_through(stack: Stack) -> None:
    body = '{"query": "{ me { id } }"}'
    expected = {"data": {"me": {"id": "u1"}}}
    json_post = httpx.post(_url(stack), content=body, headers={"content-type": "application/json"})
    assert json_post.json() == expected
    for header in ("apollo-require-preflight", "x-apollo-operation-name"):
        plain = httpx.post(
            _url(stack), content=body, headers={"content-type": "text/plain", header: "1"}
        )
        assert plain.json() == expected, header
        got = httpx.get(_url(stack), params={"query": "{ me { id } }"}, headers={header: "1"})
        assert got.json() == expected, header


def test_configured_header_and_switch(serve_router: RouterFactory) -> None:
    start = serve_router
    url = start(csrf={"required_headers": ["x-coursegraph-client"]})
    query = {"query": "{ me { id } }"}
    assert httpx.get(f"{url}/graphql", params=query).status_code == 400
    passed = httpx.get(f"{url}/graphql", params=query, headers={"x-coursegraph-client": "web"})
    assert passed.status_code == 200
    url = start(csrf={"enabled": False})
    assert httpx.get(f"{url}/graphql", params=query).status_code == 200
