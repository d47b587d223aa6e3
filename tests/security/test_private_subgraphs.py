"""Subgraphs are private: their GraphQL answers only the signed router and known services.

Issue 13, case 1: the file id is public (`lecture { video { id } }`), and an unsigned
`_entities` call to files claiming `viewerCanWatch: true` used to return a working
signed `playbackUrl`. Here, against the real stack as separate processes:

- unsigned GraphQL to each subgraph is refused (401 UNAUTHENTICATED) before it is parsed,
  by POST and GET, and so are forged signatures and a wrong router credential; a signed
  call replayed concurrently passes once;
- the public HTTP routes clients need (health, JWKS, upload PUT, media GET, webhooks,
  sandbox checkout) are still served;
- the playback attack fails unsigned, and fails signed by a service that is not the
  router; an entitled viewer still watches through the router.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from coursegraph.caller_gate import CREDENTIAL_HEADER
from coursegraph.http import ServiceAuth
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import SUBGRAPHS, Settings
from router.composition import SourceError
from router.composition.sources import fetch_sdl
from tests.e2e.client import Api, eventually
from tests.e2e.scenario import published_course, settle_sandbox, upload_lecture_video
from tests.e2e.stack import Stack, build_stack, fresh_database
from tests.helpers import GraphQLResult, gql, signer_for

SERVICE_SECRET = secrets.token_hex(16)
ROUTER_SECRET = secrets.token_hex(32)
SETTINGS = Settings(_env_file=None, service_secret_key=SERVICE_SECRET)
PRICE = {"amount": "19.99", "currency": "USD"}
FILE_ENTITY = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on File { id playbackUrl } } }"""


@pytest.fixture(scope="module")
def stack(database_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("private")
    (workdir / "data").mkdir()
    with fresh_database(database_server_url, "coursegraph_private") as url:
        running = build_stack(
            workdir,
            url,
            {
                "SERVICE_SECRET_KEY": SERVICE_SECRET,
                "ROUTER_SHARED_SECRET": ROUTER_SECRET,
                "SANDBOX_WEBHOOK_SECRET": secrets.token_hex(16),
                "FILES_VIDEO_PROCESSOR": "local",
            },
        )
        with running:
            yield running


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.graphql_url)


def _graphql(stack: Stack, subgraph: str) -> str:
    return f"{stack.services[subgraph].url}/graphql"


async def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            url, content=body, headers={"content-type": "application/json", **(headers or {})}
        )


def _refusal(response: httpx.Response) -> str:
    """The refusal's message, after checking it is a 401 with a GraphQL error body."""
    assert response.status_code == 401, response.text
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    return str(error["message"])


@pytest.mark.parametrize("subgraph", SUBGRAPHS)
async def test_unsigned_graphql_is_refused_before_it_is_parsed(stack: Stack, subgraph: str) -> None:
    url = _graphql(stack, subgraph)
    # Not even JSON: parsed, it would be a 400; the gate answers first.
    assert "router" in _refusal(await _post(url, b"{not json"))
    query = orjson.dumps({"query": "{ __typename }"})
    assert "router" in _refusal(await _post(url, query))
    async with httpx.AsyncClient(timeout=30) as client:
        by_get = await client.get(url, params={"query": "{ __typename }"})
        browser = await client.get(url, headers={"accept": "text/html"})
    _refusal(by_get)
    _refusal(browser)  # no GraphiQL on a private subgraph

    forged = ServiceSigner("router", b"guessed key").headers("POST", "/graphql", query)
    assert "bad service signature" in _refusal(await _post(url, query, forged))
    unknown = ServiceSigner("billing", b"x").headers("POST", "/graphql", query)
    assert "unknown service" in _refusal(await _post(url, query, unknown))
    wrong = {CREDENTIAL_HEADER: secrets.token_hex(32)}
    assert _refusal(await _post(url, query, wrong)) == "Router credential refused."

    # The router's signature and the third-party router credential pass.
    signed = await gql(url, "{ __typename }", signer=signer_for("router", SETTINGS))
    assert signed.ok() == {"__typename": "Query"}
    credential = {CREDENTIAL_HEADER: ROUTER_SECRET}
    shared = await gql(url, "{ __typename }", signer=None, headers=credential)
    assert shared.ok() == {"__typename": "Query"}


