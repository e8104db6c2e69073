"""GET /v1/sessions/search over real HTTP on the known dataset of ``sessions_dataset``: hits with their matching turn
and highlighted snippet, case-insensitivity, special characters and unicode matched literally, matches on session
id and name, list filters, sort and cursor pagination combined with the search, and invalid requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BACKENDS
from sessions_dataset import Dataset, assert_problem, ids, serve_dataset


@pytest.fixture(scope="module", params=BACKENDS)
def dataset(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Dataset]:
    yield from serve_dataset(request, chdb_dir)


@pytest.fixture
def api(dataset: Dataset) -> httpx.Client:
    return dataset.client


def search(api: httpx.Client, q: str, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/sessions/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_hit_carries_the_matching_turn_and_snippet(api: httpx.Client) -> None:
    body = search(api, "refund")
    assert [h["session_id"] for h in body["data"]] == ["s-alpha"]  # the session-less trace is no hit
    hit = body["data"][0]
    assert hit["matched_turns"] == 1 and hit["trace_count"] == 3 and hit["total_cost_usd"] > 0
    turn_two = api.get("/v1/sessions/s-alpha").json()["traces"][1]
    assert hit["matches"] == [{
        "field": "input", "trace_id": turn_two["trace_id"], "turn": 2, "start_time": "2025-03-01T10:10:00.000000Z",
        "snippet": "I was charged twice for my <mark>Refund</mark> request"}]
    assert body["pagination"]["total"] == 1


@pytest.mark.parametrize("q", ["REFUND", "Refund", "rEfUnD request"])
def test_case_insensitive(api: httpx.Client, q: str) -> None:
    assert ids(api.get("/v1/sessions/search", params={"q": q})) == ["s-alpha"]


def test_output_match_and_html_escaping(api: httpx.Client) -> None:
    hit = search(api, "<b>bold</b>")["data"][0]
    assert hit["session_id"] == "s-charlie"
    assert hit["matches"][0]["field"] == "output" and hit["matches"][0]["turn"] == 1
    assert hit["matches"][0]["snippet"] == "It is &quot;quoted&quot; <mark>&lt;b&gt;bold&lt;/b&gt;</mark> text"


@pytest.mark.parametrize(("q", "expected"), [
    ("100%", ["s-charlie"]),
    ("%", ["s-charlie"]),  # a literal percent sign, not a wildcard
    ("_", ["s-charlie"]),  # a literal underscore: only 'sure_thing'
    ("sure_thing", ["s-charlie"]),
    ("sure%thing", []),
    ('"quoted"', ["s-charlie"]),
    ("C:\\temp", ["s-charlie"]),
    ("\\", ["s-charlie"]),
    ("überweisung", ["s-bravo"]),  # unicode, case-folded
    ("ÄÖÜ", ["s-bravo"]),
    ("äöü", ["s-bravo"]),
    ("\u2013", ["s-bravo"]),
    ("'; DROP TABLE spans; --", []),
    ("{project_id:String}", []),
    ("☃ not there", []),
])
def test_special_characters_are_literal(api: httpx.Client, q: str, expected: list[str]) -> None:
    assert ids(api.get("/v1/sessions/search", params={"q": q})) == expected


def test_unicode_snippet(api: httpx.Client) -> None:
    hit = search(api, "überweisung")["data"][0]
    assert hit["matches"][0]["snippet"] == "<mark>Überweisung</mark> fehlgeschlagen \u2013 ÄÖÜ"


def test_matches_on_session_id_and_name(api: httpx.Client) -> None:
    by_id = search(api, "ELT")["data"]
    assert [h["session_id"] for h in by_id] == ["s-delta"]
    assert by_id[0]["matched_turns"] == 0
    assert by_id[0]["matches"] == [{"field": "session_id", "trace_id": None, "turn": None, "start_time": None,
                                    "snippet": "s-d<mark>elt</mark>a"}]
    by_name = search(api, "billing")["data"]
    assert [h["session_id"] for h in by_name] == ["s-bravo"]
    assert by_name[0]["matches"][0] == {"field": "name", "trace_id": None, "turn": None, "start_time": None,
                                        "snippet": "<mark>Billing</mark> question"}


def test_several_matching_turns(api: httpx.Client) -> None:
    hit = search(api, "recent")["data"][0]
    assert hit["session_id"] == "s-fox" and hit["matched_turns"] == 2
    assert [(m["turn"], m["field"]) for m in hit["matches"]] == [(1, "input"), (2, "input")]


def test_search_with_filters_sort_and_pagination(api: httpx.Client) -> None:
    assert ids(api.get("/v1/sessions/search", params={"q": "e", "sort": "first_seen"})) == [
        "s-delta", "s-echo", "s-alpha", "s-bravo", "s-charlie", "s-fox"]
    assert ids(api.get("/v1/sessions/search", params={"q": "e", "user_id": "u1", "has_errors": "true",
                                                        "sort": "-total_cost_usd"})) == ["s-alpha", "s-charlie"]
    first = search(api, "e", sort="first_seen", limit=4)
    assert first["pagination"]["total"] == 6 and first["pagination"]["has_more"]
    assert "q=e" in first["links"]["next"] and "/v1/sessions/search?" in first["links"]["next"]
    second = api.get("/v1/sessions/search", params={"q": "e", "sort": "first_seen", "limit": 4,
                                                     "cursor": first["pagination"]["next_cursor"]}).json()
    assert [h["session_id"] for h in second["data"]] == ["s-charlie", "s-fox"]
    assert all(h["matches"] for h in first["data"] + second["data"])


def test_cursor_of_another_search_or_of_the_list_is_400(api: httpx.Client) -> None:
    cursor = search(api, "e", limit=1)["pagination"]["next_cursor"]
    assert_problem(api.get("/v1/sessions/search", params={"q": "r", "limit": 1, "cursor": cursor}), 400,
                   "different filters")
    assert_problem(api.get("/v1/sessions", params={"limit": 1, "cursor": cursor}), 400, "different filters")


@pytest.mark.parametrize(("params", "status", "word"), [
    ({}, 422, "q"),
    ({"q": ""}, 422, "q"),
    ({"q": "x" * 501}, 422, "q"),
    ({"q": "x", "search": "y"}, 400, "search"),
    ({"q": "x", "offset": 1, "cursor": "abc"}, 400, "offset or cursor"),
    ({"q": "x", "start_time": "soon"}, 400, "start_time"),
])
def test_invalid_search(api: httpx.Client, params: dict[str, Any], status: int, word: str) -> None:
    assert_problem(api.get("/v1/sessions/search", params=params), status, word)


def test_search_route_is_not_a_session_id(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/sessions/search"), 422, "q")
    assert api.get("/v1/sessions/s-alpha").json()["session_id"] == "s-alpha"
