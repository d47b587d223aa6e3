"""A role change or a deleted account ends the access tokens already issued, at users and
at every router instance, over real HTTP (poll interval 0 here; 30 s by default)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from coursegraph.identity import REVOCATIONS_PATH, RevocationList
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from router.bootstrap import build_router
from router.bootstrap import create_app as create_router_app
from router.config import RouterConfig
from router.edge.authentication import EdgeAuthenticator
from router.supergraph import Supergraph
from subgraphs.users.app import create_app
from subgraphs.users.settings import UsersSettings
from tests.helpers import REPO_ROOT, gql, run_cli, signer_for

REGISTER = """
mutation { register(input: {email: "ada@example.com", password: "correct horse",
  name: "Ada", role: TEACHER}) { accessToken } }"""
LOGIN = """
mutation { login(email: "ada@example.com", password: "correct horse") { accessToken } }"""
ME = "{ me { role } }"


@dataclass(frozen=True)
class Revoking:
    users: str
    routers: tuple[str, str]  # two router instances
    as_router: ServiceSigner  # how the routers sign: users answers only signed callers


@pytest.fixture(scope="module")
def revoking_stack(settings: Settings, users_section: UsersSettings) -> Iterator[Revoking]:
    users_settings = settings.model_copy(update={"token_revocation_poll_seconds": 0.0})
    supergraph = Supergraph((REPO_ROOT / "supergraph.graphql").read_text(encoding="utf-8"))
    with ServerThread(create_app(users_settings, users_section)) as users:
        router_settings = users_settings.model_copy(update={"users_url": users.url})

        def router() -> ServerThread:
            config = RouterConfig.model_validate(
                {"subgraphs": {"users": {"url": f"{users.url}/graphql"}}}
            )
            authenticator = EdgeAuthenticator.from_settings(router_settings, None)
            router = build_router(supergraph, config, router_settings)
            return ServerThread(create_router_app(router, authenticator=authenticator))

        with router() as one, router() as two:
            yield Revoking(
                f"{users.url}/graphql",
                (f"{one.url}/graphql", f"{two.url}/graphql"),
                signer_for("router", users_settings),
            )


@pytest.fixture
def revoking(revoking_stack: Revoking, clean_database: None) -> Revoking:
    return revoking_stack


async def _role_everywhere(stack: Revoking, token: str) -> list[str]:
    """`me.role` at users and at both routers, or the error code."""
    results = await asyncio.gather(
        gql(stack.users, ME, token=token, signer=stack.as_router),
        *(gql(url, ME, token=token) for url in stack.routers),
    )
    return [r.code if r.errors else r.ok()["me"]["role"] for r in results]


async def test_a_role_change_ends_the_tokens_already_issued(
    revoking: Revoking, settings: Settings
) -> None:
    token = (await gql(revoking.routers[0], REGISTER)).ok()["register"]["accessToken"]
    assert await _role_everywhere(revoking, token) == ["TEACHER"] * 3

    changed = await asyncio.to_thread(
        run_cli, settings, "users", "set-role", "--email", "ada@example.com", "--role", "STUDENT"
    )
    assert changed.returncode == 0, changed.stderr
    assert await _role_everywhere(revoking, token) == ["UNAUTHENTICATED"] * 3

    await asyncio.sleep(1.0)  # a token issued in the second of the change is refused too
    fresh = (await gql(revoking.routers[1], LOGIN)).ok()["login"]["accessToken"]
    assert await _role_everywhere(revoking, fresh) == ["STUDENT"] * 3


async def test_a_deleted_account_ends_its_tokens_and_sessions(
    revoking: Revoking, settings: Settings
) -> None:
    token = (await gql(revoking.users, REGISTER, signer=revoking.as_router)).ok()["register"][
        "accessToken"
    ]
    deleted = await asyncio.to_thread(
        run_cli, settings, "users", "delete", "--email", "ada@example.com", "--yes"
    )
    assert deleted.returncode == 0, deleted.stderr
    assert await _role_everywhere(revoking, token) == ["UNAUTHENTICATED"] * 3
    assert (await gql(revoking.users, LOGIN, signer=revoking.as_router)).code == "UNAUTHENTICATED"
    missing = await asyncio.to_thread(
        run_cli, settings, "users", "delete", "--email", "ada@example.com", "--yes"
    )
    assert missing.returncode != 0
    assert "No account has this email" in missing.stderr


async def test_revocations_are_served_to_signed_services_only(revoking: Revoking) -> None:
    base = revoking.users.removesuffix("/graphql")
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base}{REVOCATIONS_PATH}")
    assert response.status_code == 401


async def test_the_list_is_polled_and_outlives_an_outage() -> None:
    now = [0.0]
    answers: list[dict[str, int] | Exception] = [
        {"u1": 100},
        httpx.ConnectError("users is down"),
        {"u1": 100, "u2": 200},
    ]
    calls = 0

    async def source() -> dict[str, int]:
        nonlocal calls
        answer = answers[calls]
        calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    revocations = RevocationList(source, poll_seconds=30, clock=lambda: now[0])
    assert await revocations.not_before("u1") == 100
    now[0] = 29.0
    assert await revocations.not_before("u2") is None
    assert calls == 1  # not asked again inside the poll interval
    now[0] = 30.0
    assert await revocations.not_before("u1") == 100  # users down: the last list holds
    now[0] = 60.0
    assert await revocations.not_before("u2") == 200
    assert calls == 3
