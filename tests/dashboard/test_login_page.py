"""Dashboard login in real Chromium once API keys exist: unauthenticated pages redirect to /login?next=…, a bad key
shows the API's sentence, a good key sets the cookie and returns to the page asked for, cookie-authenticated writes
(the bookmark star) pass the API's same-origin check, and logging out ends it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server
from playwright.sync_api import Page, expect

from dashboard.conftest import screenshot, wait_ready
from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store

pytestmark = pytest.mark.usefixtures("browser")
SESSION_ID = "team/a b"  # a '/' and a space: links and API paths must percent-encode it


@dataclass
class KeyedServer:
    live: LiveServer
    secret: str


@pytest.fixture
def keyed(store: Store) -> Iterator[KeyedServer]:
    """A server whose project 'acme' has a key (so local mode is off) and one session created through the API."""
    repo = ProjectRepository(store)
    repo.create_project("acme")
    _, secret = repo.create_key("acme", "dashboard test")
    live = start_server(store, auth_failure_limit=5)
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {secret}"}) as http:
        http.post("/v1/sessions", json={"session_id": SESSION_ID, "name": "created ahead"}).raise_for_status()
    try:
        yield KeyedServer(live, secret)
    finally:
        stop_server(live)


def log_in(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()


def test_login_flow_bookmark_with_the_cookie_and_logout(page: Page, keyed: KeyedServer) -> None:
    url = keyed.live.url
    page.goto(f"{url}/?sort=-total_cost_usd")
    wait_ready(page)
    assert page.url == f"{url}/login?next={quote('/?sort=-total_cost_usd', safe='')}"
    expect(page.get_by_role("heading", name="Log in to Threadline")).to_be_visible()
    screenshot(page, "login")

    log_in(page, "tl_not_a_key")
    expect(page.get_by_role("alert")).to_contain_text("malformed")
    expect(page.get_by_label("API key")).to_be_focused()
    screenshot(page, "login-bad-key")

    log_in(page, keyed.secret)
    page.wait_for_url(f"{url}/?sort=-total_cost_usd")
    wait_ready(page)
    expect(page.locator(".site-nav .project")).to_contain_text("acme")
    row = page.locator("#sessions tbody tr").first
    expect(row.get_by_role("link", name=SESSION_ID)).to_have_attribute("href", "/sessions/team%2Fa%20b")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        row.locator("button.star").click()
    assert patched.value.status == 200  # the cookie write came from the server's own origin
    page.reload()
    wait_ready(page)
    expect(page.locator("#sessions tbody tr button.star").first).to_have_attribute("aria-pressed", "true")
    screenshot(page, "sessions-logged-in")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"{url}/")
    assert "/login?next=" in page.url


def test_login_never_returns_to_another_site(page: Page, keyed: KeyedServer) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page.goto(f"{keyed.live.url}/login?next={quote(target, safe='')}")
        expect(page.locator("#login-form")).to_have_attribute("data-next", "/")


def test_opening_pages_logged_out_is_not_an_authentication_failure(keyed: KeyedServer) -> None:
    """A redirect to the login page is not a failed authentication: it never trips the throttle (limit 5 here)."""
    with httpx.Client(base_url=keyed.live.url, follow_redirects=False) as http:
        for _ in range(8):
            response = http.get("/projects/acme/sessions")
            assert response.status_code == 303
            assert response.headers["location"] == "/login?next=%2Fprojects%2Facme%2Fsessions"
        # a bad cookie is a failure like a bad key: redirected to log in again
        bad = http.get("/", headers={"Cookie": "threadline_session=forged"})
        assert bad.status_code == 303


def test_local_mode_needs_no_login(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/login")
    wait_ready(page)
    expect(page.locator(".notice")).to_contain_text("local mode")
    page.get_by_role("link", name="Continue to the dashboard").click()
    wait_ready(page)
    expect(page.locator(".site-nav")).to_contain_text("local mode")
