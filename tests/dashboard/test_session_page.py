"""The session detail page in real Chromium against the real server: conversation in order, stats, timeline, charts,
keyboard navigation, rendering (and no script injection), edits, scores, delete, paging and 404."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import LiveServer
from playwright.sync_api import Locator, Page, expect

from dashboard.conftest import SCREENSHOTS, screenshot, text_contrast, unlabelled_controls, wait_ready
from threadline.dashboard.templating import usd

pytestmark = pytest.mark.usefixtures("demo_server")


def shot(target: Locator, name: str) -> None:
    """Save a PNG of one part of a page under the screenshots directory."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def demo_sessions(server: LiveServer) -> list[dict[str, Any]]:
    """The demo sessions, most turns first (the sessions these tests ingest themselves left out). Tests that change
    a session take one from the end of this list, each a different one."""
    with server.client() as http:
        found = http.get("/v1/sessions", params={"sort": "-trace_count", "limit": 1000}).json()["data"]
    return [s for s in found if s["user_id"] != TEST_USER]


def segment(session_id: str) -> str:
    return quote(session_id, safe="")


def ingest(server: LiveServer, traces: list[dict[str, Any]]) -> None:
    with server.client() as http:
        response = http.post("/v1/ingest", json=traces)
        assert response.status_code == 200, response.text


TEST_USER = "user-t"


def chat_turn(session_id: str, at: datetime, user: str, answer: str, **span: Any) -> dict[str, Any]:
    """A native-ingest trace: one LLM span answering ``user`` with ``answer`` at ``at``."""
    return {"name": "chat", "session_id": session_id, "user_id": TEST_USER, "spans": [{
        "name": "llm", "type": "llm", "model": "gpt-4o-mini", "start_time": at.isoformat(),
        "end_time": (at + timedelta(milliseconds=800)).isoformat(), "input": user, "output": answer,
        "input_tokens": 12, "output_tokens": 30, **span}]}


def test_conversation_stats_timeline_and_charts(demo_server: LiveServer, page: Page) -> None:
    longest = demo_sessions(demo_server)[0]
    sid = longest["session_id"]
    with demo_server.client() as http:
        traces = http.get(f"/v1/sessions/{segment(sid)}/traces", params={"limit": 1000}).json()["data"]
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}")
    wait_ready(page)
    expect(page.locator("h1")).to_have_text(longest["name"] or sid)
    turns = page.locator("article.turn")
    expect(turns).to_have_count(longest["trace_count"])
    # the conversation in the order sent: each turn links its trace, shows its input, in start order
    hrefs = turns.locator("a[aria-label^='Trace of turn']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == [f"/traces/{t['trace_id']}" for t in traces]
    shown = turns.locator(".bubble-user").evaluate_all("els => els.map(e => e.innerText)")
    for text, trace in zip(shown, traces, strict=True):
        assert " ".join((trace["input"] or "").split())[:40] in " ".join(text.split())
    summary = page.locator(".session-header .summary")
    expect(summary.locator(".stat", has_text="Turns").locator(".stat-value")).to_have_text(str(longest["trace_count"]))
    cost = usd(longest["total_cost_usd"])
    expect(summary.locator(".stat", has_text="Cost").locator(".stat-value")).to_have_text(cost)
    expect(page.locator(".session-header .badge").first).to_have_text(longest["end_state"])
    # timeline: one bar per span, one block per turn; charts: one bar per turn in each of three charts
    expect(page.locator("#timeline .span-bar")).to_have_count(longest["span_count"])
    expect(page.locator("#timeline .wf-turn[data-timeline-turn]")).to_have_count(longest["trace_count"])
    expect(page.locator("#timeline .wf-overview .turn-bar")).to_have_count(longest["trace_count"])
    charts = page.locator("#charts svg.chart-svg")
    expect(charts).to_have_count(3)
    for index in range(3):
        expect(charts.nth(index).locator("rect.bar")).to_have_count(longest["trace_count"])
    export = page.get_by_role("link", name="Export JSON").get_attribute("href")
    document = page.request.get(f"{demo_server.url}{export}")
    assert document.ok and "attachment" in document.headers["content-disposition"]
    assert document.json()["summary"]["session_id"] == sid and len(document.json()["turns"]) == len(traces)
    screenshot(page, "session-detail")
    page.screenshot(path=str(SCREENSHOTS / "session-detail-top.png"))
    shot(page.locator("#conversation"), "session-conversation")
    shot(page.locator("#timeline"), "session-timeline")
    shot(page.locator("#charts"), "session-charts")


def test_the_log_lists_the_sessions_exceptions(demo_server: LiveServer, page: Page) -> None:
    failing = max(demo_sessions(demo_server), key=lambda s: s["error_count"])
    sid = failing["session_id"]
    with demo_server.client() as http:
        logs = http.get(f"/v1/sessions/{segment(sid)}/logs").json()
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}#logs")
    wait_ready(page)
    rows = page.locator("#logs tbody tr")
    expect(rows).to_have_count(min(logs["pagination"]["total"], 100))
    first = logs["data"][0]
    expect(rows.first).to_contain_text(first["body"])
    expect(rows.first.locator(".badge")).to_have_text(first["severity"])
    link = rows.first.locator(f"a[href='/traces/{first['trace_id']}#span-{first['span_id']}']")
    expect(link).to_have_count(1)
    expect(page.locator("article.turn.has-error .badge-failure").first).to_be_visible()
    shot(page.locator("#logs"), "session-log")
    link.click()  # the entry's span, opened in its trace
    expect(page.locator(f"#span-{first['span_id']} .span-body")).to_be_visible()


