"""The client address behind reverse proxies (``THREADLINE_TRUSTED_PROXIES``): the header parsing rules, the setting's
validation, and the auth-failure throttle over real HTTP (the test client's peer is 127.0.0.1)."""

from __future__ import annotations

import httpx
import pytest
from conftest import start_server, stop_server
from pydantic import ValidationError

from threadline.api.proxies import client_host, parse_networks
from threadline.settings import Settings
from threadline.store.gateway import Store

TRUSTED = parse_networks("10.0.0.0/8, 2001:db8:a::/48")
BAD = {"Authorization": "Bearer not-a-key"}


@pytest.mark.parametrize(("peer", "forwarded", "xff", "expected"), [
    ("203.0.113.9", "for=198.51.100.1", "198.51.100.2", "203.0.113.9"),  # untrusted peer: headers ignored
    ("10.0.0.2", None, None, "10.0.0.2"),  # trusted peer saying nothing
    ("10.0.0.2", None, "198.51.100.2", "198.51.100.2"),
    ("10.0.0.2", None, "6.6.6.6, 198.51.100.2, 10.1.1.1", "198.51.100.2"),  # right-most untrusted; spoof left of it
    ("10.0.0.2", 'for=6.6.6.6, for="198.51.100.1:4711";proto=https, for=10.0.0.7', "1.1.1.1", "198.51.100.1"),
    ("10.0.0.2", 'For="[2001:db8:cafe::17]:443"', None, "2001:db8:cafe::17"),
    ("10.0.0.2", "proto=https;host=example.com", "198.51.100.2", "198.51.100.2"),  # no for=: X-Forwarded-For
    ("10.0.0.2", None, "10.0.0.5, 10.0.0.6", "10.0.0.5"),  # every hop trusted: the left-most
    ("::ffff:10.0.0.2", None, "198.51.100.2", "198.51.100.2"),  # IPv4-mapped peer
    ("2001:db8:a::1", None, "2001:db8:b::1", "2001:db8:b::1"),
    # malformed up to the client: the peer
    ("10.0.0.2", "for=unknown", None, "10.0.0.2"),
    ("10.0.0.2", "for=_hidden", None, "10.0.0.2"),
    ("10.0.0.2", "for=", None, "10.0.0.2"),
    ("10.0.0.2", None, "proxy.example.com", "10.0.0.2"),
    ("10.0.0.2", None, "198.51.100.2, garbage", "10.0.0.2"),
    ("10.0.0.2", None, ",,,", "10.0.0.2"),
    ("10.0.0.2", 'for="[2001:db8::1', None, "10.0.0.2"),
    ("testclient", None, "198.51.100.2", "testclient"),  # a peer that is no address is kept as it is
    (None, None, "198.51.100.2", "unknown"),
])
def test_client_host(peer: str | None, forwarded: str | None, xff: str | None, expected: str) -> None:
    assert client_host(peer, forwarded, xff, TRUSTED) == expected


def test_trusted_proxies_setting_is_validated() -> None:
    assert Settings(trusted_proxies=" 10.0.0.1, 192.168.0.0/16,,::1 ").trusted_proxies
    assert parse_networks("") == ()
    with pytest.raises(ValidationError) as info:
        Settings(trusted_proxies="10.0.0.0/8, proxy.internal")
    assert info.value.errors()[0]["loc"] == ("trusted_proxies",)
    assert "'proxy.internal' is not an IP address or a CIDR network" in str(info.value)


def _fail_until_throttled(http: httpx.Client, headers: dict[str, str], limit: int) -> None:
    for _ in range(limit):
        assert http.get("/v1/sessions", headers={**BAD, **headers}).status_code == 401
    assert http.get("/v1/sessions", headers={**BAD, **headers}).status_code == 429


def test_throttle_keys_on_forwarded_client_only_from_trusted_proxies(store: Store) -> None:
    limit = 3
    # The peer (127.0.0.1) is not a trusted proxy: spoofed headers change nothing, the peer is throttled.
    live = start_server(store, auth_failure_limit=limit, trusted_proxies="10.0.0.0/8")
    try:
        with live.client() as http:
            _fail_until_throttled(http, {"X-Forwarded-For": "198.51.100.1"}, limit)
            for spoofed in ({"X-Forwarded-For": "198.51.100.2"}, {"Forwarded": "for=198.51.100.3"}, {}):
                assert http.get("/v1/sessions", headers={**BAD, **spoofed}).status_code == 429
    finally:
        stop_server(live)
    # The peer is a trusted proxy: each forwarded client has its own count.
    live = start_server(store, auth_failure_limit=limit, trusted_proxies="127.0.0.1, ::1")
    try:
        with live.client() as http:
            _fail_until_throttled(http, {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}, limit)
            assert http.get("/v1/sessions", headers={**BAD, "Forwarded": "for=198.51.100.1"}).status_code == 429
            other = http.get("/v1/sessions", headers={**BAD, "X-Forwarded-For": "198.51.100.2"})
            assert other.status_code == 401  # another client behind the proxy is not throttled
            assert http.get("/v1/sessions", headers={**BAD, "Forwarded": 'for="[2001:db8::5]:80"'}
                            ).status_code == 401
            # Malformed headers key on the peer, which can fail on its own account until throttled.
            _fail_until_throttled(http, {"X-Forwarded-For": "not-an-address"}, limit)
            assert http.get("/v1/sessions", headers={**BAD, "Forwarded": "for=unknown"}).status_code == 429
            assert http.get("/v1/sessions", headers=BAD).status_code == 429
            assert http.get("/v1/sessions", headers={**BAD, "X-Forwarded-For": "198.51.100.2"}).status_code == 401
    finally:
        stop_server(live)
