"""Persisted queries: Apollo's APQ protocol (memory and Redis stores, POST and GET) and
the safelist mode built from the client operation files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from router.edge.apq import Safelist
from tests.router.conftest import RouterFactory, closed_port

QUERY = "{ me { id name } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
PREFLIGHT = {"apollo-require-preflight": "true"}


def _persisted(sha256: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/graphql", json=body, timeout=10)


def test_apq_round_trip(serve_router: RouterFactory) -> None:
    url = serve_router()
    missing = _post(url, {"extensions": _persisted(HASH)})
    assert missing.status_code == 200
    assert missing.json()["errors"][0] == {
        "message": "PersistedQueryNotFound",
        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
    }
    registered = _post(url, {"query": QUERY, "extensions": _persisted(HASH)})
    expected = {"data": {"me": {"id": "u1", "name": "Ada Lovelace"}}}
    assert registered.json() == expected
    assert _post(url, {"extensions": _persisted(HASH)}).json() == expected
    # GET works too, with the extensions as JSON in the query string.
    got = httpx.get(
        f"{url}/graphql",
        params={"extensions": json.dumps(_persisted(HASH))},
        headers=PREFLIGHT,
    )
    assert got.json() == expected


def test_apq_refuses_a_wrong_hash_or_version(serve_router: RouterFactory) -> None:
    url = serve_router()
    wrong = _post(url, {"query": QUERY, "extensions": _persisted("0" * 64)})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    # The mismatching query was not registered under that hash.
    assert "PERSISTED_QUERY_NOT_FOUND" in _post(url, {"extensions": _persisted("0" * 64)}).text
    version = _post(url, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": HASH}}})
    assert version.status_code == 400


def test_apq_can_be_switched_off(serve_router: RouterFactory) -> None:
    url = serve_router(persisted_queries={"apq": False})
    response = _post(url, {"extensions": _persisted(HASH)})
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    assert _post(url, {"query": QUERY}).status_code == 200


def test_redis_store_is_shared_between_routers(
    serve_router: RouterFactory, redis_url: str, redis_prefix: str
) -> None:
    config = {"store": "redis", "redis_url": redis_url, "key_prefix": redis_prefix}
    first = serve_router(persisted_queries=config)
    second = serve_router(persisted_queries=config)
    assert "PERSISTED_QUERY_NOT_FOUND" in _post(second, {"extensions": _persisted(HASH)}).text
    _post(first, {"query": QUERY, "extensions": _persisted(HASH)})
    answer = _post(second, {"extensions": _persisted(HASH)}).json()
    assert answer == {"data": {"me": {"id": "u1", "name": "Ada Lovelace"}}}


SAFE_OPERATIONS = """
# The account screen.
query Me { me { ...UserBits } }
query Users { users { id } }
fragment UserBits on User { id name }
"""


def test_safelist_allows_only_listed_operations(
    serve_router: RouterFactory, tmp_path: Path
) -> None:
    (tmp_path / "account.graphql").write_text(SAFE_OPERATIONS, encoding="utf-8")
    url = serve_router(persisted_queries={"apq": False, "safelist": [str(tmp_path / "*.graphql")]})
    # Listed, however it is formatted, with the file's other operations in the document.
    listed = "query Me {\n  me {\n    ...UserBits\n  }\n}\nfragment UserBits on User { id, name }"
    assert _post(url, {"query": listed}).json() == {
        "data": {"me": {"id": "u1", "name": "Ada Lovelace"}}
    }
    whole_file = _post(url, {"query": SAFE_OPERATIONS, "operationName": "Users"})
    assert "errors" not in whole_file.json()
    refused = _post(url, {"query": "query Me { me { id name } }"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "OPERATION_NOT_IN_SAFELIST"
    # A listed operation may be sent by the hash of its normalised text alone.
    safelist = Safelist.from_files([str(tmp_path / "*.graphql")])
    users_hash = next(h for h, text in safelist.by_hash.items() if "query Users" in text)
    by_hash = _post(url, {"extensions": _persisted(users_hash)})
    assert by_hash.json()["data"]["users"][0] == {"id": "u1"}


def test_safelist_of_the_repository_client_operations() -> None:
    safelist = Safelist.from_files(["clients/operations/*.graphql"])
    assert len(safelist.by_hash) >= 20
    for text in safelist.by_hash.values():
        assert text.startswith(("query", "mutation", "subscription"))


def test_redis_outage_degrades_to_full_queries(serve_router: RouterFactory) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/14"
    url = serve_router(persisted_queries={"store": "redis", "redis_url": down})
    assert "PERSISTED_QUERY_NOT_FOUND" in _post(url, {"extensions": _persisted(HASH)}).text
    answer = _post(url, {"query": QUERY, "extensions": _persisted(HASH)}).json()
    assert answer == {"data": {"me": {"id": "u1", "name": "Ada Lovelace"}}}
