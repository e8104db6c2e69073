"""The batch path of ingest (:func:`threadline.ingest.normalize.normalize_spans`, built column by column) against the
per-span public path (:func:`normalize` rows through :func:`rows_to_arrow`), on the realistic requests of the
benchmark workload (``bench/workload.py``: LLM chat messages, OpenInference and GenAI keys, JSON inputs) and on
spans every branch of normalisation meets; and the rollup facts of such a table, whose texts are converted only for
the winners of a fold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest

from threadline.api.otlp_export import decode_and_normalize
from threadline.ingest.normalize import InvalidSpan, normalize, normalize_spans
from threadline.ingest.otlp import PROTOBUF, decode_request, to_raw_spans
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import SPAN_SCHEMA, RawSpan, SpanEvent, rows_to_arrow
from threadline.writer.trace_state import SpanFacts, TraceState, fold

INGESTED_US = 1_767_225_600_000_000
PRICES = PriceTable.load()
WORKLOAD_PATH = Path(__file__).parents[2] / "bench" / "workload.py"


def load_workload() -> ModuleType:
    if "workload" not in sys.modules:
        spec = importlib.util.spec_from_file_location("workload", WORKLOAD_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["workload"] = module  # its dataclasses look their module up while being built
        spec.loader.exec_module(module)
    return sys.modules["workload"]


@pytest.fixture(scope="module")
def requests() -> list[tuple[str, bytes]]:
    """(project id, OTLP protobuf body) of ~3,000 spans of the benchmark workload."""
    workload = load_workload()
    stream = workload.Workload(workload.WorkloadConfig(spans=3000, templates=4))
    stream.build()
    return [(stream.config.projects[r.project].project_id, r.body) for r in stream.requests()]


def per_span(raw_spans: list[RawSpan], project: str) -> tuple[pa.Table, list[str]]:
    rows, problems = [], []
    for raw in raw_spans:
        try:
            rows.append(normalize(raw, project, PRICES, INGESTED_US))
        except InvalidSpan as exc:
            problems.append(str(exc))
    return rows_to_arrow(rows), problems


def test_batch_equals_rows_on_the_workload(requests: list[tuple[str, bytes]]) -> None:
    spans = 0
    for project, body in requests:
        raw_spans = to_raw_spans(decode_request(body, PROTOBUF))
        table, problems = normalize_spans(raw_spans, project, PRICES, INGESTED_US)
        expected, expected_problems = per_span(raw_spans, project)
        assert table.schema == SPAN_SCHEMA
        assert table.equals(expected)
        assert problems == expected_problems == []
        served, rejected, _ = decode_and_normalize(body, PROTOBUF, project, PRICES)
        assert rejected == 0
        assert served.drop_columns(["ingested_at"]).equals(table.drop_columns(["ingested_at"]))
        spans += table.num_rows
    assert spans >= 3000


def test_batch_equals_rows_on_every_branch() -> None:
    """Spans of other clients, explicit fields, events, promoted values, resource fallbacks and rejected spans."""
    resource = {"service.name": "svc", "session.id": "from-resource", "agentops.project.id": "p"}
    start = 1_700_000_000_000_000_000

    def raw(n: int, attributes: dict[str, str], **fields: object) -> RawSpan:
        values: dict[str, object] = {"trace_id": f"{n + 1:032x}", "span_id": f"{n + 1:016x}", "parent_span_id": "",
                                     "name": f"span {n}", "start_ns": start, "end_ns": start + 1000,
                                     "attributes": attributes, "resource_attributes": resource, **fields}
        return RawSpan(**values)  # type: ignore[arg-type]

    spans = [
        raw(0, {"input.value": "question", "output.value": "answer", "note": "question", "empty": ""}),
        raw(1, {"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "hi",
                "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "yo",
                "gen_ai.request.model": "gpt-4o", "llm.token_count.prompt": "12", "metadata": '{"k": 1}',
                "tag.tags": '["a", "b"]', "session.id": "s1", "user.id": "u1"}),
        raw(2, {"langfuse.observation.type": "generation", "langfuse.observation.level": "ERROR",
                "langfuse.observation.usage_details": '{"input": 3, "output": 4}'}),
        raw(3, {"ai.operationId": "ai.generateText", "ai.telemetry.metadata.team": "x",
                "ai.prompt": '{"prompt": "p"}', "ai.response.text": "r"}),
        raw(4, {}, events=[SpanEvent(start, "gen_ai.user.message", {"content": "from an event"}),
                           SpanEvent(start + 1, "gen_ai.choice", {"message": '{"content": "reply"}'})]),
        raw(5, {"traceloop.entity.input": '{"args": ["only"], "kwargs": {}}', "session.end_state": "Fail"}),
        raw(6, {}, explicit={"session_id": "native", "input": "in", "output": "out", "tags": ["t"],
                             "metadata": {"m": "v"}, "span_type": "tool", "input_tokens": 1, "cost_usd": 0.5}),
        raw(7, {"user.id": "u" * 300}),  # rejected: the user id is too long
        raw(8, {}, trace_id="0" * 32),  # rejected: a zero trace id
        raw(9, {"agentops.span.kind": "session"}, resource_attributes={"agentops.project.id": "p"}),
    ]
    table, problems = normalize_spans(spans, "proj", PRICES, INGESTED_US)
    expected, expected_problems = per_span(spans, "proj")
    assert table.equals(expected)
    assert problems == expected_problems and len(problems) == 2
    assert table.num_rows == 8
    assert normalize_spans([], "proj", PRICES, INGESTED_US) == (SPAN_SCHEMA.empty_table(), [])


def test_facts_convert_only_what_a_fold_keeps(requests: list[tuple[str, bytes]]) -> None:
    """Folding the facts of a table keeps, as text, exactly the input/output of the winning spans (as the rows have
    them), and merged facts fold as the facts of one table."""
    tables = [normalize_spans(to_raw_spans(decode_request(body, PROTOBUF)), project, PRICES, INGESTED_US)[0]
              for project, body in requests[:4]]
    whole = pa.concat_tables(tables)
    rows = whole.to_pylist()
    merged = SpanFacts.concat([SpanFacts.from_spans(t) for t in tables])
    for facts in (SpanFacts.from_spans(whole), merged):
        assert facts.columns["input"] == [bool(r["input"]) for r in rows]
        for (project, trace), indexes in facts.by_trace().items():
            state = TraceState(project, trace)
            fold(state, facts, indexes)
            texts = {r["input"] for r in (rows[i] for i in indexes)}
            assert state.input in texts | {""}
            assert bool(state.input) == any(rows[i]["input"] for i in indexes)
            assert bool(state.output) == any(rows[i]["output"] for i in indexes)
            if state.input:
                winner = min((i for i in indexes if rows[i]["input"]),
                             key=lambda i: (rows[i]["parent_span_id"] != "", rows[i]["start_time"], rows[i]["span_id"]))
                assert state.input == rows[winner]["input"]