def test_keyboard_moves_focus_between_turns_and_deep_links(demo_server: LiveServer, page: Page) -> None:
    sid = next(s["session_id"] for s in demo_sessions(demo_server) if s["trace_count"] >= 4)
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}#turn-2")
    wait_ready(page)
    focused = "() => document.activeElement && document.activeElement.id"
    assert page.evaluate(focused) == "turn-2"
    page.keyboard.press("j")
    assert page.evaluate(focused) == "turn-3"
    assert page.evaluate("location.hash") == "#turn-3"
    page.keyboard.press("k")
    page.keyboard.press("k")
    assert page.evaluate(focused) == "turn-1"
    page.keyboard.press("k")  # stays on the first turn
    assert page.evaluate(focused) == "turn-1"
    expect(page.locator("#conversation .hint")).to_contain_text("j / k")
    # typing in a form field is not navigation
    page.locator("#score-comment").focus()
    page.keyboard.press("j")
    assert page.evaluate(focused) == "score-comment"
    # Enter on a focused turn opens its trace
    trace_link = page.locator("#turn-1 a[href^='/traces/']").first.get_attribute("href")
    page.locator("#turn-1").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{demo_server.url}{trace_link}")


def test_markdown_code_and_json_render_and_a_script_stays_text(demo_server: LiveServer, page: Page) -> None:
    sid = "team/render test"  # a '/' and a space: the id travels as one encoded path segment
    start = datetime.now(UTC) - timedelta(minutes=30)
    payload = '<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">'
    ingest(demo_server, [
        chat_turn(sid, start, f"Is this safe? {payload}",
                  "Use this:\n\n```python\nprint('hello')\n```\n\n**Bold** and a [link](javascript:alert(1))."),
        chat_turn(sid, start + timedelta(minutes=4), "Give me JSON", '{"order": "A-1", "items": [1, 2, 3]}'),
    ])
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}")
    wait_ready(page)
    assert page.evaluate("window.__injected") is None
    first = page.locator("#turn-1")
    expect(first.locator(".bubble-user")).to_contain_text(payload)
    expect(first.locator(".bubble-user script, .bubble-user img")).to_have_count(0)
    expect(first.locator("pre code.language-python")).to_have_text("print('hello')\n")
    expect(first.locator(".bubble-assistant strong")).to_have_text("Bold")
    expect(first.locator(".bubble-assistant a")).to_have_count(0)  # javascript: is not a link
    json_block = page.locator("#turn-2 details.json")
    expect(json_block).to_have_attribute("open", "")
    expect(json_block.locator("summary")).to_have_text("JSON object · 2 keys")
    expect(json_block.locator("pre")).to_contain_text('"order": "A-1",\n  "items": [\n    1,')
    json_block.locator("summary").click()  # collapsible
    expect(json_block.locator("pre")).to_be_hidden()
    expect(page.locator(".idle-gap")).to_have_text(re.compile(r"— 3m \d\ds later —"))
    shot(page.locator("#conversation"), "session-rendering")


