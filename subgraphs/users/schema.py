"""Users' root fields: thin resolvers that call `UserService`; the schema itself."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from coursegraph.cache_control import CacheHint, CacheScope
from coursegraph.federation import build_schema, internal_field
from subgraphs.users.internal import InternalUser, internal_users
from subgraphs.users.objects import (
    AuthPayload,
    Context,
    RegisterInput,
    Role,
    UpdateProfileInput,
    User,
)


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
        internal_users,
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
        return AuthPayload.from_result(result)

    @strawberry.mutation
    async def login(self, info: Info[Context, None], email: str, password: str) -> AuthPayload:
        result = await info.context.container.users.login(
            email, password, info.context.client_address
        )
        return AuthPayload.from_result(result)

    @strawberry.mutation
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        users = info.context.container.users
        return AuthPayload.from_result(
            await users.refresh(refresh_token, info.context.client_address)
        )

    @strawberry.mutation
    async def logout(self, info: Info[Context, None], refresh_token: str) -> bool:
        return await info.context.container.users.logout(refresh_token)

    @strawberry.federation.mutation(authenticated=True)
    async def update_profile(self, info: Info[Context, None], input: UpdateProfileInput) -> User:
        viewer = info.context.require_viewer()
        name = input.name if input.name is not strawberry.UNSET else None
        user = await info.context.container.users.update_profile(viewer, name)
        return User.from_model(user)


# What the router may cache (docs/caching.md): a user's public profile (a teacher's name on
# every course page), dropped when a user event names it; the email only per viewer.
CACHE_HINTS = {
    "User": CacheHint(max_age=300, scope=CacheScope.PUBLIC),
    "User.email": CacheHint(scope=CacheScope.PRIVATE),
    # Who is asking: never shared, and not worth keeping per viewer.
    "Query.me": CacheHint(max_age=0, scope=CacheScope.PRIVATE),
}

schema = build_schema(query=Query, mutation=Mutation, types=[User], cache_hints=CACHE_HINTS)
