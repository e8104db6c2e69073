"""A live ``threadline serve`` subprocess with a project and an API key, for the client tests (one server per test
module), and reading a session back through the REST API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import ServeProcess, free_port


class Threadline:
    """The server (``url``), the API key of ``project`` and an HTTP client authenticated with it."""

    def __init__(self, proc: ServeProcess, project: str, api_key: str, grpc_port: int = 0) -> None:
        self.proc = proc
        self.url = proc.url
        self.project = project
        self.api_key = api_key
        self.grpc_port = grpc_port
        self.grpc_endpoint = f"http://127.0.0.1:{grpc_port}"
        self.http = httpx.Client(base_url=proc.url, timeout=30, headers={"Authorization": f"Bearer {api_key}"})

    def read_session(self, session_id: str, traces: int) -> dict[str, Any]:
        """``GET /v1/sessions/{id}`` once it holds ``traces`` traces. The clients export synchronously or are flushed,
        and an acknowledged export is committed, so the poll is a guard against a slow commit, not a wait."""
        deadline = time.monotonic() + 15
        while True:
            response = self.http.get(f"/v1/sessions/{session_id}")
            if response.status_code == 200 and response.json()["trace_count"] >= traces:
                body: dict[str, Any] = response.json()
                return body
            assert time.monotonic() < deadline, f"session {session_id}: {response.status_code} {response.text[:500]}"
            time.sleep(0.1)

    def trace(self, trace_id: str) -> dict[str, Any]:
        """``GET /v1/traces/{id}`` (the trace with its spans)."""
        response = self.http.get(f"/v1/traces/{trace_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def threadline(tmp: Path, project: str, grpc_port: int = 0) -> Iterator[Threadline]:
    """Start ``threadline serve`` on a fresh data directory (its OTLP/gRPC listener on ``grpc_port``, off for 0),
    create ``project`` and a key for it."""
    admin_key = "admin-" + uuid.uuid4().hex
    proc = ServeProcess(tmp / "data", free_port(), tmp / "serve.log",
                        env={"THREADLINE_ADMIN_KEY": admin_key, "THREADLINE_GRPC_PORT": str(grpc_port)})
    proc.start()
    try:
        admin = {"Authorization": f"Bearer {admin_key}"}
        made = httpx.post(f"{proc.url}/v1/admin/projects", json={"project_id": project}, headers=admin, timeout=30)
        assert made.status_code == 201, made.text
        key = httpx.post(f"{proc.url}/v1/admin/keys", json={"project_id": project, "name": "client-test"},
                         headers=admin, timeout=30)
        assert key.status_code == 201, key.text
        live = Threadline(proc, project, key.json()["secret"], grpc_port)
        try:
            yield live
        finally:
            live.http.close()
    finally:
        proc.stop()
