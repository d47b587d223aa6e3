"""HTTP surface: POST/GET /graphql, GraphiQL, health, error codes, forwarded headers,
request signing, the query-plan extension, introspection."""

from __future__ import annotations

import asyncio
import os

from coursegraph.service_auth import MemoryNonceStore, ServiceVerifier
from tests.router.conftest import SETTINGS, Stack


def test_get_query(stack: Stack) -> None:
    response = stack.client.get(
        f"{stack.router_url}/basic/graphql",
        params={"query": "query($u: ID!) { user(id: $u) { name } }", "variables": '{"u": "u2"}'},
        # CSRF prevention (on by default) wants a header that forces a browser preflight.
        headers={"apollo-require-preflight": "true"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"user": {"name": "Alan Turing"}}}


def test_get_mutation_is_refused(stack: Stack) -> None:
    response = stack.client.get(
        f"{stack.router_url}/advanced/graphql",
        params={"query": 'mutation { enroll(code: "PY101") }'},
        headers={"apollo-require-preflight": "true"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_graphiql_for_browsers(stack: Stack) -> None:
    response = stack.client.get(
        f"{stack.router_url}/basic/graphql", headers={"accept": "text/html,*/*"}
    )
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    assert response.headers["content-type"].startswith("text/html")
    # Served by the router itself: no CDN needed.
    assert "https://" not in response.text
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js"):
        served = stack.client.get(f"{stack.router_url}/basic/graphiql-assets/{asset}")
        assert served.status_code == 200, asset


def test_health(stack: Stack) -> None:
    response = stack.client.get(f"{stack.router_url}/basic/health")
    assert response.json() == {"status": "ok", "pid": os.getpid()}


def test_parse_failure(stack: Stack) -> None:
    response = stack.post("basic", {"query": "{ me { "})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


def test_validation_failure(stack: Stack) -> None:
    response = stack.post("basic", {"query": "{ me { nope } }"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_bad_variables(stack: Stack) -> None:
    response = stack.post(
        "basic", {"query": "query($id: ID!) { user(id: $id) { name } }", "variables": {}}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_invalid_json_body(stack: Stack) -> None:
    response = stack.client.post(
        f"{stack.router_url}/basic/graphql",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


def test_headers_are_forwarded_and_requests_signed(stack: Stack) -> None:
    stack.reset()
    response = stack.post(
        "basic",
        {"query": "{ me { name } }"},
        authorization="Bearer abc",
        **{"x-request-id": "req-42", "cookie": "secret=1"},
    )
    assert response.headers["x-request-id"] == "req-42"
    [headers] = stack.subgraphs["basic"]["accounts"].headers
    assert headers["authorization"] == "Bearer abc"
    assert headers["x-request-id"] == "req-42"
    assert "cookie" not in headers
    [payload] = stack.requests("basic", "accounts")
    body = stack.subgraphs["basic"]["accounts"].bodies[0]
    assert payload["query"]
    verifier = ServiceVerifier({"router": SETTINGS.service_key("router")}, MemoryNonceStore())
    caller = asyncio.run(verifier.verify("POST", "/basic/accounts/graphql", headers, body))
    assert caller == "router"


def test_request_id_is_generated(stack: Stack) -> None:
    stack.reset()
    response = stack.post("basic", {"query": "{ me { name } }"})
    generated = response.headers["x-request-id"]
    assert len(generated) >= 16
    assert stack.subgraphs["basic"]["accounts"].headers[0]["x-request-id"] == generated


def test_query_plan_extension(stack: Stack) -> None:
    result = stack.query("basic-debug", '{ product(upc: "1") { name inStock } }')
    plan = result["extensions"]["queryPlan"]
    assert plan["kind"] == "QueryPlan"
    assert plan["node"]["kind"] == "Sequence"
    fetch, flatten = plan["node"]["nodes"]
    assert fetch["serviceName"] == "products"
    assert flatten["kind"] == "Flatten"
    assert flatten["path"] == ["product"]
    assert flatten["node"]["serviceName"] == "inventory"
    assert "extensions" not in stack.query("basic", "{ me { id } }")


def test_introspection_shows_the_api_schema(stack: Stack) -> None:
    result = stack.query(
        "basic",
        """{ __schema { queryType { name } }
             __type(name: "User") { fields { name } }
             me { name } }""",
    )
    assert result["data"]["__schema"] == {"queryType": {"name": "Query"}}
    names = {f["name"] for f in result["data"]["__type"]["fields"]}
    assert names == {"id", "name", "username", "reviews"}
    assert result["data"]["me"] == {"name": "Ada Lovelace"}