def test_edits_persist_after_reload(demo_server: LiveServer, page: Page) -> None:
    sid = demo_sessions(demo_server)[-1]["session_id"]
    url = f"{demo_server.url}/sessions/{segment(sid)}"
    page.goto(url)
    wait_ready(page)
    form = page.locator("#edit-form")
    form.get_by_label("Name").fill("Refund escalation")
    form.get_by_label("Tags").fill("vip, follow-up")
    form.get_by_label("Metadata").fill("team=blue\npriority = high\n")
    form.get_by_label("End state").select_option("failure")
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator("h1")).to_have_text("Refund escalation")  # the page reloads with the saved values
    page.reload()
    wait_ready(page)
    expect(page.locator("h1")).to_have_text("Refund escalation")
    expect(page.locator(".session-header .badge").first).to_have_text("failure")
    expect(page.locator(".labels .tag", has_text="vip")).to_have_count(1)
    expect(page.locator(".labels .meta", has_text="priority=high")).to_have_count(1)
    expect(form.get_by_label("Tags")).to_have_value("vip, follow-up")
    expect(form.get_by_label("End state")).to_have_value("failure")
    with demo_server.client() as http:
        saved = http.get(f"/v1/sessions/{segment(sid)}").json()
    assert saved["name"] == "Refund escalation" and saved["end_state"] == "failure"
    assert {"vip", "follow-up"} <= set(saved["tags"]) and saved["metadata"]["team"] == "blue"
    # a malformed line is caught before sending; the API's problem sentence is shown for what it refuses
    form.get_by_label("Metadata").fill("no equals sign")
    form.get_by_role("button", name="Save changes").click()
    expect(form.locator("[data-form-status]")).to_have_text("Metadata line 1 needs the form key=value.")
    form.get_by_label("Metadata").fill("")
    form.get_by_label("Tags").fill("x" * 201)
    form.get_by_role("button", name="Save changes").click()
    expect(form.locator("[data-form-status]")).to_contain_text("the request is invalid")
    # clearing the end state returns it to the automatic rule
    form.get_by_label("Tags").fill("")
    form.get_by_label("End state").select_option("")
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator(".session-header .badge").first).not_to_have_text("failure")
    shot(page.locator(".session-forms"), "session-forms")


def test_a_score_added_shows_after_reload(demo_server: LiveServer, page: Page) -> None:
    sid = demo_sessions(demo_server)[-2]["session_id"]
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}#scores")
    wait_ready(page)
    form = page.locator("#score-form")
    form.get_by_label("Name").fill("quality")
    form.get_by_label("Value").fill("0.75")
    form.get_by_label("Comment").fill("solved on the second try")
    form.get_by_role("button", name="Add score").click()
    expect(page.locator("#scores tr[data-score='quality']")).to_have_count(1)
    page.reload()
    wait_ready(page)
    row = page.locator("#scores tr[data-score='quality']")
    expect(row).to_contain_text("0.75")
    expect(row).to_contain_text("numeric")
    expect(row).to_contain_text("solved on the second try")
    expect(page.locator(".stat", has_text="Quality").locator(".stat-value")).to_have_text("0.75")


def test_delete_asks_first_then_the_session_is_gone(demo_server: LiveServer, page: Page) -> None:
    sid = demo_sessions(demo_server)[-3]["session_id"]
    url = f"{demo_server.url}/sessions/{segment(sid)}"
    page.goto(url)
    wait_ready(page)
    page.get_by_role("button", name="Delete…").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice has focus
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete session").click()
    page.wait_for_url(f"{demo_server.url}/")  # back to the list, which no longer holds it
    wait_ready(page)
    expect(page.locator("main table a.session-id").first).to_be_visible()
    expect(page.locator(f"main a[href='/sessions/{segment(sid)}']")).to_have_count(0)
    response = page.goto(url)
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text(f"There is no session '{sid}'")
    expect(page.get_by_role("link", name="Back to the sessions list")).to_be_visible()
    with demo_server.client() as http:
        assert http.get(f"/v1/sessions/{segment(sid)}").status_code == 404
    screenshot(page, "session-not-found")


