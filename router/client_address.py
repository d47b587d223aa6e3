"""Who the client is: the socket peer, or behind trusted proxies the address they saw.

`X-Forwarded-For` is honoured only when the peer is a trusted proxy (`headers.
trusted_proxies`, CIDRs, as uvicorn's `forwarded_allow_ips`): walking it from the right,
the first hop that is not a trusted proxy is the client. A client's own header is
ignored, so writing a new one cannot make it someone else.

Subgraphs get the result as the only entry of `X-Forwarded-For` on the router's signed
requests; the kernel (coursegraph/app.py) takes the rightmost entry from the signed router
only, and the socket peer from anyone else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

from coursegraph.addresses import IPAddress, parse_ip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses); a ValueError names the bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR") from None
    return tuple(networks)


class ClientAddresses:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = parse_networks(trusted_proxies)

    def _is_trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._trusted)

    def of(self, request: HTTPConnection) -> str | None:
        """The client's IP address, or None when the peer is not an IP (a Unix socket)."""
        peer = parse_ip(request.client.host) if request.client is not None else None
        if peer is None or not self._is_trusted(peer):
            return None if peer is None else str(peer)
        client = peer
        hops = request.headers.get("x-forwarded-for", "").split(",")
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                break  # a malformed hop: nothing left of it can be trusted
            client = address
            if not self._is_trusted(address):
                break
        return str(client)
