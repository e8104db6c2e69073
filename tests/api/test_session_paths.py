"""Every session id is reachable (issue 13): ids a project-level route takes (``search``, ``metrics``, ``export``),
``id``, sub-resource names, and ids with ``/``, ``%``, spaces, dot segments and non-ASCII characters, for every
per-session route through the real app over HTTP, at the links the API returns and at ``/v1/sessions/id/{id}``."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from threadline.api.app import create_app
from threadline.api.session_paths import RESERVED_IDS, path_segment, session_path
from threadline.settings import Settings

IDS = ["search", "metrics", "export", "id", "traces", "team/a", "id/x", "100% a b", "..", "会话-1"]
T0 = 1_767_225_600
THOROUGH = ["team/a", "100% a b", "会话-1"]  # besides the reserved ids: every route, the dashboard, deletion
SUBS = ["/traces", "/stats", "/timeline", "/logs", "/metrics", "/export", "/scores"]


@pytest.mark.parametrize(("session_id", "expected"), [
    ("chat-1", "/v1/sessions/chat-1"), ("search", "/v1/sessions/id/search"), ("id", "/v1/sessions/id/id"),
    ("team/a", "/v1/sessions/team%2Fa"), ("..", "/v1/sessions/%2E%2E"), ("Search", "/v1/sessions/Search"),
])
def test_session_path(session_id: str, expected: str) -> None:
    assert session_path(session_id) == expected


def test_reserved_ids_cover_the_fixed_routes_and_every_route_has_an_id_twin() -> None:
    paths: dict[str, Any] = create_app(Settings(grpc_port=0)).openapi()["paths"]
    fixed = {m.group(1) for p in paths if (m := re.fullmatch(r"/v1/sessions/([^/{}]+)", p))}
    assert fixed == {"search", "metrics", "export"} and fixed <= RESERVED_IDS
    plain = {p: set(ops) for p, ops in paths.items() if p.startswith("/v1/sessions/{session_id}")}
    assert len(plain) == 8  # the session, traces, stats, timeline, logs, metrics, export, scores
    for path, methods in plain.items():
        assert set(paths[path.replace("/v1/sessions/", "/v1/sessions/id/", 1)]) == methods


def _check(http: httpx.Client, session_id: str, base: str, subs: list[str]) -> None:
    detail = http.get(base)
    assert detail.status_code == 200, (base, detail.text)
    assert detail.json()["session_id"] == session_id
    for sub in subs:
        response = http.get(base + sub)
        assert response.status_code == 200, (base + sub, response.text)
        if sub in ("/timeline", "/stats", "/metrics"):
            assert response.json()["session_id"] == session_id
        elif sub == "/export":
            assert response.json()["summary"]["session_id"] == session_id


def test_every_session_id_is_reachable(client: httpx.Client) -> None:
    batch = [{"name": f"turn {i}", "session_id": sid, "spans": [{"name": "t", "start_time": T0 + i, "input": "hi",
                                                                  "output": "hello"}]} for i, sid in enumerate(IDS)]
    assert client.post("/v1/ingest", json=batch).status_code == 200
    listed = {s["session_id"]: s for s in client.get("/v1/sessions", params={"limit": 100}).json()["data"]}
    assert set(listed) == set(IDS)
    for sid in IDS:
        link = listed[sid]["links"]["self"]
        assert link == session_path(sid) and listed[sid]["links"]["traces"] == link + "/traces"
        _check(client, sid, link, SUBS if sid in RESERVED_IDS or sid in THOROUGH else ["/traces"])
        if sid not in RESERVED_IDS:  # the id/ form reaches every id; old links keep working
            _check(client, sid, "/v1/sessions/id/" + path_segment(sid), ["/logs"])
            assert link == "/v1/sessions/" + path_segment(sid)
        trace = client.get(link + "/traces").json()["data"][0]
        assert trace["links"]["session"] == link
        if sid in THOROUGH:
            assert client.get(f"/sessions/{path_segment(sid)}").status_code == 200  # the dashboard page
        scored = client.post(link + "/scores", json={"name": "quality", "value": 0.5})
        assert scored.status_code == 201 and scored.json()["target_id"] == sid
        assert [s["name"] for s in client.get(link + "/scores").json()] == ["quality"]
        patched = client.patch(link, json={"name": f"named {sid}"})
        assert patched.status_code == 200 and patched.json()["session_id"] == sid
        assert client.get(link).json()["name"] == f"named {sid}"
    assert client.get("/v1/sessions/id").json()["session_id"] == "id"  # the plain form of 'id' itself
    assert client.patch("/v1/sessions/search", json={"tags": ["x"]}).json()["session_id"] == "search"  # not GET
    # The project-level routes are still what the plain paths serve.
    found = client.get("/v1/sessions/search", params={"q": "hello"}).json()
    assert {hit["session_id"] for hit in found["data"]} == set(IDS)
    assert client.get("/v1/sessions/metrics").json()["sessions"] >= 0
    exported = client.get("/v1/sessions/export")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert len(exported.text.splitlines()) == len(IDS)
    for sid in [*RESERVED_IDS, *THOROUGH]:
        link = session_path(sid)
        assert client.delete(link).status_code == 202
        gone = client.get(link)
        assert gone.status_code == 404 and sid in gone.json()["detail"]
    left = {s["session_id"] for s in client.get("/v1/sessions").json()["data"]}
    assert left == set(IDS) - RESERVED_IDS - set(THOROUGH)
