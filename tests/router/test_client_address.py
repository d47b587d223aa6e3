"""Who the client is: X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from router.client_address import ClientAddresses
from router.config import RouterConfig
from tests.router.conftest import Stack


def _request(peer: str | None, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": headers,
        "client": (peer, 50000) if peer is not None else None,
    }
    return Request(scope)


def test_an_untrusted_peer_is_the_client_whatever_it_writes() -> None:
    clients = ClientAddresses([])
    assert clients.of(_request("192.0.2.7", "203.0.113.1")) == "192.0.2.7"
    assert clients.of(_request("::ffff:192.0.2.7")) == "192.0.2.7"
    assert clients.of(_request(None)) is None
    assert clients.of(_request("unix-socket")) is None


def test_behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() -> None:
    clients = ClientAddresses(["10.0.0.0/8", "2001:db8::/32"])
    # What the client wrote itself (left of the hop the first proxy added) is not believed.
    assert clients.of(_request("10.1.1.1", "198.51.100.1, 203.0.113.5, 10.2.2.2")) == (
        "203.0.113.5"
    )
    assert clients.of(_request("2001:db8::1", "2001:db8::2, 192.0.2.9")) == "192.0.2.9"
    # Only proxies in the chain: the farthest one is the best answer.
    assert clients.of(_request("10.1.1.1", "10.3.3.3")) == "10.3.3.3"
    # No header from a trusted proxy: the proxy itself.
    assert clients.of(_request("10.1.1.1")) == "10.1.1.1"
    # A malformed hop ends the walk at the last address a trusted proxy vouched for.
    assert clients.of(_request("10.1.1.1", "203.0.113.5, garbage, 10.2.2.2")) == "10.2.2.2"


def test_trusted_proxies_must_be_addresses_or_cidrs() -> None:
    RouterConfig.model_validate({"headers": {"trusted_proxies": ["10.0.0.0/8", "::1"]}})
    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        RouterConfig.model_validate({"headers": {"trusted_proxies": ["10.0.0.0/8", "proxy"]}})


def test_subgraphs_get_only_the_address_the_router_saw(stack: Stack) -> None:
    stack.reset()
    stack.query("basic-auth", "{ me { id } }", None, **{"x-forwarded-for": "203.0.113.66"})
    [headers] = stack.subgraphs["basic"]["accounts"].headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
