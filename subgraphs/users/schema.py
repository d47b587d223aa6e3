"""Users' GraphQL types and resolvers: thin, they call `UserService`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.federation import build_schema, internal_field
from subgraphs.users import models
from subgraphs.users.bootstrap import UsersContainer
from subgraphs.users.loaders import UsersLoaders

Context = RequestContext[UsersContainer, UsersLoaders]


@strawberry.enum
class Role(Enum):
    STUDENT = "STUDENT"
    TEACHER = "TEACHER"
    ADMIN = "ADMIN"


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    role: Role
    created_at: datetime
    _email: strawberry.Private[str]
    # Set where the account was just proven to be the caller's (register, login).
    _owned_by_caller: strawberry.Private[bool] = False

    @strawberry.field(description="Null unless the viewer is this user or an ADMIN.")
    def email(self, info: Info[Context, None]) -> str | None:
        if self._owned_by_caller:
            return self._email
        viewer = info.context.viewer
        return self._email if viewer and viewer.is_self_or_admin(self.id) else None

    @classmethod
    def from_model(cls, user: models.User, *, owned_by_caller: bool = False) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            name=user.name,
            role=Role(user.role),
            created_at=user.created_at,
            _email=user.email,
            _owned_by_caller=owned_by_caller,
        )

    @classmethod
    async def resolve_reference(cls, info: Info[Context, None], id: strawberry.ID) -> User | None:
        user = await info.context.loaders.users.load(str(id))
        return cls.from_model(user) if user else None


@strawberry.federation.type(inaccessible=True)
class InternalUser:
    """What other services may learn about an account."""

    id: strawberry.ID
    name: str
    email: str
    role: Role


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str
    role: Role | None = Role.STUDENT


@strawberry.input
class UpdateProfileInput:
    name: str | None = strawberry.UNSET


def _payload(result: Any) -> AuthPayload:
    return AuthPayload(
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        expires_in=result.expires_in,
        user=User.from_model(result.user, owned_by_caller=True),
    )


async def _internal_users(
    info: Info[Context, None], ids: list[strawberry.ID]
) -> list[InternalUser | None]:
    users = await info.context.loaders.users.load_many([str(i) for i in ids])
    return [
        InternalUser(id=strawberry.ID(str(u.id)), name=u.name, email=u.email, role=Role(u.role))
        if u
        else None
        for u in users
    ]


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user, or null for a visitor.")
    async def me(self, info: Info[Context, None]) -> User | None:
        viewer = info.context.viewer
        if viewer is None:
            return None
        user = await info.context.loaders.users.load(viewer.id)
        return User.from_model(user) if user else None

    @strawberry.field
    async def user(self, info: Info[Context, None], id: strawberry.ID) -> User | None:
        user = await info.context.loaders.users.load(str(id))
        return User.from_model(user) if user else None

    internal_users: list[InternalUser | None] = internal_field(
        _internal_users,
        services=["courses", "notifications", "payments"],
        description="Accounts by id, in order (null where none exists).",
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        result = await info.context.container.users.register(
            input.email,
            input.password,
            input.name,
            (input.role or Role.STUDENT).value,
            info.context.client_address,
        )
        return _payload(result)

    @strawberry.mutation
    async def login(self, info: Info[Context, None], email: str, password: str) -> AuthPayload:
        result = await info.context.container.users.login(
            email, password, info.context.client_address
        )
        return _payload(result)

    @strawberry.mutation
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        users = info.context.container.users
        return _payload(await users.refresh(refresh_token, info.context.client_address))

    @strawberry.mutation
    async def logout(self, info: Info[Context, None], refresh_token: str) -> bool:
        return await info.context.container.users.logout(refresh_token)

    @strawberry.federation.mutation(authenticated=True)
    async def update_profile(self, info: Info[Context, None], input: UpdateProfileInput) -> User:
        viewer = info.context.require_viewer()
        name = input.name if input.name is not strawberry.UNSET else None
        user = await info.context.container.users.update_profile(viewer, name)
        return User.from_model(user)


schema = build_schema(query=Query, mutation=Mutation, types=[User])
