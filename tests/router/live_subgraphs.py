"""Two Strawberry subgraphs with a subscription, for tests/router/test_subscriptions.py.

`orders` owns `Order` and `Subscription.orderUpdated` (@authenticated; the order's owner
only, others NOT_FOUND, as ws-contract's `paymentUpdated`); `catalog` adds `Order.item`
and `Order.label` (`@requires(fields: "status")`), so each event needs an entity fetch to
a second subgraph, with the event's own status as the requirement, and `Item.secret` carries
`@requiresScopes`, so the router's authorization applies per event. Strawberry serves
graphql-transport-ws; `Gate` in front of both checks ws-contract's signed upgrade (HMAC as
the kernel's, 403 when missing or bad; a present but invalid token: 401) and every signed
HTTP request, as the real subgraphs' gate does.

Each subscription first yields the order's current state, then its state after each
change (re-read, never built from the change itself); `setOrderStatus` changes it, and
status DONE completes the stream.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from coursegraph.app import CappedTransportWS
from coursegraph.caller_gate import CREDENTIAL_HEADER
from coursegraph.errors import Unauthenticated
from coursegraph.federation import FEDERATION_VERSION
from coursegraph.identity import TokenVerifier, Viewer, bearer_token
from coursegraph.service_auth import ServiceAuthError, ServiceVerifier

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ORDERS: dict[str, dict[str, str]] = {
    "o1": {"status": "PENDING", "owner": "u1", "item": "i1"},
    "o2": {"status": "PENDING", "owner": "u2", "item": "i2"},
}
ITEMS = {
    "i1": {"title": "Federation course", "secret": "s1"},
    "i2": {"title": "Other", "secret": "s2"},
}


class Broker:
    """Order changes for the subscriptions of one subgraph process."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[asyncio.Queue[str]]] = {}

    def listen(self, order_id: str) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.listeners.setdefault(order_id, set()).add(queue)
        return queue

    def forget(self, order_id: str, queue: asyncio.Queue[str]) -> None:
        self.listeners.get(order_id, set()).discard(queue)

    def publish(self, order_id: str, status: str) -> None:
        for queue in self.listeners.get(order_id, ()):
            queue.put_nowait(status)

    @property
    def open(self) -> int:
        return sum(len(queues) for queues in self.listeners.values())


BROKER = Broker()


def _viewer(info: strawberry.Info) -> Viewer | None:
    viewer: Viewer | None = info.context.get("viewer")
    return viewer


@strawberry.federation.type(keys=["id"])
class Order:
    id: strawberry.ID
    status: str

    @classmethod
    def load(cls, order_id: str) -> Order:
        return cls(id=strawberry.ID(order_id), status=ORDERS[order_id]["status"])

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Order:
        return cls.load(str(id))


@strawberry.type(name="Query")
class OrdersQuery:
    @strawberry.field
    def order(self, id: strawberry.ID) -> Order | None:
        return Order.load(str(id)) if str(id) in ORDERS else None


@strawberry.type(name="Mutation")
class OrdersMutation:
    @strawberry.field
    def set_order_status(self, id: strawberry.ID, status: str) -> Order:
        ORDERS[str(id)]["status"] = status
        BROKER.publish(str(id), status)
        return Order.load(str(id))


@strawberry.type(name="Subscription")
class OrdersSubscription:
    @strawberry.subscription(directives=[strawberry.federation.schema_directives.Authenticated()])
    async def order_updated(
        self, info: strawberry.Info, order_id: strawberry.ID
    ) -> AsyncGenerator[Order, None]:
        viewer = _viewer(info)
        if viewer is None:
            raise GraphQLError("Sign in first.", extensions={"code": "UNAUTHENTICATED"})
        order = ORDERS.get(str(order_id))
        if order is None or order["owner"] != viewer.id:
            raise GraphQLError("No such order.", extensions={"code": "NOT_FOUND"})
        queue = BROKER.listen(str(order_id))
        try:
            yield Order.load(str(order_id))
            while True:
                status = await queue.get()
                yield Order.load(str(order_id))
                if status == "DONE":
                    return
        finally:
            BROKER.forget(str(order_id), queue)


@strawberry.type
class Item:
    title: str
    secret: str | None = strawberry.federation.field(requires_scopes=[["catalog:secret"]])


