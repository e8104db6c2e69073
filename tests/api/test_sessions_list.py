"""GET /v1/sessions over real HTTP on the known dataset of ``sessions_dataset``: every filter, every sort key in
both directions with its tie-breaking, offset and cursor pagination (empty, last page, links, prev, new data
between pages), the 400s of invalid combinations and cursor tampering, and the list export (JSON Lines, Parquet)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from conftest import BACKENDS
from sessions_dataset import ALL, NOW, Dataset, assert_problem, ids, iso, serve_dataset, turn

from threadline.api.list_export import parquet, session_chunks
from threadline.queries.filters import SessionFilters
from threadline.queries.sorting import SORT_FIELDS, Sort


@pytest.fixture(scope="module", params=BACKENDS)
def dataset(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Dataset]:
    yield from serve_dataset(request, chdb_dir)


@pytest.fixture
def api(dataset: Dataset) -> httpx.Client:
    return dataset.client


def listed(api: httpx.Client, params: Any) -> list[str]:
    return sorted(ids(api.get("/v1/sessions", params=params)))


# --- filters --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "expected"), [
    ({}, ALL),
    ({"user_id": "u1"}, ["s-alpha", "s-charlie"]),
    ([("user_id", "u1"), ("user_id", "u3")], ["s-alpha", "s-charlie", "s-echo", "s-fox"]),
    ({"user_id": "nobody"}, []),
    ({"tags": "vip"}, ["s-alpha", "s-delta"]),
    ([("tags", "vip"), ("tags", "beta")], ["s-alpha", "s-bravo", "s-delta"]),
    ([("tags", "vip"), ("tags", "beta"), ("tags_mode", "all")], ["s-alpha"]),
    ({"tags": "beta", "tags_mode": "all"}, ["s-alpha", "s-bravo"]),
    ({"end_state": "active"}, ["s-fox"]),
    ({"end_state": "indeterminate"}, ["s-alpha", "s-charlie", "s-delta"]),
    ([("end_state", "success"), ("end_state", "failure")], ["s-bravo", "s-echo"]),
    ({"model": "gpt-4o"}, ["s-alpha", "s-fox"]),
    ([("model", "gpt-4o-mini"), ("model", "claude-3-5-sonnet-20241022")], ["s-bravo", "s-charlie"]),
    ({"bookmarked": "true"}, ["s-bravo", "s-charlie"]),
    ({"bookmarked": "false"}, ["s-alpha", "s-delta", "s-echo", "s-fox"]),
    ({"metadata.plan": "pro"}, ["s-alpha", "s-charlie"]),
    ({"metadata.plan": "enterprise"}, ["s-bravo"]),  # the PATCHed value replaces the reported 'free'
    ({"metadata.plan": "free"}, []),
    ([("metadata.plan", "pro"), ("metadata.region", "us")], ["s-charlie"]),
    ({"metadata.region": ""}, []),  # an absent key does not equal ''
    ({"metadata.no such key": "x"}, []),
    ({"min_trace_count": 2}, ["s-alpha", "s-charlie", "s-fox"]),
    ({"max_trace_count": 1}, ["s-bravo", "s-delta", "s-echo"]),
    ({"min_trace_count": 2, "max_trace_count": 2}, ["s-charlie", "s-fox"]),
    ({"min_total_tokens": 2500}, ["s-alpha", "s-bravo"]),
    ({"max_total_tokens": 220}, ["s-delta", "s-echo", "s-fox"]),
    ({"min_total_cost_usd": 0.004}, ["s-alpha", "s-charlie"]),
    ({"max_total_cost_usd": 0.0007}, ["s-bravo", "s-delta", "s-echo", "s-fox"]),
    ({"min_total_cost_usd": 0.0006, "max_total_cost_usd": 0.0006}, ["s-bravo"]),
    ({"min_wall_duration_ms": 1_201_000}, ["s-alpha", "s-charlie"]),
    ({"max_wall_duration_ms": 1000}, ["s-bravo", "s-delta", "s-echo"]),
    ({"min_error_count": 2}, ["s-charlie"]),
    ({"max_error_count": 0}, ["s-bravo", "s-delta", "s-echo", "s-fox"]),
    ({"min_tool_call_count": 1}, ["s-alpha", "s-charlie"]),
    ({"max_tool_call_count": 0}, ["s-bravo", "s-delta", "s-echo", "s-fox"]),
    ({"has_errors": "true"}, ["s-alpha", "s-charlie"]),
    ({"has_errors": "false"}, ["s-bravo", "s-delta", "s-echo", "s-fox"]),
    ({"start_time": "2025-03-01T00:00:00Z", "end_time": "2025-03-02T23:59:59Z"}, ["s-alpha", "s-bravo"]),
    ({"start_time": "2025-03-01T10:20:00.500Z", "end_time": "2025-03-01T10:20:00.600Z"}, ["s-alpha"]),
    ({"start_time": "2025-03-01T10:20:01.001Z", "end_time": "2025-03-02T08:59:59Z"}, []),  # between two sessions
    ({"start_time": "1740787200", "end_time": "1740959999"}, ["s-alpha", "s-bravo"]),  # epoch seconds
    ({"start_time": "2025-03-04T00:00:00"}, ["s-charlie", "s-fox"]),  # no offset: UTC; open end
    ({"end_time": "2025-02-25T12:00:00+00:00"}, ["s-delta", "s-echo"]),  # open start; touching the end counts
    ({"user_id": "u1", "has_errors": "true", "min_total_cost_usd": 0.005, "metadata.region": "eu"}, ["s-alpha"]),
    ({"project_id": "default", "user_id": "u2"}, ["s-bravo"]),
    ({"search": "refund"}, ["s-alpha"]),
    ({"search": "100%", "user_id": "u1"}, ["s-charlie"]),
    ({"search": "e", "has_errors": "true"}, ["s-alpha", "s-charlie"]),
])
def test_filter(api: httpx.Client, params: Any, expected: list[str]) -> None:
    assert listed(api, params) == expected


def test_filtered_totals_and_shown_values_agree(api: httpx.Client) -> None:
    page = api.get("/v1/sessions", params={"end_state": "active"}).json()
    assert page["pagination"]["total"] == 1 and page["data"][0]["end_state"] == "active"
    every = api.get("/v1/sessions").json()["data"]
    states = {s["session_id"]: s["end_state"] for s in every}
    assert states == {"s-alpha": "indeterminate", "s-bravo": "failure", "s-charlie": "indeterminate",
                      "s-delta": "indeterminate", "s-echo": "success", "s-fox": "active"}
    for state in set(states.values()):
        assert listed(api, {"end_state": state}) == sorted(k for k, v in states.items() if v == state)
    bravo = next(s for s in every if s["session_id"] == "s-bravo")
    assert (bravo["metadata"], bravo["bookmarked"], bravo["quality_score"], bravo["name"]) == (
        {"plan": "enterprise"}, True, 0.4, "Billing question")


# --- sorting --------------------------------------------------------------------------------------------------

def expected_order(sessions: list[dict[str, Any]], field: str, descending: bool) -> list[str]:
    """Sorted by the field, ties by session id in the same direction; unscored (null quality) last."""
    scored = [s for s in sessions if s[field] is not None]
    unscored = [s for s in sessions if s[field] is None]
    order = sorted(scored, key=lambda s: (s[field], s["session_id"]), reverse=descending)
    order += sorted(unscored, key=lambda s: s["session_id"], reverse=descending)
    return [s["session_id"] for s in order]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("field", SORT_FIELDS)
def test_sort(api: httpx.Client, field: str, descending: bool) -> None:
    sort = f"-{field}" if descending else field
    page = api.get("/v1/sessions", params={"sort": sort}).json()
    got = [s["session_id"] for s in page["data"]]
    assert got == expected_order(page["data"], field, descending)
    walked = []
    link: str | None = f"/v1/sessions?sort={sort}&limit=2"
    while link:  # cursor pages in the same order, however they tie
        body = api.get(link).json()
        walked += [s["session_id"] for s in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        link = f"/v1/sessions?sort={sort}&limit=2&cursor={cursor}" if cursor else None
    assert walked == got


@pytest.mark.parametrize(("sort", "expected"), [
    ("total_cost_usd", ["s-delta", "s-echo", "s-bravo", "s-fox", "s-charlie", "s-alpha"]),
    ("-total_cost_usd", ["s-alpha", "s-charlie", "s-fox", "s-bravo", "s-echo", "s-delta"]),
    ("-quality_score", ["s-alpha", "s-charlie", "s-bravo", "s-fox", "s-echo", "s-delta"]),
    ("quality_score", ["s-bravo", "s-charlie", "s-alpha", "s-delta", "s-echo", "s-fox"]),
    ("trace_count", ["s-bravo", "s-delta", "s-echo", "s-charlie", "s-fox", "s-alpha"]),
    ("-last_seen", ["s-fox", "s-charlie", "s-bravo", "s-alpha", "s-echo", "s-delta"]),
    ("first_seen", ["s-delta", "s-echo", "s-alpha", "s-bravo", "s-charlie", "s-fox"]),
    ("-error_count", ["s-charlie", "s-alpha", "s-fox", "s-echo", "s-delta", "s-bravo"]),
])
def test_sort_known_orders_and_ties(api: httpx.Client, sort: str, expected: list[str]) -> None:
    assert ids(api.get("/v1/sessions", params={"sort": sort})) == expected


def test_default_sort_is_most_recent_activity_first(api: httpx.Client) -> None:
    assert ids(api.get("/v1/sessions")) == ids(api.get("/v1/sessions", params={"sort": "-last_seen"}))


# --- pagination -----------------------------------------------------------------------------------------------

def test_empty_result(api: httpx.Client) -> None:
    body = api.get("/v1/sessions", params={"user_id": "nobody", "limit": 2}).json()
    assert body["data"] == []
    assert body["pagination"] == {"limit": 2, "offset": 0, "total": 0, "has_more": False, "next_cursor": None}
    assert body["links"] == {"self": "/v1/sessions?user_id=nobody&limit=2&offset=0", "next": None, "prev": None}


def test_offset_pages_and_last_page(api: httpx.Client) -> None:
    everything = ids(api.get("/v1/sessions", params={"sort": "trace_count"}))
    pages = [api.get("/v1/sessions", params={"sort": "trace_count", "limit": 4, "offset": at}).json()
             for at in (0, 4, 8)]
    assert [s["session_id"] for p in pages for s in p["data"]] == everything
    assert [len(p["data"]) for p in pages] == [4, 2, 0]
    assert [p["pagination"]["has_more"] for p in pages] == [True, False, False]
    assert all(p["pagination"]["total"] == 6 for p in pages)
    assert pages[1]["links"]["next"] is None and pages[1]["pagination"]["next_cursor"] is None
    assert pages[0]["pagination"]["next_cursor"]  # a client may switch to cursors from any page


def test_links_carry_every_filter(api: httpx.Client) -> None:
    params = [("user_id", "u1"), ("user_id", "u3"), ("metadata.plan", "pro"), ("sort", "-total_cost_usd"),
              ("min_trace_count", "1")]
    first = api.get("/v1/sessions", params=[*params, ("limit", "1")]).json()
    assert first["pagination"]["total"] == 2
    for name in ("self", "next"):
        link = first["links"][name]
        for key, value in params:
            assert f"{key}={value}" in link, (key, link)
    second = api.get(first["links"]["next"]).json()
    assert [s["session_id"] for s in first["data"] + second["data"]] == ["s-alpha", "s-charlie"]
    assert second["links"]["next"] is None
    assert api.get(second["links"]["prev"]).json()["data"] == first["data"]


def test_cursor_pages_with_prev_links(api: httpx.Client) -> None:
    everything = ids(api.get("/v1/sessions", params={"sort": "-total_cost_usd"}))
    pages = []
    body = api.get("/v1/sessions", params={"sort": "-total_cost_usd", "limit": 2}).json()
    pages.append(body)
    body = api.get("/v1/sessions", params={"sort": "-total_cost_usd", "limit": 2,
                                           "cursor": body["pagination"]["next_cursor"]}).json()
    pages.append(body)
    while body["links"]["next"]:  # cursor pages link with cursors
        body = api.get(body["links"]["next"]).json()
        pages.append(body)
    assert [s["session_id"] for p in pages for s in p["data"]] == everything
    assert [p["pagination"]["offset"] for p in pages] == [0, 2, 4]  # positions, counted on cursor pages too
    assert all(p["pagination"]["total"] == 6 for p in pages)
    assert [p["pagination"]["has_more"] for p in pages] == [True, True, False]
    assert "cursor=" in pages[1]["links"]["self"] and "offset" not in pages[1]["links"]["self"]
    back = api.get(pages[2]["links"]["prev"]).json()  # the page before a cursor page
    assert back["data"] == pages[1]["data"] and back["pagination"]["offset"] == 2
    assert api.get(back["links"]["prev"]).json()["data"] == pages[0]["data"]
    assert api.get(back["links"]["next"]).json()["data"] == pages[2]["data"]


def test_cursor_page_stays_put_when_new_sessions_arrive(client: httpx.Client) -> None:
    old = [turn(f"s-{i}", f"2025-03-01T1{i}:00:00Z", llm=("gpt-4o", 10, 1, 0.001 * (i + 1))) for i in range(6)]
    assert client.post("/v1/ingest", json=old).status_code == 200
    first = client.get("/v1/sessions", params={"limit": 2}).json()
    assert [s["session_id"] for s in first["data"]] == ["s-5", "s-4"]
    # A new session, and s-1 active again: both now sort before the cursor (after s-4).
    newer = [turn("s-new", iso(NOW)), turn("s-1", iso(NOW - timedelta(hours=1)))]
    assert client.post("/v1/ingest", json=newer).status_code == 200
    second = client.get("/v1/sessions", params={"limit": 2, "cursor": first["pagination"]["next_cursor"]}).json()
    assert [s["session_id"] for s in second["data"]] == ["s-3", "s-2"]  # continues after s-4: no repeat, no skip
    assert second["pagination"]["total"] == 7 and second["pagination"]["offset"] == 4
    third = client.get(second["links"]["next"]).json()
    assert [s["session_id"] for s in third["data"]] == ["s-0"] and not third["pagination"]["has_more"]
    assert ids(client.get("/v1/sessions", params={"limit": 2})) == ["s-new", "s-1"]


# --- invalid requests -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "status", "words"), [
    ({"colour": "red", "user_id": "u1"}, 400, ["colour"]),
    ({"user": "u1", "tag": "x"}, 400, ["tag, user"]),
    ({"start_time": "yesterday"}, 400, ["start_time", "ISO 8601"]),
    ({"end_time": "2025-13-01"}, 400, ["end_time"]),
    ({"start_time": "nan"}, 400, ["start_time"]),
    ({"start_time": "99999999999999"}, 400, ["out of range"]),
    ({"start_time": "2025-03-02T00:00:00Z", "end_time": "2025-03-01T00:00:00Z"}, 400, ["after end_time"]),
    ({"min_trace_count": 3, "max_trace_count": 2}, 400, ["min_trace_count", "max_trace_count"]),
    ({"metadata.": "x"}, 400, ["metadata.KEY"]),
    ({"offset": 2, "cursor": "abc"}, 400, ["offset or cursor"]),
    ({"sort": "colour"}, 400, ["cannot sort by", "last_seen"]),
    ({"project_id": "other"}, 403, ["'other'"]),
    ({"tags_mode": "some"}, 422, ["tags_mode"]),
    ({"end_state": "done"}, 422, ["end_state"]),
    ({"min_trace_count": -1}, 422, ["min_trace_count"]),
    ({"max_total_tokens": 2**64}, 422, ["max_total_tokens"]),  # bound as Int64: it would wrap around to 0
    ({"min_total_cost_usd": "inf"}, 422, ["min_total_cost_usd"]),
    ({"bookmarked": "maybe"}, 422, ["bookmarked"]),
])
def test_invalid_requests(api: httpx.Client, params: dict[str, Any], status: int, words: list[str]) -> None:
    assert_problem(api.get("/v1/sessions", params=params), status, *words)


def _cursor(api: httpx.Client, params: dict[str, Any]) -> str:
    cursor: str = api.get("/v1/sessions", params={**params, "limit": 1}).json()["pagination"]["next_cursor"]
    return cursor


def _flip(cursor: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[at] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_cursor_tampering_is_400(api: httpx.Client) -> None:
    cursor = _cursor(api, {"sort": "-total_cost_usd"})
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = json.loads(raw[16:])
    forged_body = json.dumps({**payload, "k": [1.0, "s-zzz"]}, separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(raw[:16] + forged_body).decode().rstrip("=")
    for bad in (_flip(cursor, 3), _flip(cursor, len(raw) - 2), forged, cursor[:-4], "not a cursor!", "AAAA"):
        assert_problem(api.get("/v1/sessions", params={"sort": "-total_cost_usd", "cursor": bad}), 400,
                       "malformed or was altered")


@pytest.mark.parametrize("other", [{"sort": "total_cost_usd"}, {"sort": "-total_cost_usd", "user_id": "u1"},
                                   {"sort": "-total_cost_usd", "metadata.plan": "pro"},
                                   {"sort": "-total_cost_usd", "search": "e"}])
def test_cursor_with_other_filters_or_sort_is_400(api: httpx.Client, other: dict[str, Any]) -> None:
    cursor = _cursor(api, {"sort": "-total_cost_usd"})
    assert_problem(api.get("/v1/sessions", params={**other, "cursor": cursor}), 400, "different filters")


def test_cursor_filters_compare_as_sets(api: httpx.Client) -> None:
    cursor = _cursor(api, {"user_id": ["u1", "u3"]})
    assert api.get("/v1/sessions", params=[("user_id", "u3"), ("user_id", "u1"), ("cursor", cursor),
                                           ("limit", "1")]).status_code == 200


# --- export ---------------------------------------------------------------------------------------------------

def test_export_jsonl_is_the_list(api: httpx.Client) -> None:
    params = {"user_id": ["u1", "u3"], "sort": "-total_cost_usd"}
    listed_sessions = api.get("/v1/sessions", params=params).json()["data"]
    response = api.get("/v1/sessions/export", params={**params, "format": "jsonl"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert 'filename="sessions.jsonl"' in response.headers["content-disposition"]
    exported = [json.loads(line) for line in response.text.splitlines()]
    assert exported == listed_sessions and len(exported) == 4


def test_export_with_search(api: httpx.Client) -> None:
    response = api.get("/v1/sessions/export", params={"search": "ü", "format": "jsonl"})
    assert [json.loads(line)["session_id"] for line in response.text.splitlines()] == ["s-bravo"]


def test_export_parquet_round_trip(api: httpx.Client) -> None:
    listed_sessions = api.get("/v1/sessions", params={"sort": "first_seen"}).json()["data"]
    response = api.get("/v1/sessions/export", params={"format": "parquet", "sort": "first_seen"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.content))
    rows = table.to_pylist()
    assert [r["session_id"] for r in rows] == [s["session_id"] for s in listed_sessions]
    for row, session in zip(rows, listed_sessions, strict=True):
        assert row["first_seen"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") == session["first_seen"]
        assert dict(row["metadata"]) == session["metadata"] and row["tags"] == session["tags"]
        for key in ("trace_count", "total_tokens", "total_cost_usd", "end_state", "quality_score", "name",
                    "bookmarked", "models"):
            assert row[key] == session[key], key


def test_export_empty_and_invalid(api: httpx.Client) -> None:
    empty = api.get("/v1/sessions/export", params={"user_id": "nobody"})
    assert empty.status_code == 200 and empty.text == ""
    parquet_empty = api.get("/v1/sessions/export", params={"user_id": "nobody", "format": "parquet"})
    assert pq.read_table(io.BytesIO(parquet_empty.content)).num_rows == 0
    assert_problem(api.get("/v1/sessions/export", params={"format": "csv"}), 422, "format")
    assert_problem(api.get("/v1/sessions/export", params={"limit": 5}), 400, "limit")


def test_export_reads_in_keyset_chunks(dataset: Dataset) -> None:
    store, timeout = dataset.live.store, dataset.live.settings.session_idle_timeout_s
    chunks = list(session_chunks(store, "default", SessionFilters(), Sort("first_seen", False), now_ns=0,
                                 idle_timeout_s=timeout, idle_timeout_ns=1, chunk=4))
    assert [len(c) for c in chunks] == [4, 2]
    whole = pq.read_table(io.BytesIO(b"".join(parquet(iter(chunks)))))
    assert whole.num_rows == 6 and pq.ParquetFile(io.BytesIO(b"".join(parquet(iter(chunks))))).num_row_groups == 2
    assert whole.column("session_id").to_pylist() == ["s-delta", "s-echo", "s-alpha", "s-bravo", "s-charlie",
                                                       "s-fox"]


# --- OpenAPI --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/sessions/search", "/v1/sessions/metrics",
                                  "/v1/sessions/export"])
def test_openapi_documents_every_parameter_and_error(api: httpx.Client, path: str) -> None:
    spec = api.get("/openapi.json").json()
    operation = spec["paths"][path]["get"]
    assert operation["description"] and "metadata.KEY=VALUE" in operation["description"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"start_time", "end_time", "user_id", "tags", "tags_mode", "end_state", "model", "bookmarked",
            "has_errors", "min_total_cost_usd", "max_wall_duration_ms", "project_id"} <= names
    for parameter in operation["parameters"]:
        assert parameter.get("description"), (path, parameter["name"])
    assert {"400", "401", "422"} <= operation["responses"].keys()
    problem = operation["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"]
    assert problem.removeprefix("#/components/schemas/") in spec["components"]["schemas"]
    units = " ".join(p["description"] for p in operation["parameters"])
    assert "USD" in units and "(ms)" in units


def test_openapi_sort_lists_every_key_and_examples(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    sort = next(p for p in spec["paths"]["/v1/sessions"]["get"]["parameters"] if p["name"] == "sort")
    assert set(sort["schema"]["enum"]) == {f"{s}{f}" for f in SORT_FIELDS for s in ("", "-")}
    example = spec["paths"]["/v1/sessions"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert example["data"][0]["session_id"] and example["pagination"]["next_cursor"]
    schemas = spec["components"]["schemas"]
    assert schemas["SearchMatch"].get("examples") and schemas["ProjectMetrics"].get("examples")
