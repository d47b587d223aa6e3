"""Sign-in, registration and refresh throttles, and whose address they count, over real
HTTP: users on its own, and behind the router."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from coursegraph.db import Database, create_engine
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from router.bootstrap import build_router
from router.bootstrap import create_app as create_router_app
from router.config import RouterConfig
from router.supergraph import Supergraph
from subgraphs.users.app import create_app
from subgraphs.users.settings import UsersSettings
from subgraphs.users.throttle import Throttle
from tests.helpers import AS_ROUTER, REPO_ROOT, gql, run_cli, signer_for

PASSWORD = "correct horse"
REGISTER = """
mutation($email: String!) {
  register(input: {email: $email, password: "correct horse", name: "Someone"}) { refreshToken }
}"""
LOGIN = """
mutation($email: String!, $password: String!) { login(email: $email, password: $password) {
  accessToken } }"""
REFRESH = "mutation($token: String!) { refreshToken(refreshToken: $token) { refreshToken } }"
# The tight stack: three failures per address, three registrations per address.
BUDGET = 3


@dataclass(frozen=True)
class Tight:
    users: str  # users' /graphql, called directly
    router: str  # a router in front of it
    proxied_router: str  # a router that trusts 127.0.0.0/8 as its proxy


@pytest.fixture(scope="module")
def tight_stack(settings: Settings, users_section: UsersSettings) -> Iterator[Tight]:
    users_settings = settings
    tight_section = users_section.model_copy(
        update={"login_max_failures_per_address": BUDGET, "register_max_per_address": BUDGET}
    )
    supergraph = Supergraph((REPO_ROOT / "supergraph.graphql").read_text(encoding="utf-8"))
    with ServerThread(create_app(users_settings, tight_section)) as users:

        def router(**headers: object) -> ServerThread:
            config = RouterConfig.model_validate(
                {"subgraphs": {"users": {"url": f"{users.url}/graphql"}}, "headers": headers}
            )
            return ServerThread(create_router_app(build_router(supergraph, config, settings)))

        with router() as plain, router(trusted_proxies=["127.0.0.0/8"]) as proxied:
            yield Tight(
                f"{users.url}/graphql",
                f"{plain.url}/graphql",
                f"{proxied.url}/graphql",
            )


@pytest.fixture
def tight(tight_stack: Tight, clean_database: None) -> Tight:
    return tight_stack


async def _register(url: str, email: str, signer: ServiceSigner = AS_ROUTER) -> str:
    token: str = (await gql(url, REGISTER, {"email": email}, signer=signer)).ok()["register"][
        "refreshToken"
    ]
    return token


async def _login(
    url: str,
    email: str,
    password: str,
    signer: ServiceSigner = AS_ROUTER,
    headers: dict[str, str] | None = None,
) -> str:
    result = await gql(
        url, LOGIN, {"email": email, "password": password}, headers=headers, signer=signer
    )
    return "OK" if not result.errors else result.code


async def _counts(settings: Settings) -> dict[str, int]:
    connection = await asyncpg.connect(settings.database_url_for("users"))
    try:
        rows = await connection.fetch("SELECT key, failures FROM users.login_failures")
    finally:
        await connection.close()
    return {row["key"]: row["failures"] for row in rows}


async def test_concurrent_wrong_passwords_check_at_most_the_limit(users_url: str) -> None:
    await _register(users_url, "ada@example.com", AS_ROUTER)
    codes = await asyncio.gather(
        *(_login(users_url, "ada@example.com", f"guess number {i}", AS_ROUTER) for i in range(20))
    )
    # Each UNAUTHENTICATED is a password checked; the other 15 were refused before.
    assert Counter(codes) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 15}
    assert await _login(users_url, "ada@example.com", PASSWORD, AS_ROUTER) == "RATE_LIMITED"


async def test_an_address_over_budget_still_signs_in_to_accounts_not_attacked(
    tight: Tight,
) -> None:
    await _register(tight.users, "a@example.com")
    await _register(tight.users, "b@example.com")
    for _ in range(BUDGET):
        assert await _login(tight.users, "a@example.com", "wrong pass") == "UNAUTHENTICATED"
    # The address has spent its budget: no more guesses at an account under attack …
    assert await _login(tight.users, "a@example.com", "wrong pass") == "RATE_LIMITED"
    # … but an account nobody has guessed at still signs in (campus NAT, make dev).
    assert await _login(tight.users, "b@example.com", PASSWORD) == "OK"
    assert await _login(tight.users, "b@example.com", PASSWORD) == "OK"
    # One guess at it from this address, and then it is under attack too.
    assert await _login(tight.users, "b@example.com", "wrong pass") == "UNAUTHENTICATED"
    assert await _login(tight.users, "b@example.com", PASSWORD) == "RATE_LIMITED"
    # Account A is not locked for everyone: its own limit (5) is not reached.
    elsewhere = {"x-forwarded-for": "203.0.113.5"}
    assert await _login(tight.proxied_router, "a@example.com", PASSWORD, headers=elsewhere) == "OK"


async def test_registration_is_throttled_per_address(tight: Tight, settings: Settings) -> None:
    bad = await gql(tight.users, REGISTER, {"email": "not an email"}, signer=AS_ROUTER)
    assert bad.code == "BAD_USER_INPUT"  # refused before counting
    await _register(tight.users, "one@example.com")
    await _register(tight.users, "two@example.com")
    taken = await gql(tight.users, REGISTER, {"email": "one@example.com"}, signer=AS_ROUTER)
    assert taken.code == "CONFLICT"  # counted: probing for accounts costs budget
    refused = await gql(tight.users, REGISTER, {"email": "three@example.com"}, signer=AS_ROUTER)
    assert refused.code == "RATE_LIMITED"
    assert refused.errors[0]["extensions"]["retryAfter"] > 0
    assert await _counts(settings) == {"register:127.0.0.1": BUDGET}


async def test_refresh_is_throttled_per_address(tight: Tight) -> None:
    token = await _register(tight.users, "ada@example.com")
    for _ in range(BUDGET + 2):  # successes give their slot back
        refreshed = await gql(tight.users, REFRESH, {"token": token}, signer=AS_ROUTER)
        token = refreshed.ok()["refreshToken"]["refreshToken"]
    for i in range(BUDGET):
        bogus = await gql(tight.users, REFRESH, {"token": f"not-a-token-{i}"}, signer=AS_ROUTER)
        assert bogus.code == "UNAUTHENTICATED"
    assert (
        await gql(tight.users, REFRESH, {"token": "one-more"}, signer=AS_ROUTER)
    ).code == "RATE_LIMITED"


async def test_forged_forwarded_for_through_the_router_does_not_reset_the_budget(
    tight: Tight, settings: Settings
) -> None:
    await _register(tight.router, "a@example.com")
    for i in range(BUDGET):
        forged = {"x-forwarded-for": f"198.51.100.{i}"}
        assert (
            await _login(tight.router, "a@example.com", "wrong", headers=forged)
            == "UNAUTHENTICATED"
        )
    forged = {"x-forwarded-for": "198.51.100.99"}
    assert await _login(tight.router, "a@example.com", "wrong", headers=forged) == "RATE_LIMITED"
    counts = await _counts(settings)
    assert counts["address:127.0.0.1"] == BUDGET
    assert not [key for key in counts if "198.51.100" in key]


async def test_a_trusted_proxy_names_the_client(tight: Tight, settings: Settings) -> None:
    # 127.0.0.1 (this test) is a trusted proxy of this router: the nearest hop it did not
    # add is the client; what the client wrote further left is not believed.
    chain = {"x-forwarded-for": "10.0.0.1, 203.0.113.9"}
    assert await _login(tight.proxied_router, "x@example.com", "wrong", headers=chain) == (
        "UNAUTHENTICATED"
    )
    assert await _counts(settings) == {"account:x@example.com": 1, "address:203.0.113.9": 1}


async def test_only_the_signed_router_may_name_the_client(tight: Tight, settings: Settings) -> None:
    forged = {"x-forwarded-for": "192.0.2.1"}
    # Unsigned calls never reach GraphQL (private subgraphs); one signed by another service
    # has its header ignored: the peer counts.
    unsigned = await gql(
        tight.users, LOGIN, {"email": "x@example.com", "password": "wrong"}, signer=None
    )
    assert unsigned.status == 401
    courses = signer_for("courses")
    result = await gql(
        tight.users,
        LOGIN,
        {"email": "x@example.com", "password": "wrong"},
        headers=forged,
        signer=courses,
    )
    assert result.code == "UNAUTHENTICATED"
    assert (await _counts(settings))["address:127.0.0.1"] == 1
    # The signed router: its own entry (the rightmost) counts, not what is left of it.
    result = await gql(
        tight.users,
        LOGIN,
        {"email": "y@example.com", "password": "wrong"},
        headers={"x-forwarded-for": "192.0.2.1, 2001:db8::1"},
        signer=AS_ROUTER,
    )
    assert result.code == "UNAUTHENTICATED"
    counts = await _counts(settings)
    assert counts["address:2001:db8::/64"] == 1  # IPv6 counted per /64
    assert not [key for key in counts if "192.0.2.1" in key]


async def test_unlock_command_clears_an_account_and_an_address(
    users_url: str, settings: Settings
) -> None:
    await _register(users_url, "ada@example.com", AS_ROUTER)
    for _ in range(5):
        await _login(users_url, "ada@example.com", "wrong pass", AS_ROUTER)
    assert await _login(users_url, "ada@example.com", PASSWORD, AS_ROUTER) == "RATE_LIMITED"

    unlocked = await asyncio.to_thread(
        run_cli, settings, "users", "unlock", "--email", " Ada@Example.com"
    )
    assert unlocked.returncode == 0, unlocked.stderr
    assert "1 throttle count(s) cleared" in unlocked.stdout
    assert await _login(users_url, "ada@example.com", PASSWORD, AS_ROUTER) == "OK"
    assert "address:127.0.0.1" in await _counts(settings)

    by_address = await asyncio.to_thread(
        run_cli, settings, "users", "unlock", "--address", "127.0.0.1"
    )
    assert by_address.returncode == 0, by_address.stderr
    assert await _counts(settings) == {}
    bad = await asyncio.to_thread(run_cli, settings, "users", "unlock", "--address", "nope")
    assert bad.returncode != 0
    assert "not an IP address" in bad.stderr
    neither = await asyncio.to_thread(run_cli, settings, "users", "unlock")
    assert neither.returncode != 0


async def test_ended_windows_are_forgotten(
    settings: Settings, users_section: UsersSettings, clean_database: None
) -> None:
    window_seconds = users_section.throttle_window_seconds(settings)
    ended = window_seconds + 1
    connection = await asyncpg.connect(settings.database_url_for("users"))
    try:
        await connection.executemany(
            "INSERT INTO users.login_failures VALUES ($1, 3, now() - $2 * interval '1 second')",
            [(f"account:old{i}@example.com", ended) for i in range(5)]
            + [("account:live@example.com", 1)],
        )
    finally:
        await connection.close()
    # Its own engine, not bootstrap's, whose pruning loop would race this test.
    database = Database(create_engine(settings.database_url_for("users"), pool_size=1))
    try:
        throttle = Throttle(database, users_section, window_seconds)
        assert await throttle.forget_expired(batch=3) == 3
        assert await throttle.forget_expired(batch=3) == 2
    finally:
        await database.dispose()
    assert await _counts(settings) == {"account:live@example.com": 3}
