"""Internal fields other services call (HMAC-signed, `@inaccessible`): courses and payments."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from coursegraph.identity import Role
from subgraphs.users.objects import Context


@strawberry.federation.type(inaccessible=True)
class InternalUser:
    """What other services may learn about an account."""

    id: strawberry.ID
    name: str
    email: str
    role: Role


async def internal_users(
    info: Info[Context, None], ids: list[strawberry.ID]
) -> list[InternalUser | None]:
    users = await info.context.loaders.users.load_many([str(i) for i in ids])
    return [
        InternalUser(id=strawberry.ID(str(u.id)), name=u.name, email=u.email, role=Role(u.role))
        if u
        else None
        for u in users
    ]
