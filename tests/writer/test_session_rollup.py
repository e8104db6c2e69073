"""Session aggregates from turn summaries (the same definitions the property tests check against SQL)."""

from __future__ import annotations

import pytest

from threadline.writer.session_rollup import TurnSummary, aggregate

MS = 1_000_000


def turn(trace: str, start_ms: int, duration_ms: int, **fields: object) -> TurnSummary:
    base: dict[str, object] = dict(
        trace_id=trace, version=7, user_id="", start_ns=start_ms * MS, end_ns=(start_ms + duration_ms) * MS,
        duration_ms=float(duration_ms), span_count=2, llm_call_count=1, tool_call_count=0, error_count=0,
        input_tokens=10, output_tokens=5, total_tokens=15, cost_usd=0.5, models=["m"], has_input=True,
        has_output=True, end_state="", previous_session_id="", metadata=[], tags=[])
    base.update(fields)
    return TurnSummary(**base)  # type: ignore[arg-type]


def test_sums_quantiles_winners_and_metadata() -> None:
    turns = [turn("c", 3000, 4000, metadata=[("plan", "pro")], end_state="success"),
             turn("a", 1000, 1000, user_id="u1", metadata=[("plan", "free"), ("region", "eu")],
                  has_output=False, tags=["x"]),
             turn("b", 2000, 3000, has_input=False, models=["n"], tags=["y", "x"])]
    rollup = aggregate("p", "s", turns)
    values = rollup.values
    assert (values["trace_count"], values["span_count"], values["total_tokens"]) == (3, 6, 45)
    assert values["total_cost_usd"] == pytest.approx(1.5)
    assert values["total_duration_ms"] == 8000.0
    assert values["wall_duration_ms"] == 6000.0  # 1,000 ms to 7,000 ms
    assert (values["p50_latency_ms"], values["p95_latency_ms"]) == (3000.0, 4000.0)  # quantileExact
    assert values["user_id"] == "u1" and values["end_state"] == "success"
    assert dict(values["metadata"]) == {"plan": "pro", "region": "eu"}  # later turns win per key
    assert values["models"] == ["m", "n"] and values["tags"] == ["x", "y"]
    assert rollup.first_input_from == ("a", 7) and rollup.last_output_from == ("c", 7)


def test_no_turn_with_a_text_names_none() -> None:
    rollup = aggregate("p", "s", [turn("a", 0, 1, has_input=False, has_output=False)])
    assert rollup.first_input_from == ("", 0) and rollup.last_output_from == ("", 0)


def test_a_session_without_turns_is_an_error() -> None:
    with pytest.raises(ValueError, match="no turn"):
        aggregate("p", "s", [])