def test_a_long_session_pages_its_turns(demo_server: LiveServer, page: Page) -> None:
    sid = "long-session"
    start = datetime.now(UTC) - timedelta(hours=5)
    ingest(demo_server, [chat_turn(sid, start + timedelta(seconds=20 * n), f"question {n + 1}", f"answer {n + 1}")
                         for n in range(205)])
    began = time.monotonic()
    with httpx.Client(timeout=30) as http:
        html = http.get(f"{demo_server.url}/sessions/{sid}")
    took = time.monotonic() - began
    assert html.status_code == 200 and took < 10, took
    # turn 203 is on the second page: the page loads it, keeping the idle gap threshold
    page.goto(f"{demo_server.url}/sessions/{sid}?idle_gap_s=10#turn-203")
    page.wait_for_url(re.compile(r"\?idle_gap_s=10&offset=200#turn-203$"))
    wait_ready(page)
    expect(page.locator("article.turn")).to_have_count(5)
    assert page.evaluate("document.activeElement.id") == "turn-203"
    expect(page.locator("#turn-203 .bubble-user")).to_contain_text("question 203")
    expect(page.locator(".pagination").first).to_contain_text("Turns 201\N{EN DASH}205 of 205")
    expect(page.locator(".idle-gap")).to_have_count(5)  # turns 20 s apart, 0.8 s long: every gap is over 10 s
    page.locator(".pagination a[rel=prev]").first.click()
    wait_ready(page)
    expect(page.locator("article.turn")).to_have_count(200)
    expect(page.locator(".idle-gap")).to_have_count(199)  # the threshold came along
    page.goto(f"{demo_server.url}/sessions/{sid}?offset=400")  # past the end: says so, links back
    wait_ready(page)
    expect(page.locator("#conversation .empty-state")).to_contain_text("The session has 205 turns")


def test_an_unknown_session_is_a_helpful_404(demo_server: LiveServer, page: Page) -> None:
    response = page.goto(f"{demo_server.url}/sessions/no-such-session")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("There is no session 'no-such-session'")
    page.get_by_role("link", name="Back to the sessions list").click()
    page.wait_for_url(f"{demo_server.url}/")


def test_labels_contrast_and_focus_order(demo_server: LiveServer, page: Page) -> None:
    sid = demo_sessions(demo_server)[0]["session_id"]
    page.goto(f"{demo_server.url}/sessions/{segment(sid)}")
    wait_ready(page)
    assert unlabelled_controls(page) == []
    found = text_contrast(page)
    assert found["checked"] > 100 and found["low"] == [], found["low"][:5]
    # Tab order follows the page: skip link, site header, breadcrumb, the session's header (star, export, delete,
    # models), section links, turns
    landmarks = []
    for _ in range(40):
        page.keyboard.press("Tab")
        landmarks.append(page.evaluate("""() => { const el = document.activeElement;
            return el.closest('.skip-link') ? 'skip' : el.closest('.site-header') ? 'site'
                 : el.closest('.breadcrumb') ? 'breadcrumb' : el.closest('.session-header') ? 'session'
                 : el.closest('.section-nav') ? 'sections' : el.closest('#conversation') ? 'conversation'
                 : 'other'; }"""))
        if landmarks[-1] == "conversation":
            break
    order = [name for index, name in enumerate(landmarks) if index == 0 or landmarks[index - 1] != name]
    assert order == ["skip", "site", "breadcrumb", "session", "sections", "conversation"], order


def test_a_session_created_ahead_of_its_traffic_says_so(demo_server: LiveServer, page: Page) -> None:
    with demo_server.client() as http:
        created = http.post("/v1/sessions", json={"session_id": "planned-1", "name": "Planned", "tags": ["soon"]})
        assert created.status_code == 201, created.text
    page.goto(f"{demo_server.url}/sessions/planned-1")
    wait_ready(page)
    expect(page.locator("h1")).to_have_text("Planned")
    expect(page.locator("#conversation .empty-state")).to_contain_text("No turns yet")
    expect(page.locator("#timeline .span-bar")).to_have_count(0)
    expect(page.locator("#charts svg.chart-svg").first).to_contain_text("No data")
