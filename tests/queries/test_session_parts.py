"""Session rows read in parts without joins (``queries.session_parts``) on real chDB: value for value the rows of
the joined SQL (``session_row.SESSION_COLUMNS`` / ``SESSION_FROM``), whatever the annotation holds (overriding
and added metadata, tags on both sides, a user id on either side, bookmark, end state, deletion) and whether the
session is scored; the order of the ids asked for; unknown and deleted ids left out."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan
from threadline.queries.annotations import Annotation, put_annotation
from threadline.queries.scores import add_score
from threadline.queries.session_parts import session_rows
from threadline.queries.session_row import SESSION_COLUMNS, SESSION_FROM, combine
from threadline.queries.sessions import get_session
from threadline.store.gateway import Row, Store
from threadline.writer.commit import BatchCommitter

P = "proj"
T0 = 1_740_823_200_000_000_000
S = 10**9


def _session(index: int, session: str, user: str, metadata: dict[str, str], tags: list[str]) -> dict[str, object]:
    attributes = {"session.id": session, "input.value": f"question {index}", "metadata": json.dumps(metadata),
                  "tag.tags": json.dumps(tags)}
    if user:
        attributes["user.id"] = user
    raw = RawSpan(f"{index + 1:032x}", f"{index + 1:016x}", "", "turn", T0 + index * S, T0 + index * S + S,
                  attributes=attributes)
    return normalize(raw, P, PriceTable({}), time.time_ns() // 1000)


def _joined(store: Store, session_ids: list[str]) -> dict[str, Row]:
    rows = store.select(f"SELECT {SESSION_COLUMNS} {SESSION_FROM} AND r.session_id IN {{ids:Array(String)}}",
                        {"project_id": P, "ids": session_ids}, tag="test.joined", settings={"join_algorithm": "hash"})
    return {row["session_id"]: row for row in rows}


@pytest.fixture
def seeded(store: Store) -> Store:
    BatchCommitter(store).commit([
        _session(0, "plain", "", {}, []),
        _session(1, "rich", "span-user", {"b": "1", "a": "2", "c": "3"}, ["z", "é", "a"]),
        _session(2, "anonymous", "", {"k": "v"}, ["t"]),
        _session(3, "doomed", "u", {}, []),
    ])
    put_annotation(store, P, "rich", Annotation(name="Renamed", user_id="ann-user", metadata={"c": "X", "z": "Y"},
                                                tags=["a", "B", "z"], bookmarked=True, end_state="success"))
    put_annotation(store, P, "anonymous", Annotation(user_id="ann-user", tags=["t", "new"]))
    put_annotation(store, P, "doomed", Annotation(deleted=True))
    put_annotation(store, P, "ghost", Annotation(name="no rollup"))
    add_score(store, P, "session", "rich", name="quality", value=0.25, comment="", source="human")
    add_score(store, P, "session", "rich", name="quality", value=1.0, comment="", source="human")
    add_score(store, P, "session", "plain", name="helpful", value=1.0, comment="", source="human")
    return store


def test_rows_equal_the_joined_rows(seeded: Store) -> None:
    asked = ["rich", "ghost", "plain", "doomed", "anonymous", "nope"]
    joined = _joined(seeded, asked)
    rows = session_rows(seeded, P, asked)
    assert [row["session_id"] for row in rows] == ["rich", "plain", "anonymous"]
    for row in rows:
        assert list(row) == list(joined[row["session_id"]]) and row == joined[row["session_id"]]
    rich = rows[0]
    assert rich["metadata"] == [("b", "1"), ("a", "2"), ("c", "X"), ("z", "Y")]
    assert rich["tags"] == ["B", "a", "z", "é"] and rich["user_id"] == "span-user" and rich["quality_score"] == 0.625
    assert rows[2]["user_id"] == "ann-user" and rows[1]["quality_score"] is None


def test_get_session(seeded: Store) -> None:
    assert get_session(seeded, P, "rich") == _joined(seeded, ["rich"])["rich"]
    assert get_session(seeded, P, "doomed") is None and get_session(seeded, P, "ghost") is None
    assert get_session(seeded, "other", "rich") is None


def test_given_reads_are_used(seeded: Store) -> None:
    # A list page passes the annotations and scores it read for its extras: nothing of them is read again.
    row = session_rows(seeded, P, ["rich"], annotated={}, quality={"rich": 0.5})[0]
    assert (row["name"], row["quality_score"], row["bookmarked"]) == ("", 0.5, 0)


_TEXT = st.text(alphabet="abBé -", max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rollup_user=_TEXT, annotation_user=_TEXT, rollup_meta=st.dictionaries(_TEXT, _TEXT, max_size=3),
       annotation_meta=st.dictionaries(_TEXT, _TEXT, max_size=3), rollup_tags=st.lists(_TEXT, max_size=3),
       annotation_tags=st.lists(_TEXT, max_size=3), annotated=st.booleans(), quality=st.none() | st.floats(0, 1))
def test_combine_is_the_sql_twin(store: Store, rollup_user: str, annotation_user: str, rollup_meta: dict[str, str],
                                 annotation_meta: dict[str, str], rollup_tags: list[str], annotation_tags: list[str],
                                 annotated: bool, quality: float | None) -> None:
    # The mixing expressions of SESSION_FIELDS evaluated by ClickHouse on literal rows, against combine().
    annotation = {"name": "n", "user_id": annotation_user, "metadata": list(annotation_meta.items()),
                  "tags": annotation_tags, "bookmarked": 1, "end_state": "failure", "deleted": 0, "created_ns": 5,
                  "updated_ns": 6} if annotated else None
    a = annotation or {"user_id": "", "metadata": [], "tags": []}
    expected = store.select(
        "SELECT if({ru:String} != '', {ru:String}, {au:String}) AS user_id, "
        "mapUpdate(mapFromArrays({rk:Array(String)}, {rv:Array(String)}), "
        "mapFromArrays({ak:Array(String)}, {av:Array(String)})) AS metadata, "
        "arraySort(arrayDistinct(arrayConcat({rt:Array(String)}, {at:Array(String)}))) AS tags",
        {"ru": rollup_user, "au": a["user_id"], "rk": list(rollup_meta), "rv": list(rollup_meta.values()),
         "ak": [k for k, _ in a["metadata"]], "av": [v for _, v in a["metadata"]], "rt": rollup_tags, "at": a["tags"]},
        tag="test.twin")[0]
    rollup = {"rollup_user_id": rollup_user, "rollup_metadata": list(rollup_meta.items()), "rollup_tags": rollup_tags}
    rollup |= {alias: 0 for alias in ("session_id", "project_id", "trace_count", "span_count", "llm_call_count",
                                      "tool_call_count", "error_count", "input_tokens", "output_tokens",
                                      "total_tokens", "total_cost_usd", "total_duration_ms", "wall_duration_ms",
                                      "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "first_seen_ns",
                                      "last_seen_ns", "models", "first_input", "last_output", "reported_end_state",
                                      "previous_session_id", "version_ns")}
    row = combine(rollup, annotation, quality)
    assert (row["user_id"], row["metadata"], row["tags"]) == (expected["user_id"], expected["metadata"],
                                                              expected["tags"])
    assert row["quality_score"] == quality and row["bookmarked"] == (1 if annotated else 0)
