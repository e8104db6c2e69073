"""Reads of one session on real chDB: per-model usage, time to first token (attribute, event, bad values), idle gaps
(threshold, overlapping turns, turn ranges), the timeline's spans, the merged log (order, filters, pagination, trace
resolution at read time, replays, deleted traces) and project isolation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from threadline.ingest.normalize import normalize
from threadline.ingest.otlp_logs import PROTOBUF, decode_logs
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanEvent
from threadline.queries import session_reads as reads
from threadline.queries.sessions import get_session
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.writer.commit import BatchCommitter

P, OTHER = "proj", "other-proj"
S = "chat-q"
T0 = 1_740_823_200_000_000_000  # 2025-03-01T10:00:00Z
MS = 1_000_000
T1, T2, T3, T4 = "01" * 16, "02" * 16, "03" * 16, "04" * 16
ALL_TRACES = [T1, T2, T3, T4]


def span(trace: str, span_id: str, name: str, start_ms: int, end_ms: int, parent: str = "",
         events: list[SpanEvent] | None = None, **attrs: str) -> RawSpan:
    return RawSpan(trace, span_id, parent, name, T0 + start_ms * MS, T0 + end_ms * MS, attributes=dict(attrs),
                   events=events or [])


def llm(trace: str, span_id: str, parent: str, start_ms: int, end_ms: int, model: str, tokens: tuple[int, int],
        events: list[SpanEvent] | None = None, **attrs: str) -> RawSpan:
    return span(trace, span_id, "chat", start_ms, end_ms, parent, events, **{
        "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": str(tokens[0]), "gen_ai.usage.output_tokens": str(tokens[1]), **attrs})


def event(at_ms: int, name: str, **attrs: str) -> SpanEvent:
    return SpanEvent(T0 + at_ms * MS, name, dict(attrs))


def dataset() -> list[RawSpan]:
    """Four turns of session S. Turn 2 runs long: it ends after turn 3 starts, so the gap before turn 3 is
    negative and the one before turn 4 is measured from turn 2's end."""
    sid = {"session.id": S}
    return [
        span(T1, "1000000000000001", "turn 1", 0, 1000, **sid),
        llm(T1, "1000000000000002", "1000000000000001", 100, 900, "gpt-4o", (1000, 200),
            **{"gen_ai.server.time_to_first_token": "0.25"}),
        llm(T1, "1000000000000003", "1000000000000001", 900, 950, "gpt-4o", (10, 0),
            events=[event(910, "first_token")]),  # later LLM span of the turn: not the turn's TTFT
        span(T1, "1000000000000004", "agent", 0, 10, "1000000000000001",
             **{"gen_ai.server.time_to_first_token": "9", "gen_ai.request.model": "gpt-4o",
                "openinference.span.kind": "AGENT"}),  # not an LLM span: its TTFT is ignored, its model listed
        span(T2, "2000000000000001", "turn 2", 600_000, 700_000, **sid),
        llm(T2, "2000000000000002", "2000000000000001", 600_000, 601_000, "gpt-4o-mini", (2000, 400),
            events=[event(600_120, "gen_ai.content.first_token"), event(600_500, "exception",
                    **{"exception.type": "ValueError", "exception.message": "bad", "exception.stacktrace": "tb"})],
            **{"gen_ai.server.time_to_first_token": "nan"}),  # not a number: the event is used
        llm(T2, "2000000000000003", "2000000000000001", 602_000, 603_000, "gpt-4o-mini", (1, 1),
            **{"gen_ai.server.time_to_first_token": "-1"}),  # negative: not reported
        span(T3, "3000000000000001", "turn 3", 650_000, 651_000, **sid),
        span(T4, "4000000000000001", "turn 4", 1_000_000, 1_001_000, **sid),
    ]


def log_records(session_id: str, *records: tuple[int, str, int, str]) -> ExportLogsServiceRequest:
    """(time ms, body, severity number, trace id or '') records, named for ``session_id`` when it is not ''."""
    attrs = [KeyValue(key="session.id", value=AnyValue(string_value=session_id))] if session_id else []
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
        LogRecord(time_unix_nano=T0 + at * MS, body=AnyValue(string_value=body), severity_number=sev,  # type: ignore
                  trace_id=bytes.fromhex(trace) if trace else b"", attributes=attrs)
        for at, body, sev, trace in records])])])
    return request


