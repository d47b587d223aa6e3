"""Users' GraphQL object types, enums and inputs."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

import strawberry
from strawberry.permission import PermissionExtension
from strawberry.types import Info

from coursegraph.context import RequestContext
from coursegraph.identity import Role
from coursegraph.lookahead import then
from subgraphs.users import models
from subgraphs.users.bootstrap import UsersContainer
from subgraphs.users.loaders import UsersLoaders
from subgraphs.users.policy import EmailVisible
from subgraphs.users.service import AuthResult

Context = RequestContext[UsersContainer, UsersLoaders]


# GraphQL's `Role` is the kernel's enum itself (the values tokens carry).
strawberry.enum(Role)


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    role: Role
    created_at: datetime
    _email: strawberry.Private[str]
    # Set where the account was just proven to be the caller's (register, login).
    _owned_by_caller: strawberry.Private[bool] = False

    @strawberry.field(
        description="Null unless the viewer is this user or an ADMIN.",
        extensions=[
            PermissionExtension([EmailVisible()], use_directives=False, fail_silently=True)
        ],
    )
    def email(self) -> str | None:
        return self._email

    @classmethod
    def from_model(
        cls, user: models.User | models.Account, *, owned_by_caller: bool = False
    ) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            name=user.name,
            role=Role(user.role),
            created_at=user.created_at,
            _email=user.email,
            _owned_by_caller=owned_by_caller,
        )

    @classmethod
    def resolve_reference(
        cls, info: Info[Context, None], id: strawberry.ID
    ) -> User | Awaitable[User | None] | None:
        # No coroutine: the load is registered now, so all references batch, and the
        # kernel's `_entities` awaits them together (coursegraph.lookahead).
        return then(info.context.loaders.users.load(str(id)), _user_or_none)


def _user_or_none(user: models.Account | None) -> User | None:
    return User.from_model(user) if user else None


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def from_result(cls, result: AuthResult) -> AuthPayload:
        return cls(
            access_token=result.access_token,
            refresh_token=result.refresh_token,
            expires_in=result.expires_in,
            user=User.from_model(result.user, owned_by_caller=True),
        )


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str
    role: Role | None = Role.STUDENT


@strawberry.input
class UpdateProfileInput:
    name: str | None = strawberry.UNSET