@strawberry.federation.type(keys=["id"], name="Order")
class CatalogOrder:
    id: strawberry.ID
    status: str = strawberry.federation.field(external=True, default="")

    @strawberry.federation.field(requires=["status"])
    def label(self) -> str:
        # Needs orders' field: the router sends the event's status with the representation.
        return f"{ORDERS[str(self.id)]['item']}:{self.status.lower()}"

    @strawberry.field
    def item(self) -> Item:
        found = ITEMS[ORDERS[str(self.id)]["item"]]
        return Item(title=found["title"], secret=found["secret"])

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, status: str = "") -> CatalogOrder:
        return cls(id=id, status=status)


@strawberry.type(name="Query")
class CatalogQuery:
    @strawberry.field
    def item_titles(self) -> list[str]:
        return [item["title"] for item in ITEMS.values()]


ORDERS_SCHEMA = strawberry.federation.Schema(
    query=OrdersQuery,
    mutation=OrdersMutation,
    subscription=OrdersSubscription,
    types=[Order],
    federation_version=FEDERATION_VERSION,
)
CATALOG_SCHEMA = strawberry.federation.Schema(
    query=CatalogQuery,
    types=[CatalogOrder],
    federation_version=FEDERATION_VERSION,
)


class App(GraphQL[dict[str, Any], None]):
    """Strawberry's ASGI app; the context carries the viewer the gate verified. Its
    per-socket cap refuses with RATE_LIMITED, as the real subgraphs' does."""

    graphql_transport_ws_handler_class = CappedTransportWS  # type: ignore[assignment]

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"request": request, "viewer": request.scope.get("viewer")}


class Gate:
    """ws-contract's gate: a signed caller on every request and WebSocket upgrade (403
    otherwise, before accepting), the forwarded token verified when present (401)."""

    def __init__(
        self,
        app: Any,
        services: ServiceVerifier,
        tokens: TokenVerifier,
        router_credential: str | None = None,
    ) -> None:
        self.app = app
        self.services = services
        self.tokens = tokens
        # A third-party router's shared credential (X-Router-Credential) passes instead of a
        # signature, as on the real subgraphs (bench/subscriptions.py runs Hive Gateway).
        self.router_credential = router_credential
        # The upgrade headers of every accepted WebSocket (assertions).
        self.upgrades: list[Headers] = []
        # WebSockets open now (the router's sockets are shared and closed when idle).
        self.open_sockets = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        websocket = scope["type"] == "websocket"
        query = scope.get("query_string", b"").decode()
        path = scope["path"] + (f"?{query}" if query else "")
        body = b""
        if not websocket:
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
        credential = headers.get(CREDENTIAL_HEADER)
        if self.router_credential is None or credential is None:
            try:
                method = "GET" if websocket else scope["method"]
                await self.services.verify(method, path, headers, body)
            except ServiceAuthError:
                await _refuse(scope, send, 403)
                return
        elif not hmac.compare_digest(credential.encode(), self.router_credential.encode()):
            await _refuse(scope, send, 403)
            return
        try:
            token = bearer_token(headers.get("authorization"))
            viewer = await self.tokens.verify(token) if token else None
        except Unauthenticated:
            await _refuse(scope, send, 401)
            return
        scope["viewer"] = viewer
        if websocket:
            self.upgrades.append(headers)
            self.open_sockets += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.open_sockets -= 1
            return
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(scope: Scope, send: Send, status: int) -> None:
    start = (
        "websocket.http.response.start" if scope["type"] == "websocket" else "http.response.start"
    )
    body = "websocket.http.response.body" if scope["type"] == "websocket" else "http.response.body"
    await send({"type": start, "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": body, "body": b""})


def _served(app: App) -> Starlette:
    return Starlette(routes=[Route("/graphql", app), WebSocketRoute("/graphql", app)])


def orders_app(
    services: ServiceVerifier,
    tokens: TokenVerifier,
    router_credential: str | None = None,
    max_per_connection: int | None = 100,
) -> Gate:
    """`max_per_connection`: subscriptions one socket may hold (Strawberry's default 100, as
    SUBGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION); None: no cap."""
    app = App(
        ORDERS_SCHEMA,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        max_subscriptions_per_connection=max_per_connection,
    )
    return Gate(_served(app), services, tokens, router_credential)


def catalog_app(
    services: ServiceVerifier, tokens: TokenVerifier, router_credential: str | None = None
) -> Gate:
    return Gate(_served(App(CATALOG_SCHEMA)), services, tokens, router_credential)
