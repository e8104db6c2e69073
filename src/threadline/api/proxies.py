"""The client address of a request that may have come through reverse proxies (``THREADLINE_TRUSTED_PROXIES``).

Only a peer that is a trusted proxy may say who its client was. Then the client is read from ``Forwarded`` (RFC 7239,
its ``for=`` parameters) or, when no element of that header has one, from ``X-Forwarded-For``: the hops list the
original client first and each proxy appends the address it received from, so the list is walked from the right and
the first address that is not itself a trusted proxy is the client (the left-most one when every hop is trusted).
Anything a client wrote itself sits to the left of what the trusted proxies appended, so it is never reached. A
header that cannot be parsed up to that point (an ``unknown`` or obfuscated node, a host name, garbage) leaves the
peer as the client. From any other peer both headers are ignored: a client cannot spoof its address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# One ``for=`` parameter of a Forwarded element: a token or a quoted string (RFC 7230 token / quoted-string).
_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*(?=;|$)', re.IGNORECASE)


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated list of IP addresses and CIDR networks (``10.0.0.1, 10.1.0.0/16, ::1``;
    blank items ignored; an address is a /32 or /128). Raises ValueError naming the item that is neither."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or a CIDR network (e.g. 10.0.0.1 or 10.0.0.0/8)"
                             ) from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """``text`` as an IP address (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        found = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _node(value: str) -> Address | None:
    """The address of a Forwarded node (``192.0.2.1``, ``"192.0.2.1:8080"``, ``"[2001:db8::1]:443"``); None for
    ``unknown``, obfuscated identifiers and anything malformed."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    if value.startswith("["):
        host, bracket, _port = value[1:].partition("]")
        return _address(host) if bracket else None
    if value.count(":") == 1:  # IPv4 with a port; a bare IPv6 (several colons) is not valid here but is read
        value = value.partition(":")[0]
    return _address(value)


def forwarded_hops(header: str) -> list[Address | None] | None:
    """The ``for=`` nodes of a ``Forwarded`` value in order (None for a node that is no IP address); None when no
    element carries ``for=`` (elements without one, e.g. only ``proto=``, are skipped)."""
    hops = [_node(match.group(1)) for match in (_FOR.search(e) for e in _elements(header)) if match is not None]
    return hops or None


def _elements(header: str) -> Iterable[str]:
    """The comma-separated elements of a Forwarded value (commas inside quoted strings kept)."""
    return (m.group(0) for m in re.finditer(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+', header))


def x_forwarded_for_hops(header: str) -> list[Address | None]:
    """The addresses of an ``X-Forwarded-For`` value in order (None for an item that is no IP address)."""
    return [_node(item.strip()) for item in header.split(",")]


def client_host(peer: str | None, forwarded: str | None, x_forwarded_for: str | None,
                trusted: Sequence[Network]) -> str:
    """The client address of a request from ``peer`` (the socket's remote address; None: unknown) carrying the
    (comma-joined) ``Forwarded`` and ``X-Forwarded-For`` values, given the ``trusted`` proxy networks: see the
    module docstring. Returns an address as text (compressed form), or ``peer`` as it was, or ``"unknown"``."""
    if peer is None:
        return "unknown"
    peer_address = _address(peer)
    if peer_address is None or not trusted or not _trusted(peer_address, trusted):
        return peer
    hops = forwarded_hops(forwarded) if forwarded else None
    if hops is None:
        if not x_forwarded_for:
            return str(peer_address)
        hops = x_forwarded_for_hops(x_forwarded_for)
    for hop in reversed(hops):
        if hop is None:
            return str(peer_address)  # malformed before an untrusted hop was reached: trust nothing said
        if not _trusted(hop, trusted):
            return str(hop)
    return str(hops[0]) if hops and hops[0] is not None else str(peer_address)
