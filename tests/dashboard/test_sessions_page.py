"""The sessions list page in real Chromium against the real server with demo data sent over OTLP: rows, sorting,
filters and deep links, search with snippets, keyset pages, bookmarks, the empty and error states, and accessibility
basics (labels, focus order, text contrast). Every state is saved under artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import LiveServer
from playwright.sync_api import Page, Route, expect

from dashboard.conftest import screenshot, text_contrast, wait_ready
from threadline.dashboard import assets, list_query

pytestmark = pytest.mark.usefixtures("browser")
EN_DASH = "\u2013"


def api_ids(server: LiveServer, **params: Any) -> list[str]:
    """Session ids of the API's answer to the same query (the page must agree)."""
    with server.client() as http:
        body = http.get("/v1/sessions", params={"limit": 50, **params}).raise_for_status().json()
    return [row["session_id"] for row in body["data"]]


def page_ids(page: Page) -> list[str]:
    return page.locator("#sessions tbody tr").evaluate_all("rows => rows.map(r => r.dataset.sessionId)")


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def open_list(page: Page, server: LiveServer, path: str = "/") -> None:
    page.goto(server.url + path)
    wait_ready(page)


def test_list_loads_with_demo_data(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    assert page_ids(page) == api_ids(demo_server)
    assert len(page_ids(page)) == demo_server.demo.sessions  # type: ignore[attr-defined]
    expect(page.locator("#match-count")).to_contain_text(f"{demo_server.demo.sessions} sessions in project default")  # type: ignore[attr-defined]
    first = page.locator("#sessions tbody tr").first
    expect(first.locator(".badge")).to_have_text(re.compile("active|success|failure|indeterminate"))
    expect(first.locator("td").nth(5)).to_have_text(re.compile(r"^\$"))  # cost
    # the summary strip and three charts (fetched after the list), each an image with an accessible name
    expect(page.locator("#summary[data-loaded]")).to_be_attached()
    expect(page.locator(".summary .stat")).to_have_count(6)
    charts = page.locator(".charts svg[role=img]")
    expect(charts).to_have_count(3)
    assert charts.first.locator("title").first.text_content() == "Sessions started per day (UTC)"
    screenshot(page, "sessions-list")
    # the user and model inputs suggest the values of the rows shown
    models = page.locator("#known-models option").evaluate_all("options => options.map(o => o.value)")
    assert models and models == sorted(set(models)) and all(models)
    assert page.locator("#known-users option").count() > 1


def test_sorting_changes_row_order_and_url(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    page.get_by_role("link", name=re.compile("^Cost")).click()
    wait_ready(page)
    assert query_of(page)["sort"] == ["-total_cost_usd"]
    assert page_ids(page) == api_ids(demo_server, sort="-total_cost_usd")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Cost")
    screenshot(page, "sessions-sorted-by-cost")
    page.get_by_role("link", name=re.compile("^Cost")).click()  # toggles to ascending
    wait_ready(page)
    assert query_of(page)["sort"] == ["total_cost_usd"]
    assert page_ids(page) == api_ids(demo_server, sort="total_cost_usd")
    page.get_by_role("link", name=re.compile("^Turns")).click()
    wait_ready(page)
    assert page_ids(page) == api_ids(demo_server, sort="-trace_count")


def test_filter_changes_rows_and_url_and_deep_link_restores_it(page: Page, demo_server: LiveServer) -> None:
    with demo_server.client() as http:
        rows = http.get("/v1/sessions", params={"limit": 50}).json()["data"]
    user = next(row["user_id"] for row in rows if row["user_id"])
    expected = api_ids(demo_server, user_id=user, has_errors="false")
    open_list(page, demo_server)
    page.get_by_label("User", exact=True).fill(user)
    page.get_by_label("Errors", exact=True).select_option("false")
    page.get_by_role("button", name="Apply").click()
    wait_ready(page)
    assert query_of(page) == {"user_id": [user], "has_errors": ["false"]}  # the API's names, nothing else
    assert page_ids(page) == expected and 0 < len(expected) < len(rows)
    screenshot(page, "sessions-filtered")
    page.reload()
    wait_ready(page)
    assert page_ids(page) == expected
    expect(page.get_by_label("User", exact=True)).to_have_value(user)
    expect(page.get_by_label("Errors", exact=True)).to_have_value("false")
    # an end state and a time preset: rows agree with the API, the preset stays relative in the URL
    page.get_by_label("active", exact=True).uncheck()
    page.get_by_label("indeterminate", exact=True).check()
    page.get_by_label("Time range", exact=True).select_option("30d")
    page.get_by_role("button", name="Apply").click()
    wait_ready(page)
    assert query_of(page)["range"] == ["30d"] and query_of(page)["end_state"] == ["indeterminate"]
    assert set(page_ids(page)) <= set(expected)
    page.get_by_role("link", name="Clear").click()
    wait_ready(page)
    assert urlsplit(page.url).query == "" and len(page_ids(page)) == len(rows)


def test_metadata_filter_form_field_becomes_the_api_parameter(page: Page, demo_server: LiveServer) -> None:
    with demo_server.client() as http:
        rows = http.get("/v1/sessions", params={"limit": 50}).json()["data"]
    key, value = next(iter(next(row["metadata"] for row in rows if row["metadata"]).items()))
    open_list(page, demo_server)
    page.get_by_label("Metadata", exact=True).fill(f"{key}={value}")
    page.get_by_label("Metadata", exact=True).press("Enter")
    wait_ready(page)
    assert query_of(page) == {f"metadata.{key}": [value]}
    assert page_ids(page) == api_ids(demo_server, **{f"metadata.{key}": value})
    expect(page.get_by_label("Metadata", exact=True)).to_have_value(f"{key}={value}")


def _word_from_a_turn(server: LiveServer) -> tuple[str, str]:
    """A word of some session's later turn that occurs in few sessions, and that session's id."""
    with server.client() as http:
        rows = http.get("/v1/sessions", params={"limit": 50, "sort": "-trace_count"}).json()["data"]
        for row in rows:
            detail = http.get(f"/v1/sessions/{row['session_id']}").json()
            for turn in detail["traces"][1:]:
                for word in sorted(set(re.findall(r"[A-Za-z]{9,}", turn["input"] or "")), key=len, reverse=True):
                    found = http.get("/v1/sessions/search", params={"q": word}).json()["pagination"]["total"]
                    if found <= 3:
                        return word, row["session_id"]
    raise AssertionError("no distinctive word in the demo data")


def test_search_finds_a_session_by_a_word_from_a_turn(page: Page, demo_server: LiveServer) -> None:
    word, session_id = _word_from_a_turn(demo_server)
    open_list(page, demo_server)
    page.keyboard.press("/")  # the shortcut focuses the search box
    page.keyboard.type(word)
    page.keyboard.press("Enter")
    wait_ready(page)
    assert query_of(page) == {"search": [word]}
    assert session_id in page_ids(page)
    row = page.locator(f"#sessions tbody tr[data-session-id='{session_id}']")
    expect(row.locator(".snippets mark").first).to_have_text(re.compile(word, re.IGNORECASE))
    expect(row.locator(".snippets a").first).to_have_text(re.compile(r"Turn \d+"))
    screenshot(page, "sessions-search")


def test_keyset_pages(page: Page, demo_server: LiveServer) -> None:
    everything = api_ids(demo_server)
    open_list(page, demo_server, "/?limit=10")
    assert page_ids(page) == everything[:10]
    expect(page.locator(".pagination-caption")).to_have_text(f"1{EN_DASH}10 of {len(everything)}")
    page.get_by_role("link", name="Next →").click()
    wait_ready(page)
    assert "cursor" in query_of(page)
    assert page_ids(page) == everything[10:20]
    expect(page.locator(".pagination-caption")).to_have_text(f"11{EN_DASH}20 of {len(everything)}")
    page.get_by_role("link", name="Next →").click()
    wait_ready(page)
    page.get_by_role("link", name="← Previous").click()
    wait_ready(page)
    assert page_ids(page) == everything[10:20]
    screenshot(page, "sessions-page-2")
    page.get_by_role("link", name=re.compile("^Cost")).click()  # a new order starts over, same page size
    wait_ready(page)
    assert query_of(page) == {"limit": ["10"], "sort": ["-total_cost_usd"]}
    assert page_ids(page) == api_ids(demo_server, sort="-total_cost_usd", limit=10)


def test_bookmark_persists_after_reload(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    session_id = page_ids(page)[2]
    star = page.locator(f"tr[data-session-id='{session_id}'] button.star")
    expect(star).to_have_attribute("aria-pressed", "false")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        star.click()
    assert patched.value.status == 200
    expect(star).to_have_attribute("aria-pressed", "true")
    page.reload()
    wait_ready(page)
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(star).to_have_text("★")
    page.get_by_label("Bookmarked only", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    wait_ready(page)
    assert page_ids(page) == [session_id]
    screenshot(page, "sessions-bookmarked")
    star.click()  # leave the shared dataset as it was
    expect(star).to_have_attribute("aria-pressed", "false")


@pytest.mark.parametrize(("query", "status", "sentence"), [
    ("start_time=yesterday", 400, "is not a time"),
    ("min_trace_count=5&max_trace_count=2", 400, "no session can match"),
    ("limit=0", 422, "greater than or equal to 1"),
    ("metadata=plan", 400, "KEY=VALUE"),
    ("colour=blue", 400, "unknown query parameter(s): colour"),
])
def test_invalid_filter_shows_the_problem_in_the_page(page: Page, demo_server: LiveServer, query: str, status: int,
                                                      sentence: str) -> None:
    response = page.goto(f"{demo_server.url}/?{query}")
    assert response is not None and response.status == status
    wait_ready(page)
    expect(page.get_by_role("alert")).to_contain_text(sentence)
    expect(page.locator("#filters")).to_be_visible()  # still there to fix the query
    if query.startswith("start_time"):
        expect(page.get_by_label("From (UTC)", exact=True)).to_have_value("yesterday")
        screenshot(page, "sessions-invalid-filter")


def test_summary_problem_leaves_the_list_usable(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server, "/?start_time=1970-01-02T00:00:00Z&end_time=2100-01-01T00:00:00Z")
    expect(page.locator("#summary .notice")).to_contain_text("more than 1000 days")
    assert len(page_ids(page)) == demo_server.demo.sessions  # type: ignore[attr-defined]


def test_other_project_path_is_403(page: Page, demo_server: LiveServer) -> None:
    response = page.goto(f"{demo_server.url}/projects/elsewhere/sessions")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("log in with a key of 'elsewhere'")
    open_list(page, demo_server, "/projects/default/sessions?sort=-error_count")
    assert page_ids(page) == api_ids(demo_server, sort="-error_count")


def test_no_matches_state(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server, "/?user_id=nobody-at-all")
    expect(page.get_by_role("heading", name="No sessions match")).to_be_visible()
    expect(page.get_by_role("link", name="clear them all")).to_have_attribute("href", "/")


def test_empty_project_tells_how_to_send_the_first_trace(page: Page, live_server: LiveServer) -> None:
    open_list(page, live_server)
    expect(page.get_by_role("heading", name=re.compile("send your first trace"))).to_be_visible()
    expect(page.locator(".empty-state")).to_contain_text(f"OTEL_EXPORTER_OTLP_ENDPOINT={live_server.url}")
    screenshot(page, "sessions-empty")


def test_every_form_control_has_a_label(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')).filter(el =>
        !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
        && !(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.outerHTML)""")
    assert unlabelled == []


def test_focus_order_skip_link_then_filters_then_table(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    expect(page.locator(".skip-link")).to_be_in_viewport()
    screenshot(page, "sessions-skip-link-focused")
    order = []
    for _ in range(60):
        page.keyboard.press("Tab")
        order.append(page.evaluate("""() => { const el = document.activeElement;
            return el.closest('#filters') ? 'filters' : el.closest('#sessions') ? 'table'
                 : el.closest('header') ? 'header' : el.closest('.window') ? 'window' : 'other'; }"""))
        if order[-1] == "table":
            break
    assert order[-1] == "table", order
    sections = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert sections == ["header", "filters", "table"], sections
    # the skip link moves focus past the header, to the main content
    page.keyboard.press("Shift+Tab")
    page.goto(page.url)
    wait_ready(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#filters') !== null")





@pytest.mark.parametrize("path", ["/", "/?search=the", "/?start_time=nope", "/?user_id=nobody", "/login"])
def test_text_contrast_is_at_least_aa(page: Page, demo_server: LiveServer, path: str) -> None:
    open_list(page, demo_server, path)
    if page.locator("#summary").count():
        expect(page.locator("#summary[data-loaded]")).to_be_attached()
    found = text_contrast(page)
    assert found["checked"] > 10 and found["low"] == []


def test_list_page_and_api_agree_without_a_browser(demo_server: LiveServer) -> None:
    """The deep link of the brief: the page's query is the API's query."""
    query = {"sort": "-total_cost_usd", "search": "the", "limit": "5"}
    with httpx.Client(base_url=demo_server.url) as http:
        page_html = http.get("/", params=query).text
        api = http.get("/v1/sessions", params=query).json()
    shown = re.findall(r'data-session-id="([^"]+)"', page_html)
    assert shown == [row["session_id"] for row in api["data"]]


@pytest.mark.parametrize(("submitted", "canonical"), [
    ([("search", ""), ("range", "all"), ("user_id", " u1 "), ("tags", ""), ("metadata", "plan = pro")],
     [("user_id", "u1"), ("metadata.plan", "pro")]),
    ([("range", "24h"), ("start_time", "2026-01-01"), ("end_time", "")], [("range", "24h")]),
    ([("range", "custom"), ("start_time", "2026-01-01")], [("start_time", "2026-01-01")]),
    ([("sort", "-last_seen"), ("has_errors", "true")], [("has_errors", "true")]),
    ([("user_id", "a"), ("user_id", "b"), ("sort", "-total_cost_usd")],
     [("user_id", "a"), ("user_id", "b"), ("sort", "-total_cost_usd")]),
])
def test_submitted_form_becomes_the_api_query(submitted: list[tuple[str, str]],
                                              canonical: list[tuple[str, str]]) -> None:
    assert list_query.canonical(submitted) == canonical
    assert list_query.canonical(canonical) == canonical  # canonical queries are left alone (no redirect loop)


def test_keyboard_rows_and_shortcuts_help(page: Page, demo_server: LiveServer) -> None:
    open_list(page, demo_server)
    ids = page_ids(page)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.textContent") == ids[1]
    expect(page.locator("#sessions tbody tr.current")).to_have_attribute("data-session-id", ids[1])
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.textContent") == ids[0]
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    screenshot(page, "shortcuts-help")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.keyboard.press("Enter")  # opens the focused row's session
    page.wait_for_url(f"{demo_server.url}/sessions/{ids[0]}")


def test_static_assets_are_content_hashed_and_cached_for_a_year(demo_server: LiveServer) -> None:
    with httpx.Client(base_url=demo_server.url) as http:
        html = http.get("/").text
        urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
        assert {url.split("?")[0] for url in urls} >= {"/static/app.css", "/static/app.js", "/static/sessions.js"}
        for url in urls:
            assert re.search(r"\?v=[0-9a-f]{12}$", url), url
            response = http.get(url)
            assert response.status_code == 200 and response.headers["cache-control"] == assets.IMMUTABLE
        stale = http.get("/static/app.css?v=000000000000")  # an old URL: served, but revalidated
        assert stale.status_code == 200 and "immutable" not in stale.headers.get("cache-control", "")


def test_summary_loading_and_error_states(page: Page, demo_server: LiveServer) -> None:
    held: list[Route] = []
    # hold the fragment back: the page shows that it is loading
    page.route("**/fragments/sessions-summary*", lambda route: held.append(route))
    open_list(page, demo_server)
    summary = page.locator("#summary")
    expect(summary).to_have_attribute("aria-busy", "true")
    expect(summary).to_contain_text("Loading the summary and charts")
    assert len(page_ids(page)) == demo_server.demo.sessions  # type: ignore[attr-defined]  # the list is usable
    screenshot(page, "sessions-summary-loading")
    held[0].continue_()
    expect(summary.locator(".stat")).to_have_count(6)
    expect(summary).not_to_have_attribute("aria-busy", "true")

    page.unroute("**/fragments/sessions-summary*")
    page.route("**/fragments/sessions-summary*", lambda route: route.fulfill(status=503, body="busy"))
    page.reload()
    wait_ready(page)
    expect(summary.locator(".notice")).to_have_text(
        "Charts are not shown: the summary could not be loaded (503); reload the page")
