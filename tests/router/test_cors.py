"""CORS: configured origins get preflights and CORS headers; other origins do not."""

from __future__ import annotations

import httpx

from tests.router.conftest import RouterFactory

ORIGIN = "https://app.coursegraph.test"
CORS = {"enabled": True, "origins": [ORIGIN], "max_age_seconds": 300}


def test_preflight_from_allowed_origin(serve_router: RouterFactory) -> None:
    url = serve_router(cors=CORS)
    response = httpx.options(
        f"{url}/graphql",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == "300"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_preflight_from_other_origin_is_refused(serve_router: RouterFactory) -> None:
    url = serve_router(cors=CORS)
    response = httpx.options(
        f"{url}/graphql",
        headers={"origin": "https://evil.test", "access-control-request-method": "POST"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_actual_requests(serve_router: RouterFactory) -> None:
    url = serve_router(cors=CORS)
    body = {"query": "{ me { id } }"}
    allowed = httpx.post(f"{url}/graphql", json=body, headers={"origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    other = httpx.post(f"{url}/graphql", json=body, headers={"origin": "https://evil.test"})
    assert "access-control-allow-origin" not in other.headers
    # Refusals by later stages carry CORS headers too, so the page can read the error.
    refused = httpx.post(
        f"{url}/graphql",
        content='{"query": "{ me { id } }"}',
        headers={"origin": ORIGIN, "content-type": "text/plain"},
    )
    assert refused.status_code == 400
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_wildcard_with_credentials_is_refused() -> None:
    import pytest

    from router.config import RouterConfig

    with pytest.raises(ValueError, match="allow_credentials"):
        RouterConfig.model_validate({"cors": {"enabled": True, "origins": ["*"]}})
