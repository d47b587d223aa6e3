"""A client of the public API, as the apps are: named operations from
`clients/operations/*.graphql`, sent to the router's one endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from tests.helpers import GraphQLResult

OPERATIONS_DIR = Path(__file__).resolve().parents[2] / "clients" / "operations"
PASSWORD = "correct horse battery staple"

T = TypeVar("T")


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


@cache
def _documents() -> dict[str, DocumentNode]:
    return {path.name: parse(path.read_text()) for path in sorted(OPERATIONS_DIR.glob("*.graphql"))}


@cache
def operation(name: str) -> str:
    """The named operation and the fragments it uses (transitively), as apps send it."""
    for document in _documents().values():
        operations = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name
        }
        if name not in operations:
            continue
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        needed: list[OperationDefinitionNode | FragmentDefinitionNode] = [operations[name]]
        seen: set[str] = set()
        index = 0
        while index < len(needed):
            spreads = _Spreads()
            visit(needed[index], spreads)
            for fragment in sorted(spreads.names - seen):
                seen.add(fragment)
                needed.append(fragments[fragment])
            index += 1
        return "\n\n".join(print_ast(node) for node in needed)
    raise KeyError(f"no operation {name!r} in {OPERATIONS_DIR}")


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    email: str
    token: str


@dataclass
class Api:
    """The router's public endpoint."""

    url: str

    async def run(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        operation_name: str | None = None,
    ) -> GraphQLResult:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(self.url, json=body, headers=headers)
        payload = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        return GraphQLResult(response.status_code, payload.get("data"), payload.get("errors") or [])

    async def op(
        self, name: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResult:
        """Send a client operation by name."""
        return await self.run(operation(name), variables, token=token, operation_name=name)

    async def data(
        self, name: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """A client operation that must succeed: its data."""
        return (await self.op(name, variables, token=token)).ok()

    async def sign_up(self, role: str = "STUDENT", name: str | None = None) -> Account:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@e2e.example"
        display = name or f"{role.title()} {email[:14]}"
        variables = {"input": {"email": email, "password": PASSWORD, "name": display, "role": role}}
        session = (await self.data("Register", variables))["register"]
        return Account(session["user"]["id"], display, email, session["accessToken"])


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 20.0,
    every: float = 0.2,
) -> T:
    """Poll `probe` until its value satisfies `until`; fail with the last value seen."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within:.0f}s; last value: {value!r}")
        await asyncio.sleep(every)
