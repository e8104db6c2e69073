"""The trace detail page in real Chromium against the real server: the span tree with bars, each span's status,
attributes, texts and events, deep links to a span, the way back to the session, and 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from conftest import LiveServer
from playwright.sync_api import Page, expect

from dashboard.conftest import screenshot, text_contrast, unlabelled_controls, wait_ready


def erroring_trace(server: LiveServer) -> dict[str, Any]:
    """A demo trace with an error and nested spans (the API's view of it)."""
    with server.client() as http:
        session = http.get("/v1/sessions", params={"sort": "-error_count", "limit": 1}).json()["data"][0]
        traces = http.get(f"/v1/sessions/{quote(session['session_id'], safe='')}/traces",
                          params={"limit": 1000}).json()["data"]
        chosen = next(t for t in traces if t["error_count"])
        found: dict[str, Any] = http.get(f"/v1/traces/{chosen['trace_id']}").json()
        return found


def test_span_tree_with_attributes_events_and_a_way_back(demo_server: LiveServer, page: Page) -> None:
    trace = erroring_trace(demo_server)
    spans = {s["span_id"]: s for s in trace["spans"]}
    page.goto(f"{demo_server.url}/traces/{trace['trace_id']}")
    wait_ready(page)
    expect(page.locator("h1")).to_have_text(trace["name"])
    nodes = page.locator(".span-tree > .span-node")
    expect(nodes).to_have_count(len(spans))
    expect(page.locator(".span-tree .span-bar")).to_have_count(len(spans))
    # the tree: every span after its parent, one level deeper
    listed = nodes.evaluate_all("els => els.map(e => [e.dataset.spanId, Number(e.dataset.depth)])")
    depth = dict(listed)
    seen: set[str] = set()
    for span_id, level in listed:
        parent = spans[span_id]["parent_span_id"]
        if parent in spans:
            assert parent in seen and level == depth[parent] + 1
        else:
            assert level == 0
        seen.add(span_id)
    # a span with an error: open it, see its status, its exception event and its attributes
    failed = next(s for s in trace["spans"] if s["status_code"] == "ERROR" and s["events"])
    node = page.locator(f"#span-{failed['span_id']}")
    expect(node.locator(".badge-failure")).to_have_text("error")
    expect(node.locator(".facts")).to_be_hidden()
    node.locator("summary").first.click()
    expect(node.locator(".facts")).to_contain_text(failed["status_message"])
    expect(node.locator(".events")).to_contain_text("exception")
    attributes = node.locator("table.span-attrs")
    for key, value in failed["attributes"].items():
        if value not in (failed["input"], failed["output"]) and "\n" not in value and value[:1] not in "{[":
            expect(attributes.locator("tr", has=page.locator(f"th:text-is('{key}')")).locator("td")).to_have_text(value)
    assert unlabelled_controls(page) == []
    contrast = text_contrast(page)
    assert contrast["low"] == [], contrast["low"][:5]
    screenshot(page, "trace-detail")
    # deep link to a span opens it; the breadcrumb leads back to the session
    llm = next(s for s in trace["spans"] if s["parent_span_id"] and s["output"])
    page.goto(f"{demo_server.url}/traces/{trace['trace_id']}#span-{llm['span_id']}")
    wait_ready(page)
    opened = page.locator(f"#span-{llm['span_id']} .span-body")
    expect(opened).to_be_visible()
    expect(opened.locator(".bubble-assistant")).to_be_visible()
    page.locator("[data-back-to-session]").click()
    page.wait_for_url(f"{demo_server.url}/sessions/{quote(trace['session_id'], safe='')}")
    expect(page.locator(f"article.turn a[href='/traces/{trace['trace_id']}']")).to_have_count(1)


def test_expand_all_opens_every_span(demo_server: LiveServer, page: Page) -> None:
    trace = erroring_trace(demo_server)
    page.goto(f"{demo_server.url}/traces/{trace['trace_id']}")
    wait_ready(page)
    expect(page.locator(".span-body:visible")).to_have_count(0)
    page.get_by_role("button", name="Expand all spans").click()
    expect(page.locator(".span-body:visible")).to_have_count(len(trace["spans"]))
    page.get_by_role("button", name="Collapse all spans").click()
    expect(page.locator(".span-body:visible")).to_have_count(0)


def test_an_unknown_trace_is_a_helpful_404(demo_server: LiveServer, page: Page) -> None:
    response = page.goto(f"{demo_server.url}/traces/{'0' * 32}")
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("There is no trace")
    expect(page.get_by_role("link", name="Back to the sessions list")).to_be_visible()
