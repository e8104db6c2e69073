"""``threadline projects|keys`` as real subprocesses: on a data directory no server owns (the store directly), then
through a running ``threadline serve`` subprocess's admin API (THREADLINE_ADMIN_KEY in both environments), and the
clear refusal without it. The keys made work against the server, and no key secret ever reaches the server's log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServeProcess, free_port

from threadline.auth.tokens import secret_part

pytestmark = pytest.mark.slow

ADMIN_KEY = "cli-admin-" + uuid.uuid4().hex
SECRET = re.compile(r"tl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _env(admin_key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["COLUMNS"] = "200"  # rich tables: one line per row
    if admin_key is not None:
        env["THREADLINE_ADMIN_KEY"] = admin_key
    return env


def cli(*args: str, admin_key: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "threadline", *args], capture_output=True, text=True,
                            env=_env(admin_key), timeout=120)
    if check:
        assert result.returncode == 0, f"{args}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def cli_parallel(*calls: tuple[tuple[str, ...], str | None]) -> list[subprocess.CompletedProcess[str]]:
    """Several CLI runs at once ((args, admin key) each); only for commands going through a server."""
    processes = [(args, subprocess.Popen([sys.executable, "-m", "threadline", *args], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, env=_env(admin_key)))
                 for args, admin_key in calls]
    results = []
    for args, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(list(args), process.returncode, stdout, stderr))
    return results


def created_key(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(key id, secret) printed by ``keys create``."""
    [secret] = SECRET.findall(result.stdout)
    key_id = secret[3:15]
    assert f"created key {key_id}" in result.stdout
    return key_id, secret


def key_rows(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """key id -> the table line of ``keys list``."""
    return {m.group(1): line for line in result.stdout.splitlines() if (m := re.search(r"\b([0-9a-f]{12})\b", line))}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log",
                        env={"THREADLINE_ADMIN_KEY": ADMIN_KEY, "THREADLINE_LOG_LEVEL": "debug"})
    yield proc
    proc.stop()


