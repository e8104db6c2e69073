"""The read client against the real server (the app served by uvicorn on a real chDB database): query encoding,
auto-pagination, percent-encoded paths, problem documents as typed errors, and the async client.

Retries on 429/503 with Retry-After are not tested here: the only quick way to provoke a real one is the auth
failure throttle, whose Retry-After is about 60 s (longer than the client's 30 s cap), too slow for this file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import threadline_sdk as tl
from conftest import LiveServer
from threadline_sdk.client import query
from threadline_sdk.models import SessionDetail

from threadline.auth.repository import ProjectRepository

ODD_IDS = ["team/chat 1", "ünï/cödé ☃ 2", "a/b c%d?#&=", ".", ".."]


@pytest.fixture(autouse=True)
def no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's endpoint and key come from the tests, never from the developer's environment."""
    monkeypatch.delenv("THREADLINE_API_KEY", raising=False)
    monkeypatch.delenv("THREADLINE_ENDPOINT", raising=False)


@pytest.fixture
def sdk(live_server: LiveServer) -> Iterator[tl.Client]:
    """The SDK client of the live server (local mode: no key)."""
    with tl.Client(live_server.url, max_retries=0) as client:
        yield client


def turn(session_id: str, user_id: str, minute: int, *, name: str = "turn") -> dict[str, Any]:
    """One native-JSON trace of ``session_id`` at 10:``minute`` on 2026-11-20."""
    start = f"2026-11-20T10:{minute:02d}:00Z"
    return {"name": name, "session_id": session_id, "user_id": user_id,
            "spans": [{"name": name, "start_time": start, "end_time": f"2026-11-20T10:{minute:02d}:01Z",
                       "model": "gpt-4o-mini", "input": f"q {session_id}", "output": f"a {session_id}",
                       "input_tokens": 10, "output_tokens": 5}]}


def ingest(live: LiveServer, traces: list[dict[str, Any]], *, api_key: str | None = None) -> list[str]:
    """POST the traces to /v1/ingest; their trace ids."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    with live.client() as http:
        response = http.post("/v1/ingest", json=traces, headers=headers)
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


def recording_client(live: LiveServer, requests: list[httpx.Request]) -> tl.Client:
    """An SDK client whose (real) httpx client notes every request it sends."""
    return tl.Client(live.url, max_retries=0, http_client=httpx.Client(
        timeout=30, event_hooks={"request": [requests.append]}))


def seed_two_users(live: LiveServer) -> list[str]:
    """Five sessions of u1 interleaved with three of u2; u1's ids, most recent activity first."""
    traces = [turn(f"u1-s{i}", "u1", 2 * i) for i in range(5)] + [turn(f"u2-s{i}", "u2", 2 * i + 1) for i in range(3)]
    ingest(live, traces)
    return [f"u1-s{i}" for i in reversed(range(5))]


def test_filters_become_query_parameters() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert query({"user_id": "u1", "tags": ["a", "b"], "bookmarked": True, "start_time": when, "end_state": None,
                  "metadata": {"plan": "pro", "n": 2}, "min_total_cost_usd": 0.5, "sort": "-last_seen"}) == [
        ("user_id", "u1"), ("tags", "a"), ("tags", "b"), ("bookmarked", "true"),
        ("start_time", "2026-01-02T03:04:05+00:00"), ("metadata.plan", "pro"), ("metadata.n", "2"),
        ("min_total_cost_usd", "0.5"), ("sort", "-last_seen")]


def test_list_pages_through_every_filtered_session_in_order(live_server: LiveServer) -> None:
    expected = seed_two_users(live_server)
    requests: list[httpx.Request] = []
    with recording_client(live_server, requests) as client:
        found = list(client.sessions.list(page_size=2, user_id="u1"))
        assert [s.session_id for s in found] == expected
        assert all(s.user_id == "u1" and s.trace_count == 1 and s.total_tokens == 15 for s in found)
        assert [s.session_id for s in client.sessions.list(page_size=2, user_id=["u2"], sort="last_seen")] == [
            "u2-s0", "u2-s1", "u2-s2"]
        assert [s.session_id for s in client.sessions.list(page_size=3, user_id="nobody")] == []
    first_list = requests[:3]
    assert len(requests) == 3 + 2 + 1  # pages of 2: 5 sessions in 3 pages, 3 in 2; an empty result in 1
    assert all(r.url.params.get_list("user_id") == ["u1"] for r in first_list)  # the filter survives every page
    assert all(r.url.params["limit"] == "2" for r in first_list)


