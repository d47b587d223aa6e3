"""`paymentUpdated` over the subgraph's own WebSocket (ws-contract): the signed upgrade,
who may watch, PENDING then SUCCEEDED from a real sandbox payment, token expiry, the
per-connection cap, clean disconnects, and two instances sharing one NATS."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from coursegraph.database import create_database, drop_database
from coursegraph.embedded_pg import with_database
from coursegraph.identity import scope_claim
from coursegraph.live import LiveFeed
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from launcher import migrations
from subgraphs.payments.app import create_app
from subgraphs.payments.settings import PaymentsSettings, ReconcileSettings, SandboxSettings
from subgraphs.users.bootstrap import key_store
from subgraphs.users.keys import KeyStore
from subgraphs.users.settings import UsersSettings
from tests.helpers import AS_ROUTER, gql, graphql_socket, signer_for, upgrade_headers
from tests.payments.conftest import SANDBOX_SECRET, eventually
from tests.payments.stubs import FakeCourses, LateApp
from tests.services import worker_name

WATCH = "subscription($id: ID!) { paymentUpdated(paymentId: $id) { id status } }"
CREATE = """
mutation($input: CreatePaymentInput!) {
  createPayment(input: $input) { id status checkout { sandboxUrl } }
}"""
WATCH_REFUNDS = """
subscription($id: ID!) { paymentUpdated(paymentId: $id) { status refunds { status } } }"""
REFUND = "mutation($id: ID!) { requestRefund(paymentId: $id) { status } }"
CAP = 3


@dataclass
class Payments:
    """One payments instance of this module's own, and how to act on it."""

    server: ServerThread
    app: Starlette
    keys: KeyStore
    settings: Settings

    @property
    def graphql(self) -> str:
        return f"{self.server.url}/graphql"

    @property
    def live(self) -> LiveFeed:
        feed: LiveFeed = self.app.state.container.live
        return feed

    def token(self, role: str = "STUDENT", ttl_seconds: int = 300) -> tuple[str, str]:
        user_id = str(uuid.uuid4())
        token = self.keys.sign(
            {"sub": user_id, "role": role, "scope": scope_claim(role)},
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl_seconds=ttl_seconds,
        )
        return user_id, token

    async def pending_payment(self, token: str, course_id: str) -> tuple[str, str]:
        """A PENDING sandbox payment: its id and its checkout URL."""
        created = await gql(
            self.graphql,
            CREATE,
            {"input": {"courseId": course_id, "provider": "SANDBOX"}},
            token=token,
        )
        payment = created.ok()["createPayment"]
        assert payment["status"] == "PENDING"
        return payment["id"], payment["checkout"]["sandboxUrl"]


@contextmanager
def _payments_instance(settings: Settings, keys: KeyStore, **changes: object) -> Iterator[Payments]:
    """A payments server on `settings` (with `changes`) reaching itself for the sandbox's
    checkout and webhooks; its token leeway is 0 so expiry is exact."""
    late = LateApp()
    server = ServerThread(late)
    own = settings.model_copy(
        update={
            "payments_url": server.url,
            "jwt_leeway_seconds": 0,
            "subgraph_max_subscriptions_per_connection": CAP,
            **changes,
        }
    )
    section = PaymentsSettings(
        _env_file=None,
        sandbox=SandboxSettings(webhook_secret=SecretStr(SANDBOX_SECRET)),
        reconcile=ReconcileSettings(interval_seconds=0),
    )
    app = create_app(own, section)
    late.app = app
    with server:
        yield Payments(server, app, keys, own)


@pytest.fixture(scope="module")
def keys(settings: Settings, users_section: UsersSettings, _users_server: ServerThread) -> KeyStore:
    store = key_store(settings, users_section)
    store.load(create=False)
    return store


@pytest.fixture(scope="module")
def base_settings(
    settings: Settings,
    _users_server: ServerThread,
    _fake_courses: tuple[FakeCourses, ServerThread],
) -> Settings:
    return settings.model_copy(
        update={"users_url": _users_server.url, "courses_url": _fake_courses[1].url}
    )


@pytest.fixture(scope="module")
def payments(base_settings: Settings, keys: KeyStore) -> Iterator[Payments]:
    """In-process bus: the instance's own relay reaches its own subscribers."""
    with _payments_instance(base_settings, keys) as instance:
        yield instance


