"""A schemathesis run over the app's own OpenAPI schema (issue 4, "Quality bar"): the real app over real HTTP on a
real chDB database, a little data seeded first so that existing sessions, traces, jobs, projects and keys are hit as
well as unknown ids. For every operation a bounded, derandomized number of generated requests is sent, valid ones
(positive) and, where the operation has anything to make invalid, invalid ones (negative); every response must not
be a 5xx, must have a documented status code and content type, and its body must match the documented schema.

Covered: every operation of ``/openapi.json``, the admin API included (the server runs with an admin key, which the
admin operations send). ``POST /v1/traces`` and ``POST /v1/logs`` are sent JSON bodies only (schemathesis cannot
generate OTLP protobuf messages; the protobuf paths are covered by their own tests). Deletions run after the other
operations, and the admin API last (a key it creates ends local mode), its own deletions at the very end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import LiveServer, start_server, stop_server
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from threadline.store.gateway import Store

ADMIN_KEY = "schemathesis-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PROJECT = "seeded"
# Bodies naming something that exists, sent besides the generated ones (a 201 otherwise needs a lucky guess).
EXISTING_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/admin/keys"): {"project_id": PROJECT, "name": "schemathesis"}}
MAX_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}  # per operation (twice with path ids)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SESSIONS = ["chat-1", "chat-2"]
TRACES = ["a1" * 16, "b2" * 16, "c3" * 16]
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def _seed(http: httpx.Client) -> dict[str, list[str]]:
    """Two sessions (one with an error, a tool call and a score), a trace without a session, an OTLP log record, a
    finished deletion job and a project without keys (a key would end local mode); returns existing values of each
    path parameter."""
    batch: list[dict[str, Any]] = [
        {"trace_id": TRACES[0], "name": "turn 1", "session_id": SESSIONS[0], "user_id": "u-1",
         "metadata": {"plan": "pro"}, "tags": ["vip"],
         "spans": [{"span_id": "a100000000000001", "name": "turn 1", "start_time": T0, "end_time": T0 + 2,
                    "input": "Where is my refund?", "output": "It is on its way."},
                   {"span_id": "a100000000000002", "parent_span_id": "a100000000000001", "name": "llm",
                    "type": "llm", "model": "gpt-4o-mini", "start_time": T0 + 0.5, "end_time": T0 + 1.5,
                    "input_tokens": 120, "output_tokens": 40},
                   {"span_id": "a100000000000003", "parent_span_id": "a100000000000001", "name": "lookup",
                    "type": "tool", "start_time": T0 + 1.5, "end_time": T0 + 1.9, "status": "error",
                    "status_message": "timeout"}]},
        {"trace_id": TRACES[1], "name": "turn 2", "session_id": SESSIONS[0], "user_id": "u-1",
         "spans": [{"span_id": "b200000000000001", "name": "turn 2", "start_time": T0 + 300, "end_time": T0 + 303,
                    "input": "Thanks", "output": "You're welcome", "model": "gpt-4o", "input_tokens": 10,
                    "output_tokens": 5, "attributes": {"session.end_state": "success"}}]},
        {"trace_id": TRACES[2], "name": "solo", "spans": [{"name": "solo", "start_time": T0 + 10}]},
        {"name": "hello", "session_id": SESSIONS[1], "user_id": "u-2",
         "spans": [{"name": "hello", "type": "llm", "model": "gpt-4o", "start_time": "2026-01-02T10:00:00Z",
                    "end_time": "2026-01-02T10:00:01.5Z", "input": "hi", "output": "hello", "cost_usd": 0.001}]},
        {"name": "doomed", "session_id": "doomed", "spans": [{"name": "doomed", "start_time": T0}]},
    ]
    assert http.post("/v1/ingest", json=batch).status_code == 200
    score = {"name": "quality", "value": 0.75, "comment": "good", "source": "human"}
    assert http.post(f"/v1/sessions/{SESSIONS[0]}/scores", json=score).status_code == 201
    assert http.post(f"/v1/traces/{TRACES[0]}/scores", json={"name": "resolved", "value": True}).status_code == 201
    logs = {"resourceLogs": [{"resource": {"attributes": [{"key": "session.id",
                                                           "value": {"stringValue": SESSIONS[0]}}]},
                              "scopeLogs": [{"logRecords": [{"timeUnixNano": str((T0 + 1) * 10**9),
                                                             "severityNumber": 17, "severityText": "ERROR",
                                                             "body": {"stringValue": "tool timed out"},
                                                             "traceId": TRACES[0]}]}]}]}
    assert http.post("/v1/logs", json=logs).status_code == 200
    deleted = http.delete("/v1/sessions/doomed")
    assert deleted.status_code == 202
    job_id = deleted.json()["job_id"]
    for _ in range(100):
        if http.get(f"/v1/jobs/{job_id}").json()["status"] not in ("pending", "running"):
            break
        time.sleep(0.05)
    created = http.post("/v1/admin/projects", json={"project_id": PROJECT}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return {"session_id": SESSIONS, "trace_id": TRACES, "job_id": [job_id], "project_id": [PROJECT], "key_id": []}


@pytest.fixture
def live(store: Store) -> Iterator[LiveServer]:
    # Generated logins with wrong keys are authentication failures: keep them from throttling the run to 429s.
    server = start_server(store, admin_key=ADMIN_KEY, auth_failure_limit=1_000_000)
    yield server
    stop_server(server)


def _order(method: str, path: str) -> tuple[int, str, str]:
    """Reads and writes first, then deletions; then the admin API (a created key would end local mode), its
    deletions last (so that PATCH of a project finds the seeded one)."""
    rank = (2 if path.startswith("/v1/admin") else 0) + (1 if method == "DELETE" else 0)
    return rank, path, method


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str,
          existing: dict[str, list[str]], statuses: Counter[int]) -> None:
    """Send the generated requests of one operation and check each response, counting their status codes. Raises
    the failures schemathesis found (one per distinct failure)."""
    headers = ADMIN if operation.path.startswith("/v1/admin") else None
    # OTLP endpoints also take protobuf, which cannot be generated from a schema: JSON bodies only.
    media_type = "application/json" if operation.body else None
    strategies = [operation.as_strategy(mode, media_type=media_type)]
    for parameter in operation.path_parameters:  # the same operation on ids that exist
        for value in existing.get(parameter.name, []):
            strategies.append(operation.as_strategy(mode, media_type=media_type,
                                                    path_parameters={parameter.name: value}))
    body = EXISTING_BODIES.get((operation.method.upper(), operation.path))
    if body is not None and mode is GenerationMode.POSITIVE:
        strategies.append(operation.as_strategy(mode, media_type=media_type, body=body))
    examples = MAX_EXAMPLES[mode] * min(len(strategies), 2)
    if operation.path.startswith("/v1/sessions/id/"):  # twins of the plain session paths, same endpoints (their
        examples //= 5                                  # routing: tests/api/test_session_paths.py)

    # No shrinking: a failure is reported as found, which keeps a failing run as short as a passing one.
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_openapi_schemathesis(live: LiveServer) -> None:
    with live.client() as http:
        existing = _seed(http)
    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: _order(op.method.upper(), op.path))
    failures: dict[str, str] = {}
    sent: dict[str, Counter[int]] = {}
    started = time.monotonic()
    for operation in operations:
        if operation.path == "/v1/admin/keys/{key_id}":  # the keys made by POST /v1/admin/keys, which ran before
            with live.client() as http:
                existing["key_id"] = [key["key_id"] for key in http.get("/v1/admin/keys", headers=ADMIN).json()]
        if (operation.method.upper(), operation.path) == ("DELETE", "/v1/sessions/{session_id}"):
            with live.client() as http:  # DELETE /v1/sessions/id/{session_id}, which ran before, deleted them
                for session_id in SESSIONS:
                    assert http.post("/v1/sessions", json={"session_id": session_id}).status_code == 201
        for mode in MAX_EXAMPLES:
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            sent[label] = Counter()
            try:
                _fuzz(operation, mode, live.url, existing, sent[label])
            except Unsatisfiable:  # negative: nothing to make invalid (no body, no query, unconstrained path ids)
                assert mode is GenerationMode.NEGATIVE, label
                del sent[label]
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures are reported together
                failures[label] = f"{type(exc).__name__}: {str(exc)[:6000]}"
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations, {sum(sum(c.values()) for c in sent.values())} requests in "
          f"{elapsed:.1f} s")
    for label, statuses in sent.items():
        print(f"  {label}: {dict(sorted(statuses.items()))}")
    # The run reached the code behind each operation: a success for every one (a login needs a real key).
    unanswered = [label for label, statuses in sent.items() if label.endswith("(positive)")
                  and not label.startswith("POST /v1/auth/login") and not any(200 <= s < 300 for s in statuses)]
    assert not unanswered or failures, f"no 2xx response from {unanswered}"
    if failures:
        pytest.fail("\n\n".join(f"== {label}\n{text}" for label, text in failures.items()), pytrace=False)
