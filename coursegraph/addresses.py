"""Client IP addresses as the router and the subgraphs read them, parsed one way."""

from __future__ import annotations

import functools
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# Addresses repeat (the router, the same clients); the parse costs more than the lookup.
# Bounded: the values come from clients.
@functools.lru_cache(maxsize=4096)
def parse_ip(value: str) -> IPAddress | None:
    """The IP address written in `value` (spaces trimmed), or None if it is not one."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the same client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
