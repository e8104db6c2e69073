"""Request credentials over real HTTP: HTTP Basic (password = API key, username = its project: what Langfuse clients
send), access tokens exchanged for a key as Bearer, and the Basic header's parsing."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from conftest import start_server, stop_server

from threadline.api.auth import BasicCredentials, basic_from_header
from threadline.auth.authenticator import AuthError
from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic " + base64.b64encode(b"proj:tl_key").decode(), BasicCredentials("proj", "tl_key")),
    ("basic " + base64.b64encode(b":only:password").decode(), BasicCredentials("", "only:password")),
    ("Bearer abc", None), ("", None),
])
def test_basic_from_header(header: str, expected: BasicCredentials | None) -> None:
    assert basic_from_header(header) == expected


@pytest.mark.parametrize("header", ["Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode(),
                                    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic"])
def test_malformed_basic_is_refused(header: str) -> None:
    with pytest.raises(AuthError) as info:
        basic_from_header(header)
    assert info.value.reason == "malformed"


@pytest.fixture
def keyed(store: Store) -> Iterator[tuple[httpx.Client, str]]:
    repo = ProjectRepository(store)
    repo.create_project("lf")
    repo.create_project("other")
    _, secret = repo.create_key("lf")
    live = start_server(store, auth_failure_limit=1000)
    try:
        with live.client() as http:
            yield http, secret
    finally:
        stop_server(live)


def test_basic_and_tokens_over_http(keyed: tuple[httpx.Client, str]) -> None:
    http, secret = keyed
    found = http.get("/v1/auth/whoami", headers=basic("lf", secret))
    assert found.status_code == 200 and found.json()["project_id"] == "lf"
    mismatch = http.get("/v1/auth/whoami", headers=basic("other", secret))
    assert mismatch.status_code == 401
    assert mismatch.headers["content-type"] == "application/problem+json"
    assert "'other'" in mismatch.json()["detail"] and "LANGFUSE_PUBLIC_KEY" in mismatch.json()["detail"]
    garbled = http.get("/v1/auth/whoami", headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401 and "username:password" in garbled.json()["detail"]
    foreign = http.get("/v1/auth/whoami", headers=basic("pk-lf-1", "sk-lf-2"))  # keys exist: no local mode
    assert foreign.status_code == 401
