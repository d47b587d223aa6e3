from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from subgraphs.users.models import Account
from subgraphs.users.service import UserService


@dataclass
class UsersLoaders:
    users: DataLoader[str, Account | None]


def make_loaders(users: UserService) -> UsersLoaders:
    async def load_users(ids: Sequence[str]) -> list[Account | None]:
        return await users.get_many(ids)

    return UsersLoaders(users=DataLoader(load_fn=load_users))