async def test_a_signed_call_replayed_concurrently_passes_once(stack: Stack) -> None:
    url = _graphql(stack, "users")
    body = orjson.dumps({"query": "{ __typename }"})
    headers = signer_for("router", SETTINGS).headers("POST", "/graphql", body)
    responses = await asyncio.gather(*(_post(url, body, headers) for _ in range(12)))
    assert sorted(r.status_code for r in responses) == [200] + [401] * 11
    refused = [_refusal(r) for r in responses if r.status_code == 401]
    assert all("replayed service nonce" in message for message in refused)


def test_router_reads_a_subgraph_sdl_signed(stack: Stack) -> None:
    """A router composing from `subgraph_url` asks `_service { sdl }` as the router."""
    url = _graphql(stack, "files")
    with pytest.raises(SourceError, match="401"):
        fetch_sdl(url)
    sdl = fetch_sdl(url, auth=ServiceAuth(signer_for("router", SETTINGS)))
    assert "type File @key" in sdl


async def test_public_routes_are_served_without_a_signature(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for name in SUBGRAPHS:
            health = await client.get(f"{stack.services[name].url}/health")
            assert health.json()["status"] == "ok"
            assert health.json()["subgraph"] == name
        jwks = await client.get(f"{stack.services['users'].url}/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert jwks.json()["keys"]
        # Webhooks reach their own routes: Mux's answers it is off in this stack (local
        # processor); the sandbox's checks the provider's signature.
        files = stack.services["files"].url
        mux_hook = await client.post(f"{files}/webhooks/mux", content=b"{}")
        assert (mux_hook.status_code, mux_hook.text) == (404, "Not found.")
        payments = stack.services["payments"].url
        sandbox_hook = await client.post(f"{payments}/webhooks/sandbox", content=b"{}")
        assert sandbox_hook.status_code == 400
        assert "invalid webhook" in sandbox_hook.json()["error"]
        checkout = await client.get(f"{payments}/sandbox/checkout/unknown")
        assert checkout.status_code == 404  # the checkout page answers, not the gate
    # Upload PUT, media GET, sandbox checkout and its webhook succeed in the next test.


async def _entities(stack: Stack, file_id: str, **call: Any) -> GraphQLResult:
    reps = [{"__typename": "File", "id": file_id, "viewerCanWatch": True}]
    return await gql(_graphql(stack, "files"), FILE_ENTITY, {"r": reps}, **call)


async def test_playback_attack_fails_directly_and_entitled_viewer_still_watches(
    stack: Stack, api: Api
) -> None:
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher, price=PRICE)
    lecture_id = course.lecture_ids[0]
    video = await upload_lecture_video(api, teacher, lecture_id)  # PUT to the upload URL

    # Anyone learns the file id through the router, but gets no URL there.
    stranger = await api.sign_up()
    seen = (await api.data("Lecture", {"id": lecture_id}, token=stranger.token))["lecture"]
    file_id = seen["video"]["id"]
    assert seen["video"]["playbackUrl"] is None

    # Straight at files, claiming the entitlement courses would have answered.
    unsigned = await _entities(stack, file_id, signer=None)
    assert (unsigned.status, unsigned.code, unsigned.data) == (401, "UNAUTHENTICATED", None)
    for service in ("courses", "payments", "users"):
        # A known service has no reason to supply viewerCanWatch: it counts only from
        # the router, which fetched it from courses.
        signed = await _entities(stack, file_id, signer=signer_for(service, SETTINGS))
        assert signed.ok()["_entities"] == [{"id": file_id, "playbackUrl": None}]

    # A paying student watches through the router: sandbox checkout, then its webhook.
    student = await api.sign_up()
    variables = {"courseId": course.id, "provider": "SANDBOX"}
    required = (await api.data("Enroll", variables, token=student.token))["enroll"]
    await settle_sandbox(required["payment"]["checkout"])  # the sandbox sends the webhook

    async def playback_url() -> str | None:
        lecture = (await api.data("Lecture", {"id": lecture_id}, token=student.token))["lecture"]
        url: str | None = lecture["video"]["playbackUrl"]
        return url

    url = await eventually(playback_url, lambda found: found is not None, within=30)
    assert url is not None
    async with httpx.AsyncClient(timeout=30) as client:
        part = await client.get(url, headers={"Range": "bytes=0-99"})  # media GET
    assert part.status_code == 206
    assert part.content == video[:100]


@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_weak_router_secret_is_refused(environment: str) -> None:
    with pytest.raises(ValueError, match="ROUTER_SHARED_SECRET needs at least 32"):
        Settings(
            _env_file=None,
            COURSEGRAPH_ENV=environment,
            service_secret_key=SERVICE_SECRET,
            router_shared_secret="changeme",
        )
