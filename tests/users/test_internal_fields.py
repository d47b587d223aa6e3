"""The internal user lookup: hidden from the API, callable only by signed, allowed services."""

from __future__ import annotations

import httpx
import orjson

from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings
from tests.helpers import gql, signer_for
from tests.users.test_accounts import register

LOOKUP = "query($ids: [ID!]!) { internalUsers(ids: $ids) { id role email name } }"


async def test_allowed_service_gets_the_lookup(users_url: str, settings: Settings) -> None:
    ada = await register(users_url, role="TEACHER")
    ids = [ada["user"]["id"], "00000000-0000-0000-0000-000000000000"]
    for service in ("courses", "payments"):
        result = await gql(users_url, LOOKUP, {"ids": ids}, signer=signer_for(service, settings))
        assert result.ok()["internalUsers"] == [
            {"id": ids[0], "role": "TEACHER", "email": "ada@example.com", "name": "Ada Lovelace"},
            None,
        ]


async def test_unsigned_call_is_refused(users_url: str) -> None:
    result = await gql(users_url, LOOKUP, {"ids": []}, signer=None)
    assert (result.status, result.code) == (401, "UNAUTHENTICATED")
    assert result.data is None


async def test_disallowed_service_is_refused(users_url: str, settings: Settings) -> None:
    for service in ("files", "router"):
        result = await gql(users_url, LOOKUP, {"ids": []}, signer=signer_for(service, settings))
        assert result.code == "FORBIDDEN"


async def test_unknown_service_is_refused(users_url: str) -> None:
    forged = ServiceSigner("billing", b"whatever")
    result = await gql(users_url, LOOKUP, {"ids": []}, signer=forged)
    assert result.code == "UNAUTHENTICATED"
    assert "unknown service" in result.errors[0]["message"]


async def test_wrong_key_is_refused(users_url: str) -> None:
    result = await gql(users_url, LOOKUP, {"ids": []}, signer=ServiceSigner("courses", b"guess"))
    assert result.code == "UNAUTHENTICATED"


async def _post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        )
    return response.json()


async def test_replay_stale_and_tampering_are_refused(users_url: str, settings: Settings) -> None:
    body = orjson.dumps({"query": LOOKUP, "variables": {"ids": []}})
    courses = signer_for("courses", settings)

    headers = courses.headers("POST", "/graphql", body)
    assert "errors" not in await _post(users_url, body, headers)
    replay = await _post(users_url, body, headers)
    assert "replayed" in replay["errors"][0]["message"]  # type: ignore[index]

    stale = courses.headers("POST", "/graphql", body, timestamp=1_000_000_000)
    assert "stale" in (await _post(users_url, body, stale))["errors"][0]["message"]  # type: ignore[index]

    tampered_body = orjson.dumps({"query": LOOKUP, "variables": {"ids": ["x"]}})
    headers = courses.headers("POST", "/graphql", body)
    refused = await _post(users_url, tampered_body, headers)
    assert "bad service signature" in refused["errors"][0]["message"]  # type: ignore[index]

    headers = courses.headers("POST", "/other", body)
    refused = await _post(users_url, body, headers)
    assert "bad service signature" in refused["errors"][0]["message"]  # type: ignore[index]


async def test_internal_fields_are_marked_for_composition(users_url: str) -> None:
    sdl = (await gql(users_url, "{ _service { sdl } }")).ok()["_service"]["sdl"]
    assert '@composeDirective(name: "@internal")' in sdl
    field = (
        "internalUsers(ids: [ID!]!): [InternalUser]! "
        '@internal(services: ["courses", "notifications", "payments"])'
    )
    assert f"{field} @inaccessible" in sdl
    assert "type InternalUser @inaccessible" in sdl
