"""Notifications' one call to another subgraph: who a user is (for their mail), asked of
users when `user.registered` has not told us yet."""

from __future__ import annotations

from dataclasses import dataclass

from coursegraph.http import GraphQLServiceClient, signed_client
from coursegraph.settings import Settings

INTERNAL_USERS = """
query NotificationsInternalUsers($ids: [ID!]!) { internalUsers(ids: $ids) { id name email } }
"""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    email: str


class UsersClient:
    def __init__(self, graphql: GraphQLServiceClient) -> None:
        self._graphql = graphql

    @classmethod
    def from_settings(cls, settings: Settings) -> UsersClient:
        client = signed_client(settings, "notifications", settings.service_url("users"))
        return cls(GraphQLServiceClient(client, "users"))

    async def account(self, user_id: str) -> Account | None:
        """None when users has no such account (deleted): there is no one to write to."""
        data = await self._graphql.execute(INTERNAL_USERS, {"ids": [user_id]})
        found = (data.get("internalUsers") or [None])[0]
        if found is None:
            return None
        return Account(id=str(found["id"]), name=str(found["name"]), email=str(found["email"]))

    async def aclose(self) -> None:
        await self._graphql.aclose()