def test_projects_and_keys_offline_then_through_the_server(server: ServeProcess) -> None:
    data = ["--data-dir", str(server.data_dir)]

    # --- no server: the CLI opens the store itself -------------------------------------------------------------
    assert "created project alpha" in cli("projects", "create", "alpha", "--name", "Alpha team", *data).stdout
    listed = cli("projects", "list", *data).stdout
    assert "alpha" in listed and "Alpha team" in listed and "default" in listed
    revoked_id, revoked_secret = created_key(cli("keys", "create", "--project", "alpha", "--name", "old", *data))
    alpha_id, alpha_secret = created_key(cli("keys", "create", "--project", "alpha", "--name", "ci", *data))
    assert "revoked key" in cli("keys", "revoke", revoked_id, *data).stdout
    listing = cli("keys", "list", "--project", "alpha", *data)
    rows = key_rows(listing)
    assert set(rows) == {revoked_id, alpha_id}
    assert "active" in rows[alpha_id] and "ci" in rows[alpha_id] and "never" in rows[alpha_id]
    assert "revoked" in rows[revoked_id]
    assert not SECRET.search(listing.stdout)  # never a secret in a listing
    refused = cli("projects", "create", "Bad Id", *data, check=False)
    assert refused.returncode == 1 and "lowercase" in refused.stderr
    refused = cli("keys", "create", "--project", "nope", *data, check=False)
    assert refused.returncode == 1 and "nope" in refused.stderr

    # --- a server owns the directory: the CLI goes through its admin API ---------------------------------------
    server.start()
    remote = [*data, "--server", server.url]
    assert "created project beta" in cli("projects", "create", "beta", *remote, admin_key=ADMIN_KEY).stdout
    beta_id, beta_secret = created_key(cli("keys", "create", "--project", "beta", "--name", "svc", *remote,
                                           admin_key=ADMIN_KEY))
    listed, keys, duplicate, no_admin_1, no_admin_2, wrong_admin, retention, scoped = cli_parallel(
        (("projects", "list", *remote), ADMIN_KEY),
        (("keys", "list", *remote), ADMIN_KEY),
        (("projects", "create", "beta", *remote), ADMIN_KEY),
        (("projects", "create", "gamma", *remote), None),
        (("keys", "create", "--project", "beta", *remote), None),
        (("projects", "list", *remote), "wrong-admin-key-0123456789"),
        (("projects", "update", "beta", "--retention-days", "30", *remote), ADMIN_KEY),
        (("keys", "create", "--project", "beta", "--scope", "ingest", "--expires-in", "1h", *remote), ADMIN_KEY))
    assert retention.returncode == 0 and "retention 30 days" in retention.stdout, retention.stderr
    assert "scope ingest, expires" in scoped.stdout
    _, ingest_secret = created_key(scoped)
    assert listed.returncode == 0 and all(p in listed.stdout for p in ("alpha", "beta", "default"))
    rows = key_rows(keys)
    assert {revoked_id, alpha_id, beta_id} <= set(rows)
    assert "revoked" in rows[revoked_id] and "active" in rows[beta_id]
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    # without the admin key: a clear error, exit 1
    for refused in (no_admin_1, no_admin_2):
        assert refused.returncode == 1, refused.args
        assert "THREADLINE_ADMIN_KEY" in refused.stderr and "running server" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    # with a wrong one: the server's refusal, exit 1
    assert wrong_admin.returncode == 1 and "admin key" in wrong_admin.stderr
    assert "Traceback" not in wrong_admin.stderr
    projects = cli("projects", "list", *remote, admin_key=ADMIN_KEY).stdout
    assert "gamma" not in projects
    assert "30 days" in next(line for line in projects.splitlines() if "beta" in line)

    # the keys work against the server, each on its own project
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for secret, project in ((alpha_secret, "alpha"), (beta_secret, "beta")):
            auth = {"Authorization": f"Bearer {secret}"}
            assert http.get("/v1/auth/whoami", headers=auth).json()["project_id"] == project
            batch = [{"name": "turn", "session_id": f"cli-{project}", "spans": [
                {"name": "root", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:01Z"}]}]
            assert http.post("/v1/ingest", json=batch, headers=auth).status_code == 200
            sessions = http.get("/v1/sessions", headers={"x-api-key": secret}).json()["data"]
            assert [s["session_id"] for s in sessions] == [f"cli-{project}"]
            assert http.post("/v1/auth/login", json={"api_key": secret}).status_code == 200
        assert http.get("/v1/sessions", headers={"Authorization": f"Bearer {revoked_secret}"}).status_code == 401
        assert http.get("/v1/sessions", headers={"Authorization": f"Bearer {ingest_secret}"}).status_code == 403
        # failed requests with wrong keys (a real key id with a wrong secret, a malformed key)
        wrong = alpha_secret[:-4] + ("AAAA" if not alpha_secret.endswith("AAAA") else "BBBB")
        assert http.get("/v1/sessions", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert http.post("/v1/ingest", json=[], headers={"x-api-key": beta_secret + "x"}).status_code == 401
        assert http.post("/v1/auth/login", json={"api_key": wrong}).status_code == 401
        # revocation through the CLI takes effect on the server
        assert "revoked key" in cli("keys", "revoke", beta_id, *remote, admin_key=ADMIN_KEY).stdout
        deadline = time.monotonic() + 2
        while http.get("/v1/sessions", headers={"Authorization": f"Bearer {beta_secret}"}).status_code != 401:
            assert time.monotonic() < deadline, "key revoked by the CLI still accepted after 2 s"
            time.sleep(0.05)
        # deleting a project through the CLI deletes its data; the other project keeps its own
        assert "deleted project alpha" in cli("projects", "delete", "alpha", "--yes", *remote,
                                              admin_key=ADMIN_KEY).stdout
        deadline = time.monotonic() + 2
        while http.get("/v1/sessions", headers={"Authorization": f"Bearer {alpha_secret}"}).status_code != 401:
            assert time.monotonic() < deadline, "key of a deleted project still accepted after 2 s"
            time.sleep(0.05)

    # --- keys are never logged -----------------------------------------------------------------------------------
    server.stop()
    log = server.log_path.read_text()
    assert "Threadline serving on" in log  # the log was captured
    for secret in (alpha_secret, beta_secret, revoked_secret, wrong):
        assert secret not in log
        assert secret_part(secret) not in log  # nor the secret part alone
    assert ADMIN_KEY not in log
    assert not SECRET.search(log)


def test_an_invalid_admin_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    short = "sh0rt-" + uuid.uuid4().hex[:8]  # below the 16 character minimum
    result = cli("keys", "list", "--data-dir", str(tmp_path / "data"), admin_key=short, check=False)
    assert result.returncode == 1
    assert short not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
