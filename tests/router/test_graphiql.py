"""GraphiQL: the walkthrough tabs, `GET /`, and no explorer in production unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from graphql import OperationDefinitionNode, parse, validate
from pydantic import SecretStr

from coursegraph.settings import Environment
from router.api_schema import build_api_schema
from router.graphiql import walkthrough_tabs
from router.graphiql_tabs import DEMO_STUDENT_EMAIL, DEMO_TEACHER_EMAIL, WALKTHROUGH
from router.supergraph import Supergraph
from subgraphs.courses.seed import STUDENTS, TEACHERS
from tests.router.conftest import RouterFactory, router_settings

SUPERGRAPH = Path(__file__).resolve().parents[2] / "supergraph.graphql"
HTML = {"accept": "text/html,*/*"}


def test_walkthrough_tabs_are_valid_operations_of_the_api() -> None:
    schema = build_api_schema(Supergraph(SUPERGRAPH.read_text(encoding="utf-8")))
    for query, variables in WALKTHROUGH:
        document = parse(query)
        assert validate(schema, document) == [], query
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # Named, so GraphiQL can run each one; every variable they use has a value.
        assert all(op.name is not None for op in operations)
        used = {v.variable.name.value for op in operations for v in op.variable_definitions or ()}
        assert used == set(variables), query


def test_walkthrough_names_real_demo_accounts() -> None:
    assert STUDENTS[0][0] == DEMO_STUDENT_EMAIL
    assert DEMO_TEACHER_EMAIL in {email for email, _ in TEACHERS}


def test_sign_in_tab_is_prefilled_with_the_demo_password() -> None:
    settings = router_settings(seed_password=SecretStr("s3cret-demo"))
    first = walkthrough_tabs(settings)[0]
    assert "mutation Login" in first["query"]
    assert json.loads(first["variables"])["email"] == DEMO_STUDENT_EMAIL
    assert json.loads(first["variables"])["password"] == "s3cret-demo"


def test_development_page_opens_the_walkthrough(serve_router: RouterFactory) -> None:
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    page = httpx.get(f"{url}/graphql", headers=HTML)
    assert page.status_code == 200
    assert "defaultTabs" in page.text
    assert "mutation Login" in page.text
    assert DEMO_STUDENT_EMAIL in page.text
    assert "https://" not in page.text  # served by the router itself, no CDN
    # Subscriptions run over the router's own WebSocket (graphql-ws is in the bundle).
    assert '"subscriptions": true' in page.text
    assert "subscriptionUrl: ws" in page.text
    home = httpx.get(f"{url}/", headers=HTML)
    assert home.status_code == 307
    assert home.headers["location"] == "graphql"
    followed = httpx.get(f"{url}/", headers=HTML, follow_redirects=True)
    assert followed.url.path.endswith("/graphql")
    assert followed.status_code == 200


def test_production_serves_no_explorer_whatever_the_config(serve_router: RouterFactory) -> None:
    url = serve_router(
        settings=router_settings(environment=Environment.PRODUCTION),
        graphiql={"enabled": True},
        limits={"introspection": True},
    )
    page = httpx.get(f"{url}/graphql", headers=HTML)
    assert page.status_code == 404
    assert page.json()["errors"][0]["message"] == "GraphiQL is disabled."
    assert httpx.get(f"{url}/", headers=HTML).status_code == 404
    answer = httpx.post(f"{url}/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert answer.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"


def test_production_explorer_needs_the_explicit_setting(serve_router: RouterFactory) -> None:
    settings = router_settings(
        environment=Environment.PRODUCTION, router_expose_schema_in_production=True
    )
    url = serve_router(settings=settings, limits={"introspection": True})
    page = httpx.get(f"{url}/graphql", headers=HTML)
    assert page.status_code == 200
    # The plain explorer: no demo tabs, no demo password, no token kept by the page.
    assert "mutation Login" not in page.text
    assert settings.seed_password.get_secret_value() not in page.text
    assert httpx.get(f"{url}/", headers=HTML).status_code == 404
    answer = httpx.post(f"{url}/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert answer.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
