"""Calls straight to a subgraph, signed as the router with the kernel's signer, so they
keep working when subgraph GraphQL answers signed callers only."""

from __future__ import annotations

from typing import Any

from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from tests.e2e.stack import Stack
from tests.helpers import GraphQLResult, gql, signer_for


def router_signer(stack: Stack) -> ServiceSigner:
    """The router's signer, with the key the stack's processes derive."""
    env = stack.services["users"].env
    return signer_for(
        "router", Settings(_env_file=None, service_secret_key=env["SERVICE_SECRET_KEY"])
    )


async def at_subgraph(
    stack: Stack,
    subgraph: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> GraphQLResult:
    """`query` sent to `subgraph`'s /graphql as the router sends it."""
    url = f"{stack.services[subgraph].url}/graphql"
    return await gql(url, query, variables, token=token, signer=router_signer(stack))
