"""The shared Strawberry set-up: error codes, no leaked internals, signed callers only."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import strawberry
from strawberry.types import Info

from coursegraph.app import SubgraphSpec, create_subgraph_app
from coursegraph.caller_gate import CREDENTIAL_HEADER
from coursegraph.db import Database, create_engine
from coursegraph.errors import NotFound
from coursegraph.federation import build_schema, format_errors, internal_field
from coursegraph.identity import Viewer, scope_claim
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from tests.helpers import gql, signer_for


async def _secret(info: Info) -> str:
    return f"for {info.context.service}"


@strawberry.type
class Query:
    @strawberry.field
    def missing(self) -> str:
        raise NotFound("No such thing.", id="42")

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("password=hunter2 at db.internal:5432")

    @strawberry.field
    def fine(self) -> str:
        return "ok"

    secret: str = internal_field(_secret, services=["payments"])


@dataclass
class Container:
    database: Database


def _spec() -> SubgraphSpec[Container, None]:
    @asynccontextmanager
    async def bootstrap(settings: Settings) -> AsyncIterator[Container]:
        database = Database(create_engine(settings.database_url_for("users"), pool_size=1))
        yield Container(database)
        await database.dispose()

    return SubgraphSpec(
        name="kernel-test",
        schema=build_schema(Query),
        bootstrap=bootstrap,
        loaders=lambda container: None,
        jwks_source=lambda container: _no_keys,
    )


async def _no_keys() -> dict[str, object]:
    return {"keys": []}


async def test_errors_carry_codes_and_hide_internals(settings: Settings) -> None:
    with ServerThread(create_subgraph_app(_spec(), settings)) as server:
        url = f"{server.url}/graphql"
        missing = await gql(url, "{ missing }")
        assert missing.errors[0]["message"] == "No such thing."
        assert missing.errors[0]["extensions"] == {"code": "NOT_FOUND", "id": "42"}

        broken = await gql(url, "{ broken }")
        assert broken.errors[0]["message"] == "Internal server error."
        assert broken.code == "INTERNAL_SERVER_ERROR"
        assert "hunter2" not in str(broken.errors)

        assert (await gql(url, "{ fine ")).code == "GRAPHQL_PARSE_FAILED"
        assert (await gql(url, "{ nope }")).code == "GRAPHQL_VALIDATION_FAILED"

        async with httpx.AsyncClient() as client:
            health = await client.get(f"{server.url}/health")
        assert health.json() == {"status": "ok", "subgraph": "kernel-test", "pid": os.getpid()}


async def test_graphql_answers_only_signed_callers(settings: Settings) -> None:
    with ServerThread(create_subgraph_app(_spec(), settings)) as server:
        url = f"{server.url}/graphql"
        unsigned = await gql(url, "{ fine }", signer=None)
        assert (unsigned.status, unsigned.code) == (401, "UNAUTHENTICATED")
        assert unsigned.data is None
        forged = await gql(url, "{ fine }", signer=ServiceSigner("router", b"wrong"))
        assert (forged.status, forged.code) == (401, "UNAUTHENTICATED")
        assert "bad service signature" in forged.errors[0]["message"]
        # No ROUTER_SHARED_SECRET here: no credential opens the gate.
        guessed = await gql(url, "{ fine }", signer=None, headers={CREDENTIAL_HEADER: "x" * 32})
        assert (guessed.status, guessed.code) == (401, "UNAUTHENTICATED")
        router = signer_for("router", settings)
        assert (await gql(url, "{ fine }", signer=router)).ok() == {"fine": "ok"}
        # Signed, but not by a service this internal field allows.
        assert (await gql(url, "{ secret }", signer=router)).code == "FORBIDDEN"
        payments = signer_for("payments", settings)
        assert (await gql(url, "{ secret }", signer=payments)).ok() == {"secret": "for payments"}


@strawberry.type
class GuardedQuery:
    @strawberry.federation.field(authenticated=True)
    def mine(self) -> str | None:
        return "mine"

    @strawberry.federation.field(requires_scopes=[["teach"], ["admin", "learn"]])
    def studio(self) -> str | None:
        return "studio"

    @strawberry.field
    def public(self) -> str:
        return "public"


@dataclass
class ViewerOnly:
    viewer: Viewer | None


GUARDED = build_schema(GuardedQuery)


async def _guarded(viewer: Viewer | None) -> tuple[object, dict[str, tuple[str, str]]]:
    result = await GUARDED.execute("{ mine studio public }", context_value=ViewerOnly(viewer))
    errors = {
        str(e.path[0]): (str((e.extensions or {})["code"]), e.message)
        for e in format_errors(result.errors) or ()
        if e.path
    }
    return result.data, errors


async def test_access_directives_are_enforced_in_the_router_s_words() -> None:
    needs = "scope `teach` or scopes `admin` and `learn` (TEACHER or ADMIN)"
    data, errors = await _guarded(None)
    assert data == {"mine": None, "studio": None, "public": "public"}
    assert errors == {
        "mine": ("UNAUTHENTICATED", "Query.mine needs a signed-in user."),
        "studio": ("UNAUTHENTICATED", f"Query.studio needs a signed-in user with {needs}."),
    }
    student = Viewer("u1", "STUDENT", frozenset(scope_claim("STUDENT").split()))
    data, errors = await _guarded(student)
    assert data == {"mine": "mine", "studio": None, "public": "public"}
    assert errors == {"studio": ("FORBIDDEN", f"Query.studio needs {needs}.")}
    for role in ("TEACHER", "ADMIN"):
        viewer = Viewer("u2", role, frozenset(scope_claim(role).split()))
        assert await _guarded(viewer) == (
            {"mine": "mine", "studio": "studio", "public": "public"},
            {},
        )
