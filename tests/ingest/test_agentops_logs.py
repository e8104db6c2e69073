"""AgentOps log uploads as ``logs`` rows (:mod:`threadline.ingest.agentops_logs`)."""

from __future__ import annotations

import pytest

from threadline.ingest.agentops_logs import InvalidUpload, log_upload_batch, trace_id_hex

TRACE = "4394294698ed9a8cae0f4c210c9153c9"


@pytest.mark.parametrize(("header", "expected"), [
    (str(int(TRACE, 16)), TRACE), (TRACE.upper(), TRACE), ("1", "0" * 31 + "1"), (" 255 ", "0" * 30 + "ff"),
])
def test_trace_id_header(header: str, expected: str) -> None:
    assert trace_id_hex(header) == expected


@pytest.mark.parametrize("header", ["", "0", "abc", str(2**128), "-5", "12.5", "0x1f"])
def test_bad_trace_id_header(header: str) -> None:
    with pytest.raises(InvalidUpload):
        trace_id_hex(header)


def test_lines_become_ordered_records_of_the_trace() -> None:
    text = ("stray first line\n"
            "2026-12-04 05:21:30,166 - INFO - looking up order 42\n"
            "2026-12-04 05:21:30,167 - WARNING - slow carrier\n  detail line\n\n")
    batch = log_upload_batch(text, TRACE, "p", 1_000)
    rows = batch.table.to_pylist()
    assert batch.rejected == 0
    assert [r["body"] for r in rows] == ["stray first line", "looking up order 42", "slow carrier\n  detail line"]
    assert [r["severity_text"] for r in rows] == ["", "INFO", "WARNING"]
    assert [r["severity_number"] for r in rows] == [0, 9, 13]
    assert {r["trace_id"] for r in rows} == {TRACE} and {r["project_id"] for r in rows} == {"p"}
    assert [r["timestamp"].value for r in rows] == [1_000, 1_001, 1_002]  # receive time, in line order
    assert dict(rows[1]["attributes"]) == {"agentops.log.asctime": "2026-12-04 05:21:30,166"}
    assert len({r["log_id"] for r in rows}) == 3
    assert log_upload_batch("", TRACE, "p", 1).table.num_rows == 0