def insert_logs(store: Store, project: str, request: ExportLogsServiceRequest) -> None:
    batch = decode_logs(request.SerializeToString(), PROTOBUF, project, time.time_ns() // 1000)
    assert batch.rejected == 0, batch.message
    store.insert("logs", batch.table, tag="test.logs")


@pytest.fixture(scope="module")
def store(chdb_dir: Path) -> Iterator[Store]:
    opened = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(opened)
    prices = PriceTable.load()
    now = time.time_ns() // 1000
    committer = BatchCommitter(opened)
    committer.commit([normalize(raw, P, prices, now) for raw in dataset()])
    # The same session id and trace ids in another project, with other numbers.
    committer.commit([normalize(raw, OTHER, prices, now) for raw in [
        span(T1, "9000000000000001", "other", 0, 5, **{"session.id": S}),
        llm(T1, "9000000000000002", "9000000000000001", 0, 5, "gpt-4", (7, 7),
            events=[event(1, "exception", **{"exception.message": "other project"})],
            **{"gen_ai.server.time_to_first_token": "1"})]])
    insert_logs(opened, P, log_records(S, (50, "named", 13, ""), (600_200, "named with trace", 17, T2)))
    insert_logs(opened, P, log_records(S, (50, "named", 13, "")))  # a replay collapses
    insert_logs(opened, P, log_records("", (650_500, "by trace", 5, T3), (600_300, "unspecified", 0, T2),
                                       (1_001_000 + 2 * 3600_000, "by trace, too late", 9, T4),
                                       (100, "no session", 9, "")))
    insert_logs(opened, P, log_records("chat-else", (60, "elsewhere", 21, T1)))
    insert_logs(opened, OTHER, log_records(S, (70, "other project log", 21, "")))
    insert_logs(opened, OTHER, log_records("", (80, "other project by trace", 21, T1)))
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def log_query(store: Store, **filters: int) -> reads.LogQuery:
    row = get_session(store, P, S)
    assert row is not None
    return reads.LogQuery(first_seen_ns=int(row["first_seen_ns"]), last_seen_ns=int(row["last_seen_ns"]), **filters)


def test_model_usage_sums_llm_spans_per_model_most_expensive_first(store: Store) -> None:
    usage = reads.model_usage(store, P, S)
    gpt4o = (1010 * 2.50 + 200 * 10.00) / 1e6
    mini = (2001 * 0.15 + 401 * 0.60) / 1e6
    assert [(u["model"], u["call_count"], u["input_tokens"], u["output_tokens"], u["total_tokens"]) for u in usage] == [
        ("gpt-4o", 2, 1010, 200, 1210), ("gpt-4o-mini", 2, 2001, 401, 2402)]
    assert usage[0]["cost_usd"] == pytest.approx(gpt4o) and usage[1]["cost_usd"] == pytest.approx(mini)


def test_time_to_first_token_from_attribute_and_event_only_on_llm_spans(store: Store) -> None:
    # turn 1: 250 (attribute, s) and 10 (event 910 - start 900); turn 2: 120 (event; the 'nan' attribute is
    # skipped); the '-1' attribute and the agent span's '9' do not count.
    ttft = reads.time_to_first_token(store, P, S)
    assert ttft == {"call_count": 3, "avg_ms": pytest.approx(380 / 3), "p50_ms": 120.0, "p95_ms": 250.0}
    assert reads.turn_ttft(store, P, ALL_TRACES) == {T1: 250.0, T2: 120.0}
    assert reads.turn_ttft(store, P, []) == {}
    assert reads.time_to_first_token(store, P, "no-such-session") is None


def test_idle_gaps_measure_from_the_latest_end_so_far(store: Store) -> None:
    # ends: turn 1 at 1 000, turn 2 at 700 000 (after turn 3 starts at 650 000), turn 4 starts at 1 000 000.
    gaps = reads.idle_gaps(store, P, S, 0)
    assert gaps == [{"after_turn": 1, "gap_ms": 599_000.0}, {"after_turn": 3, "gap_ms": 300_000.0}]
    assert reads.idle_gaps(store, P, S, 300_000) == [{"after_turn": 1, "gap_ms": 599_000.0}]  # strictly above
    assert reads.idle_gaps(store, P, S, 599_000) == []
    assert reads.idle_gaps(store, P, S, 0, first_turn=3, last_turn=4) == [{"after_turn": 3, "gap_ms": 300_000.0}]
    assert reads.idle_gaps(store, P, S, 0, first_turn=1, last_turn=2) == [{"after_turn": 1, "gap_ms": 599_000.0}]
    assert reads.idle_gaps(store, OTHER, S, 0) == []


def test_turn_spans_are_light_rows_of_the_given_traces(store: Store) -> None:
    spans = reads.turn_spans(store, P, [T1])
    assert [s["span_id"] for s in spans] == ["1000000000000001", "1000000000000004", "1000000000000002",
                                             "1000000000000003"]
    assert {"input", "output", "attributes"}.isdisjoint(spans[0].keys())
    assert spans[2]["event_count"] == 0 and spans[3]["event_count"] == 1
    assert reads.turn_spans(store, P, []) == []
    assert [s["name"] for s in reads.turn_spans(store, OTHER, [T1])] == ["other", "chat"]


def test_export_spans_carry_attributes_and_events(store: Store) -> None:
    spans = reads.export_spans(store, P, [T2])
    assert [s["span_id"] for s in spans] == ["2000000000000001", "2000000000000002", "2000000000000003"]
    assert spans[1]["events_name"] == ["gen_ai.content.first_token", "exception"]
    assert dict(spans[1]["attributes"])["gen_ai.request.model"] == "gpt-4o-mini"


def test_log_entries_in_order_with_sources_and_severities(store: Store) -> None:
    page = reads.session_logs(store, P, S, log_query(store), limit=100, offset=0)
    got = [((r["time_ns"] - T0) // MS, r["source"], r["severity_number"], r["body"] or r["name"]) for r in page.rows]
    assert got == [
        (50, "log", 13, "named"),
        (910, "span_event", 9, "first_token"),
        (600_120, "span_event", 9, "gen_ai.content.first_token"),
        (600_200, "log", 17, "named with trace"),
        (600_300, "log", 0, "unspecified"),
        (600_500, "exception", 17, "bad"),
        (650_500, "log", 5, "by trace"),
    ]
    assert page.total == 7  # 'by trace, too late' is 2 h after the session's last activity: beyond the margin
    exception = page.rows[5]
    assert dict(exception["attributes"])["exception.stacktrace"] == "tb"
    assert exception["trace_id"] == T2 and exception["span_id"] == "2000000000000002"


def test_log_severity_and_time_filters(store: Store) -> None:
    def bodies(**filters: int) -> list[str]:
        page = reads.session_logs(store, P, S, log_query(store, **filters), limit=100, offset=0)
        assert page.total == len(page.rows)
        return [r["body"] or r["name"] for r in page.rows]

    assert bodies(min_severity=13) == ["named", "named with trace", "bad"]
    assert bodies(min_severity=17) == ["named with trace", "bad"]
    assert bodies(min_severity=21) == []
    assert bodies(min_severity=1) == ["named", "first_token", "gen_ai.content.first_token", "named with trace",
                                      "bad", "by trace"]  # unspecified (0) is left out by any severity filter
    assert bodies(start_ns=T0 + 600_200 * MS, end_ns=T0 + 600_500 * MS) == ["named with trace", "unspecified"]
    assert bodies(start_ns=T0 + 600_200 * MS, min_severity=17) == ["named with trace", "bad"]


def test_log_pagination(store: Store) -> None:
    query = log_query(store)
    pages = [reads.session_logs(store, P, S, query, limit=3, offset=at) for at in (0, 3, 6, 9)]
    assert [len(p.rows) for p in pages] == [3, 3, 1, 0] and {p.total for p in pages} == {7}
    every = reads.session_logs(store, P, S, query, limit=100, offset=0).rows
    assert [r["entry_id"] for p in pages for r in p.rows] == [r["entry_id"] for r in every]


def test_log_of_another_project_or_session_stays_there(store: Store) -> None:
    row = get_session(store, OTHER, S)
    assert row is not None
    query = reads.LogQuery(first_seen_ns=int(row["first_seen_ns"]), last_seen_ns=int(row["last_seen_ns"]))
    page = reads.session_logs(store, OTHER, S, query, limit=100, offset=0)
    assert sorted(r["body"] or r["name"] for r in page.rows) == ["other project", "other project by trace",
                                                                 "other project log"]
    assert reads.session_logs(store, P, "chat-else", log_query(store), limit=10, offset=0).total == 1


def test_log_of_a_trace_deleted_from_the_session_is_hidden(store: Store) -> None:
    query = log_query(store)
    store.insert("deleted_session_traces", pa.table({
        "project_id": [P], "trace_id": [T2], "session_id": [S],
        "deleted_at": pa.array([time.time_ns() // 1000], pa.timestamp("us", tz="UTC"))}), tag="test.deleted")
    try:
        bodies = [r["body"] for r in reads.session_logs(store, P, S, query, limit=100, offset=0).rows
                  if r["source"] == "log"]
        assert bodies == ["named", "unspecified", "by trace"]  # 'named with trace' names T2 and S
    finally:
        store.command("TRUNCATE TABLE {db}.deleted_session_traces", tag="test.undelete")