@pytest.fixture
def courses(_fake_courses: tuple[FakeCourses, ServerThread], clean_database: None) -> FakeCourses:
    fake = _fake_courses[0]
    fake.reset()
    return fake


async def _settle(checkout_url: str, outcome: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(checkout_url, json={"outcome": outcome})
    assert response.status_code == 200, response.text


async def test_the_owner_sees_pending_then_succeeded(
    payments: Payments, courses: FakeCourses
) -> None:
    course = courses.add_course(price_minor=2500, currency="USD")
    _, token = payments.token()
    payment_id, checkout = await payments.pending_payment(token, course.id)
    async with graphql_socket(payments.graphql, token=token) as socket:
        await socket.subscribe("1", WATCH, {"id": payment_id})
        first = await socket.next_data("1")
        assert first == {"paymentUpdated": {"id": payment_id, "status": "PENDING"}}
        # The sandbox's signed webhook settles it; the outbox announces it.
        await _settle(checkout, "succeeded")
        second = await socket.next_data("1")
        assert second == {"paymentUpdated": {"id": payment_id, "status": "SUCCEEDED"}}
        assert payments.live.subscriber_count == 1
        await socket.complete("1")
        await eventually(lambda: payments.live.subscriber_count == 0)
        # Nested fields are read afresh for each value (no DataLoader cache across events).
        await socket.subscribe("2", WATCH_REFUNDS, {"id": payment_id})
        before = (await socket.next_data("2"))["paymentUpdated"]
        assert before == {"status": "SUCCEEDED", "refunds": []}
        refund = await gql(payments.graphql, REFUND, {"id": payment_id}, token=token)
        assert refund.ok()["requestRefund"]["status"] == "SUCCEEDED"
        after = (await socket.next_data("2"))["paymentUpdated"]
        assert after == {"status": "REFUNDED", "refunds": [{"status": "SUCCEEDED"}]}


async def test_a_superseded_payment_is_seen_canceled(
    payments: Payments, courses: FakeCourses
) -> None:
    course = courses.add_course(price_minor=2500, currency="USD")
    _, token = payments.token()
    payment_id, _ = await payments.pending_payment(token, course.id)
    async with graphql_socket(payments.graphql, token=token) as socket:
        await socket.subscribe("1", WATCH, {"id": payment_id})
        assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "PENDING"
        course.price_minor = 3000  # a new price: the next checkout replaces this one
        replacement, _ = await payments.pending_payment(token, course.id)
        assert replacement != payment_id
        assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "CANCELED"


async def test_who_may_watch_a_payment(payments: Payments, courses: FakeCourses) -> None:
    course = courses.add_course(price_minor=2500, currency="USD")
    _, owner = payments.token()
    _, other = payments.token()
    _, admin = payments.token("ADMIN")
    payment_id, _ = await payments.pending_payment(owner, course.id)
    variables = {"id": payment_id}
    # Another student learns nothing, not even that the payment exists.
    async with graphql_socket(payments.graphql, token=other) as socket:
        await socket.subscribe("1", WATCH, variables)
        assert await socket.error_codes("1") == ["NOT_FOUND"]
        await socket.subscribe("2", WATCH, {"id": "not-an-id"})
        assert await socket.error_codes("2") == ["NOT_FOUND"]
    async with graphql_socket(payments.graphql) as socket:
        await socket.subscribe("1", WATCH, variables)
        assert await socket.error_codes("1") == ["UNAUTHENTICATED"]
    async with graphql_socket(payments.graphql, token=admin) as socket:
        await socket.subscribe("1", WATCH, variables)
        assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "PENDING"
    await eventually(lambda: payments.live.subscriber_count == 0)


def _ws_url(payments: Payments) -> str:
    return "ws" + payments.graphql.removeprefix("http")


async def _handshake_status(payments: Payments, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            _ws_url(payments),
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=headers,
        ):
            pass
    return refused.value.response.status_code


async def test_unsigned_forged_and_replayed_upgrades_are_refused(payments: Payments) -> None:
    assert await _handshake_status(payments, {}) == 403
    forged = upgrade_headers(
        payments.graphql,
        signer=signer_for("router", Settings(_env_file=None, service_secret_key="not-the-secret")),
    )
    assert await _handshake_status(payments, forged) == 403
    # Signed for another path: the signature covers the path.
    elsewhere = upgrade_headers(f"{payments.server.url}/other", signer=AS_ROUTER)
    assert await _handshake_status(payments, elsewhere) == 403
    signed = upgrade_headers(payments.graphql)
    async with connect(
        _ws_url(payments),
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers=signed,
    ):
        pass
    # The same signed headers again: the nonce was used.
    assert await _handshake_status(payments, signed) == 403
    # A token that is present but not valid refuses the handshake with 401.
    bad_token = {**upgrade_headers(payments.graphql), "authorization": "Bearer nope"}
    assert await _handshake_status(payments, bad_token) == 401


async def test_an_expiring_token_closes_the_socket_with_4403(
    payments: Payments, courses: FakeCourses
) -> None:
    course = courses.add_course(price_minor=2500, currency="USD")
    _, long_lived = payments.token()
    payment_id, _ = await payments.pending_payment(long_lived, course.id)
    _, admin = payments.token("ADMIN", ttl_seconds=2)
    async with graphql_socket(payments.graphql, token=admin) as socket:
        await socket.subscribe("1", WATCH, {"id": payment_id})
        assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "PENDING"
        with pytest.raises(ConnectionClosed) as closed:
            await socket.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    await eventually(lambda: payments.live.subscriber_count == 0)


async def test_the_per_connection_cap_and_disconnects_leave_nothing(
    payments: Payments, courses: FakeCourses
) -> None:
    course = courses.add_course(price_minor=2500, currency="USD")
    _, token = payments.token()
    payment_id, _ = await payments.pending_payment(token, course.id)
    async with graphql_socket(payments.graphql, token=token) as socket:
        for n in range(CAP):
            await socket.subscribe(str(n), WATCH, {"id": payment_id})
            assert (await socket.next_data(str(n)))["paymentUpdated"]["status"] == "PENDING"
        await socket.subscribe("over", WATCH, {"id": payment_id})
        assert await socket.error_codes("over") == ["RATE_LIMITED"]
        assert payments.live.subscriber_count == CAP
    # The client went away without completing anything: the server cleans up on its own.
    await eventually(lambda: payments.live.subscriber_count == 0)


# ------------------------------------------------------------------ two instances, NATS
@pytest.fixture(scope="module")
def nats_settings(
    base_settings: Settings, database_server_url: str, nats_url: str
) -> Iterator[Settings]:
    """A database of this module's own: no other payments server's relay (in-process,
    from other test modules) may publish these instances' events where NATS is not."""
    name = f"coursegraph_live_{worker_name()}_{secrets.token_hex(4)}"
    asyncio.run(create_database(database_server_url, name))
    url = with_database(database_server_url, name)
    migrations.upgrade("payments", url)
    yield base_settings.model_copy(update={"database_url": url, "nats_url": nats_url})
    asyncio.run(drop_database(database_server_url, name))


async def test_an_event_produced_on_one_instance_reaches_a_subscriber_on_another(
    nats_settings: Settings, keys: KeyStore, courses: FakeCourses
) -> None:
    with (
        _payments_instance(nats_settings, keys) as a,
        _payments_instance(nats_settings, keys) as b,
    ):
        await eventually(lambda: a.live.listening and b.live.listening)
        course = courses.add_course(price_minor=2500, currency="USD")
        _, token = a.token()
        payment_id, checkout = await a.pending_payment(token, course.id)
        async with graphql_socket(b.graphql, token=token) as socket:
            await socket.subscribe("1", WATCH, {"id": payment_id})
            assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "PENDING"
            await _settle(checkout, "succeeded")  # A's checkout, A's webhook, A's relay
            assert (await socket.next_data("1"))["paymentUpdated"]["status"] == "SUCCEEDED"
        await eventually(lambda: b.live.subscriber_count == 0)


async def test_only_graphql_transport_ws_is_spoken(payments: Payments) -> None:
    async with connect(
        _ws_url(payments),
        subprotocols=[Subprotocol("graphql-ws")],  # the legacy protocol
        additional_headers=upgrade_headers(payments.graphql),
    ) as websocket:
        with pytest.raises(ConnectionClosed) as closed:
            await websocket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