def test_max_items_stops_fetching(live_server: LiveServer) -> None:
    expected = seed_two_users(live_server)
    requests: list[httpx.Request] = []
    with recording_client(live_server, requests) as client:
        assert [s.session_id for s in client.sessions.list(page_size=2, max_items=2)] == [
            "u1-s4", "u1-s3"]  # most recent activity first
        assert len(requests) == 1
        requests.clear()
        assert [s.session_id for s in client.sessions.list(page_size=2, max_items=3, user_id="u1")] == expected[:3]
        assert len(requests) == 2  # the third item is on the second page; the third page is never asked for
        requests.clear()
        assert len(list(client.sessions.list(page_size=100, max_items=4))) == 4
        assert len(requests) == 1 and requests[0].url.params["limit"] == "4"  # no bigger page than needed


def test_odd_session_ids_round_trip_through_every_path(live_server: LiveServer, sdk: tl.Client) -> None:
    turns = 3
    trace_ids = ingest(live_server, [turn(sid, "u1", 10 * i + t) for i, sid in enumerate(ODD_IDS)
                                     for t in range(turns)])
    assert {s.session_id for s in sdk.sessions.list()} == set(ODD_IDS)
    for index, session_id in enumerate(ODD_IDS):
        own = trace_ids[index * turns:(index + 1) * turns]
        detail = sdk.sessions.get(session_id)
        assert (detail.session_id, [t.trace_id for t in detail.traces]) == (session_id, own)
        traces = list(sdk.sessions.traces(session_id, page_size=1))  # follows the links.next of each page
        assert [(t.trace_id, t.session_id, t.turn) for t in traces] == [(t, session_id, n + 1)
                                                                        for n, t in enumerate(own)]
        assert sdk.sessions.stats(session_id).session_id == session_id
        updated = sdk.sessions.update(session_id, bookmarked=True, tags=["odd"], name=f"named {session_id}")
        assert (updated.session_id, updated.bookmarked, updated.tags, updated.name) == (
            session_id, True, ["odd"], f"named {session_id}")
        score = sdk.sessions.score(session_id, "quality", 0.5, comment="fine")
        assert (score.target, score.target_id, score.value, score.data_type) == ("session", session_id, 0.5,
                                                                                  "numeric")
        assert [s.score_id for s in sdk.sessions.scores(session_id)] == [score.score_id]
        assert sdk.sessions.get(session_id).quality_score == 0.5
    assert sdk.traces.get(trace_ids[0]).session_id == ODD_IDS[0]
    trace_score = sdk.traces.score(trace_ids[-1], "helpful", True)
    assert [s.value for s in sdk.traces.scores(trace_ids[-1])] == [True] and trace_score.target == "trace"
    assert [s.session_id for s in sdk.sessions.list(bookmarked=True, tags="odd", sort="first_seen")] == ODD_IDS

    for session_id in ODD_IDS:
        job = sdk.sessions.delete(session_id, wait=True, timeout_s=20)
        assert (job.target_id, job.status) == (session_id, "done")
        with pytest.raises(tl.NotFoundError):
            sdk.sessions.get(session_id)
    assert list(sdk.sessions.list()) == []


def test_created_sessions_round_trip_and_conflict(sdk: tl.Client) -> None:
    for session_id in ODD_IDS:
        created = sdk.sessions.create(session_id, name="ahead", user_id="u9", metadata={"plan": "pro"},
                                      tags=["new"])
        assert (created.session_id, created.name, created.user_id, created.metadata, created.tags) == (
            session_id, "ahead", "u9", {"plan": "pro"}, ["new"])
        assert sdk.sessions.get(session_id).traces == []
        with pytest.raises(tl.ConflictError) as conflict:
            sdk.sessions.create(session_id)
        assert conflict.value.status_code == 409 and session_id in conflict.value.detail
    assert sorted(s.session_id for s in sdk.sessions.list(user_id="u9", metadata={"plan": "pro"})) == sorted(ODD_IDS)


