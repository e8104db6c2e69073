"""The unmodified AgentOps SDK (``agentops``, pinned in the test extras: see pyproject.toml) against a live
``threadline serve`` subprocess: ``AGENTOPS_API_KEY=<Threadline API key>`` and ``agentops.init(endpoint=<Threadline>,
exporter_endpoint=<Threadline>/v1/traces)``, nothing else.

tests/clients/agentops_app.py runs in a process of its own (the SDK sets the process-wide tracer provider and patches
``openai``): four AgentOps traces, each an ``@agent`` whose ``@operation`` calls a ``@tool`` and the OpenAI chat API
(AgentOps' own OpenAI instrumentation) on a local fake OpenAI server; trace 1 ends ``Success``, trace 2 through an
exception in its ``with start_trace(...)`` block, traces 3 and 4 carry ``session.id``/``user.id`` as dict tags. This
module asserts what Threadline made of them through the REST API: an AgentOps trace is a session (id = trace id, as
AgentOps shows it) unless it names one, its end state, tags, span kinds, the LLM span's model, tokens, cost and
conversation, the tool span's arguments and result, the session's first input and last output, the two-turn chat of
traces 3 and 4 with its user, and the printed line the SDK uploaded (``/v4/logs/upload/``) in the session log; and
that the SDK reported no failed export or upload.

No network: the SDK's API calls go to the server (``/v3/auth/token``, ``/v4/logs/upload/``), its spans to
``exporter_endpoint``, OpenAI calls to the fake; the only other destination, its metrics exporter, is not configurable
in the SDK (``https://otlp.agentops.ai/v1/metrics``): the subprocess gets a proxy that refuses every connection for
anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "agentops_app.py"
sys.path.insert(0, str(APP.parent))
import agentops_app as app  # noqa: E402  (the scenario's constants: questions, answers, usage)

PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
PROJECT = "agentops-migrant"


class Run:
    """A live Threadline (``threadline_live``) after agentops_app.py ran against it: the trace ids it printed and
    everything it wrote."""

    def __init__(self, live: Threadline, trace_ids: list[str], output: str) -> None:
        self.proc = live.proc
        self.http = live.http
        self.trace_ids = trace_ids
        self.output = output

    def session(self, session_id: str) -> dict[str, Any]:
        """GET /v1/sessions/{id} once it ended (the SDK exits after force-flushing its exports, each acknowledged
        only once committed; the poll is a guard, not a wait)."""
        deadline = time.monotonic() + 15
        while True:
            response = self.http.get(f"/v1/sessions/{session_id}")
            if response.status_code == 200 and response.json()["end_state"] != "active":
                body: dict[str, Any] = response.json()
                return body
            assert time.monotonic() < deadline, f"{session_id}: {response.status_code} {response.text[:500]}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("agentops")
    with threadline(tmp, PROJECT) as live:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AGENTOPS_", "OTEL_", "THREADLINE_")) and k.lower() not in PROXY_VARIABLES}
        env["AGENTOPS_API_KEY"] = live.api_key
        # No network even where there is some: the SDK's metrics exporter always targets otlp.agentops.ai; a proxy
        # that refuses connections (port 9, discard) stops it at once, while 127.0.0.1 (Threadline, the fake OpenAI
        # server) is reached directly.
        env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                    "NO_PROXY": "127.0.0.1,localhost"})
        # cwd: the SDK writes agentops.log into its working directory
        done = subprocess.run([sys.executable, str(APP), "--endpoint", live.url], env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=120)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        trace_ids = json.loads(done.stdout.strip().splitlines()[-1])["trace_ids"]
        yield Run(live, trace_ids, output)


def test_the_sdk_reported_no_failure(run: Run) -> None:
    for failure in ("Failed to export", "Error uploading", "Authentication failed", "error during span export"):
        assert failure not in run.output, run.output
    assert f"{run.proc.url}/sessions?trace_id={run.trace_ids[0]}" in run.output  # app_url: links to Threadline


@pytest.mark.parametrize(("index", "end_state"), [(0, "success"), (1, "failure")])
def test_each_agentops_trace_is_a_session(run: Run, index: int, end_state: str) -> None:
    trace_id = run.trace_ids[index]
    session = run.session(trace_id)
    prompt, completion = app.USAGE[index]
    assert session["project_id"] == PROJECT
    assert session["end_state"] == end_state
    assert session["tags"] == sorted(app.TAGS[index])
    assert session["trace_count"] == 1
    assert session["span_count"] == 5  # session, agent, operation, tool, LLM
    assert (session["llm_call_count"], session["tool_call_count"]) == (1, 1)
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (
        prompt, completion, prompt + completion)
    assert session["total_cost_usd"] > 0  # gpt-4o-mini is in the shipped price table
    assert session["models"] == [app.MODEL]
    assert session["first_input"] == app.QUESTIONS[index]
    assert session["last_output"] == app.ANSWERS[index]

    trace = run.http.get(f"/v1/traces/{trace_id}").json()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        by_type.setdefault(span["span_type"], []).append(span)
    assert sorted((k, len(v)) for k, v in by_type.items()) == [("agent", 1), ("chain", 2), ("llm", 1), ("tool", 1)]
    (llm,) = by_type["llm"]
    assert (llm["model"], llm["input_tokens"], llm["output_tokens"]) == (app.MODEL, prompt, completion)
    assert (llm["input"], llm["output"]) == (app.QUESTIONS[index], app.ANSWERS[index])
    (tool,) = by_type["tool"]
    assert (tool["name"], tool["input"], tool["output"]) == (
        "lookup_order.tool", "42", '{"order_id": 42, "status": "packed"}')
    root = next(s for s in trace["spans"] if s["parent_span_id"] is None)
    assert (root["name"], root["span_type"]) == (("support-chat", "refund-chat")[index] + ".session", "chain")


def test_printed_lines_are_in_the_session_log(run: Run) -> None:
    logs = run.http.get(f"/v1/sessions/{run.trace_ids[0]}/logs").json()
    bodies = [entry["body"] for entry in logs["data"] if entry["source"] == "log"]
    assert app.ANSWERS[0] in bodies  # print() output, uploaded by the SDK when the session's root span ended


def test_session_links_open_the_dashboard(run: Run) -> None:
    link = httpx.get(f"{run.proc.url}/sessions", params={"trace_id": run.trace_ids[0]})
    assert link.status_code == 307 and link.headers["location"] == f"/sessions/{run.trace_ids[0]}"


def test_traces_naming_a_session_are_its_turns(run: Run) -> None:
    session = run.session(app.CHAT_ID)
    assert session["trace_count"] == 2 and session["user_id"] == app.USER
    assert session["end_state"] == "success"
    assert (session["input_tokens"], session["output_tokens"]) == (
        app.USAGE[2][0] + app.USAGE[3][0], app.USAGE[2][1] + app.USAGE[3][1])
    assert (session["first_input"], session["last_output"]) == (app.QUESTIONS[2], app.ANSWERS[3])
    assert [t["trace_id"] for t in session["traces"]] == run.trace_ids[2:]
    assert [(t["input"], t["output"]) for t in session["traces"]] == list(zip(app.QUESTIONS[2:], app.ANSWERS[2:],
                                                                              strict=True))
