"""CORS: configured origins get preflights and CORS headers; other origins do not."""

from __future__ import annotations

import httpx
import pytest

from coursegraph.settings import Environment
from router.config import RouterConfig
from tests.router.conftest import RouterFactory, router_settings

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
    with pytest.raises(ValueError, match="allow_credentials"):
        RouterConfig.model_validate({"cors": {"enabled": True, "origins": ["*"]}})


def _allowed(url: str, origin: str) -> bool:
    response = httpx.options(
        f"{url}/graphql",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    return response.headers.get("access-control-allow-origin") == origin


def test_origins_default_to_the_setting(serve_router: RouterFactory) -> None:
    url = serve_router(settings=router_settings(environment=Environment.DEVELOPMENT))
    # A frontend dev server on this machine, whatever its port.
    assert _allowed(url, "http://localhost:5173")
    assert _allowed(url, "http://127.0.0.1:8080")
    assert _allowed(url, "http://localhost")
    assert not _allowed(url, "http://localhost.evil.test:5173")
    assert not _allowed(url, "https://app.coursegraph.test")
    explicit = router_settings(cors_origins=("https://*.coursegraph.test",))
    url = serve_router(settings=explicit)
    assert _allowed(url, "https://app.coursegraph.test")
    assert not _allowed(url, "https://coursegraph.test")
    assert not _allowed(url, "http://localhost:5173")


def test_no_origins_or_switched_off_means_no_cors(serve_router: RouterFactory) -> None:
    # Outside development no origin is allowed by default: preflights are not answered.
    url = serve_router(settings=router_settings(environment=Environment.PRODUCTION))
    refused = httpx.options(
        f"{url}/graphql",
        headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 405
    assert "access-control-allow-origin" not in refused.headers
    assert not _allowed(serve_router(cors={**CORS, "enabled": False}), ORIGIN)


def test_wildcard_origins_in_the_config(serve_router: RouterFactory) -> None:
    url = serve_router(cors={"origins": ["http://localhost:*", ORIGIN]})
    assert _allowed(url, "http://localhost:3333")
    assert _allowed(url, ORIGIN)
    assert not _allowed(url, "http://127.0.0.1:3333")


def test_malformed_origins_are_refused() -> None:
    for bad in ("localhost:5173", "http://*:*", "ftp://x.test", "http://a.test/path"):
        with pytest.raises(ValueError, match="scheme://host"):
            RouterConfig.model_validate({"cors": {"origins": [bad]}})