def test_problem_documents_become_typed_errors(live_server: LiveServer, sdk: tl.Client) -> None:
    with pytest.raises(tl.NotFoundError) as missing:
        sdk.sessions.get("missing/one")
    error = missing.value
    assert (error.status_code, error.title, error.method) == (404, "Not Found", "GET")
    assert "missing/one" in error.detail and error.url.endswith("/v1/sessions/missing%2Fone")
    assert isinstance(error.body, dict) and error.body["status"] == 404
    for call in (lambda: sdk.sessions.update("missing", bookmarked=True), lambda: sdk.sessions.delete("missing"),
                 lambda: sdk.sessions.score("missing", "quality", 1), lambda: list(sdk.sessions.traces("missing"))):
        with pytest.raises(tl.NotFoundError):
            call()

    sdk.sessions.create("exists")
    with pytest.raises(tl.ConflictError) as conflict:
        sdk.sessions.create("exists")
    assert (conflict.value.status_code, conflict.value.title) == (409, "Conflict")

    for call in (lambda: sdk.sessions.create("bad", tags=[""]), lambda: sdk.sessions.score("exists", "", 1),
                 lambda: sdk.sessions.update("exists", end_state="bogus")):  # type: ignore[arg-type]
        with pytest.raises(tl.APIError) as invalid:
            call()
        assert type(invalid.value) is tl.APIError
        assert (invalid.value.status_code, invalid.value.title) == (422, "Unprocessable Content")
        assert invalid.value.detail and isinstance(invalid.value.body, dict)

    with pytest.raises(tl.APIError) as bad_filter:
        list(sdk.sessions.list(colour="red"))
    assert bad_filter.value.status_code == 400 and "colour" in bad_filter.value.detail


def test_missing_or_wrong_keys_raise_authentication_errors(live_server: LiveServer, sdk: tl.Client) -> None:
    ingest(live_server, [turn("s1", "u1", 0)])
    _, secret = ProjectRepository(live_server.store).create_key("default")
    deadline = time.monotonic() + 3
    while True:  # the server re-reads keys within 1 s; local mode (no key needed) ends then
        try:
            sdk.sessions.get("s1")
        except tl.AuthenticationError as exc:
            assert exc.status_code == 401 and exc.title == "Unauthorized" and exc.detail
            break
        assert time.monotonic() < deadline, "local mode did not end after the first key was created"
        time.sleep(0.05)
    with pytest.raises(tl.AuthenticationError):
        list(sdk.sessions.list())
    with tl.Client(live_server.url, api_key="tl_not_a_real_key", max_retries=0) as wrong:
        with pytest.raises(tl.AuthenticationError) as refused:
            wrong.sessions.get("s1")
        assert refused.value.status_code == 401
    with tl.Client(live_server.url, api_key=secret, max_retries=0) as right:
        assert right.sessions.get("s1").session_id == "s1"
        assert [s.session_id for s in right.sessions.list()] == ["s1"]


def test_models_keep_fields_a_newer_server_adds() -> None:
    body: dict[str, Any] = {
        "session_id": "s", "project_id": "default", "name": None, "user_id": "u1", "trace_count": 1,
        "span_count": 2, "llm_call_count": 1, "tool_call_count": 0, "error_count": 0, "input_tokens": 10,
        "output_tokens": 5, "total_tokens": 15, "total_cost_usd": 0.001, "total_duration_ms": 5.0,
        "wall_duration_ms": 5.0, "avg_latency_ms": 5.0, "p50_latency_ms": 5.0, "p95_latency_ms": 5.0,
        "models": ["m"], "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
        "first_input": "hi", "last_output": "bye", "end_state": "active", "previous_session_id": None,
        "metadata": {}, "tags": [], "bookmarked": False, "quality_score": None,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "links": {}, "traces": [],
        "brand_new_field": 7}
    found = SessionDetail.model_validate(body)
    assert found.session_id == "s" and found.model_extra == {"brand_new_field": 7}


def test_async_client_lists_and_reads_the_real_server(live_server: LiveServer) -> None:
    expected = seed_two_users(live_server)
    odd = ODD_IDS[1]
    ingest(live_server, [turn(odd, "u3", 30)])

    async def main() -> None:
        async with tl.AsyncClient(live_server.url, max_retries=0) as client:
            listed = [s.session_id async for s in client.sessions.list(page_size=2, user_id="u1")]
            assert listed == expected
            assert [s.session_id async for s in client.sessions.list(page_size=2, max_items=3)] == [
                odd, "u1-s4", "u1-s3"]
            detail = await client.sessions.get(odd)
            assert (detail.session_id, detail.user_id, len(detail.traces)) == (odd, "u3", 1)
            assert [t.session_id async for t in client.sessions.traces(odd)] == [odd]
            with pytest.raises(tl.NotFoundError):
                await client.sessions.get("missing")
            with pytest.raises(tl.ConflictError):
                await client.sessions.create(odd)

    asyncio.run(main())
