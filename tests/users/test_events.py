"""users announces each new account (`user.registered`) through its outbox."""

from __future__ import annotations

import asyncpg
import orjson

from contracts.events import parse
from contracts.events.users import UserRegistered
from coursegraph.events import Event
from coursegraph.settings import Settings
from tests.helpers import gql
from tests.users.test_accounts import REGISTER, register


async def _announced(settings: Settings) -> list[UserRegistered]:
    connection = await asyncpg.connect(settings.database_url_for("users"))
    try:
        rows = await connection.fetch(
            "SELECT id, topic, version, payload FROM users.outbox ORDER BY created_at"
        )
    finally:
        await connection.close()
    parsed = [
        parse(Event(str(r["id"]), r["topic"], orjson.loads(r["payload"]), r["version"]))
        for r in rows
    ]
    assert all(isinstance(p, UserRegistered) for p in parsed)
    return [p for p in parsed if isinstance(p, UserRegistered)]


async def test_registration_announces_the_account_once(users_url: str, settings: Settings) -> None:
    registered = await register(users_url, email="Grace@Example.com", role="TEACHER")
    taken = {"email": "grace@example.com", "password": "another pass", "name": "Grace Two"}
    assert (await gql(users_url, REGISTER, {"input": taken})).code == "CONFLICT"
    (event,) = await _announced(settings)
    assert event == UserRegistered(
        userId=registered["user"]["id"],
        email="grace@example.com",
        name="Ada Lovelace",
        role="TEACHER",
    )
