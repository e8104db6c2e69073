"""The ``threadline`` command itself: ``--version``, the gRPC option of the commands that serve, and ``projects`` /
``keys`` (scopes, expiry, retention) on a real store, with the keys they make used over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import Result
from conftest import start_server, stop_server
from typer.testing import CliRunner

from threadline.auth.repository import ProjectRepository
from threadline.cli import app
from threadline.cli.durations import parse_duration
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

SECRET = re.compile(r"tl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_version_prints_the_installed_version_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "threadline", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"threadline {version('threadline')}\n", "")


def test_serve_and_demo_take_a_grpc_port() -> None:
    for command in ("serve", "demo"):
        shown = CliRunner().invoke(app, [command, "--help"])
        assert shown.exit_code == 0 and "--grpc-port" in shown.output and "THREADLINE_GRPC_PORT" in shown.output


def test_an_invalid_grpc_port_names_its_variable() -> None:
    refused = CliRunner().invoke(app, ["serve", "--grpc-port", "70000"])
    assert refused.exit_code == 1 and "THREADLINE_GRPC_PORT" in refused.output


# --- projects and keys on a store this process opens (the embedded one of the tests) ------------------------------


@dataclass
class CliStore:
    store: Store
    args: list[str]  # --data-dir of the store
    env: dict[str, str]  # its database, and wide tables (one line per row)

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(app, [*args, *self.args], env=self.env)


@pytest.fixture
def cli_store(chdb_dir: Path) -> Iterator[CliStore]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    store = Store.embedded(chdb_dir, database)
    migrate(store)
    yield CliStore(store, ["--data-dir", str(chdb_dir)], {"THREADLINE_DATABASE": database, "COLUMNS": "220"})
    store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def _row(output: str, word: str) -> list[str]:
    """The cells of the table row containing ``word``."""
    [line] = [line for line in output.splitlines() if word in line]
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def test_duration_parsing() -> None:
    assert [parse_duration(t) for t in ("30d", "12h", "90m", "3600s", " 2D ", "1s")] == [
        2_592_000, 43_200, 5_400, 3_600, 172_800, 1]
    for bad, words in (("0d", "zero"), ("0s", "zero"), ("-5m", "not a duration"), ("10", "not a duration"),
                       ("1.5h", "not a duration"), ("30x", "not a duration"), ("", "not a duration"),
                       ("1h30m", "not a duration"), ("40000d", "longer than 100 years"), ("1d\nx", "not a duration")):
        with pytest.raises(ValueError, match=words):
            parse_duration(bad)


def test_keys_with_scopes_and_expiry(cli_store: CliStore) -> None:
    assert cli_store.run("projects", "create", "edge").exit_code == 0
    made = {}
    for scope, extra in (("ingest", ["--expires-in", "30d"]), ("read", ["--expires-in", "12h"]), ("all", []),
                         ("ingest", ["--expires-in", "1s"])):
        result = cli_store.run("keys", "create", "--project", "edge", "--scope", scope, "--name", f"k-{scope}",
                               *extra)
        assert result.exit_code == 0, result.output
        [secret] = SECRET.findall(result.output)
        assert f"scope {scope}" in result.output and ("expires" in result.output) == bool(extra)
        made.setdefault(scope, []).append(secret)
    time.sleep(1.1)  # the 1 s key is now expired
    listed = cli_store.run("keys", "list", "--project", "edge")
    assert listed.exit_code == 0
    assert "scope" in listed.output and "expires (UTC)" in listed.output
    for scope, secrets in made.items():
        for secret in secrets:
            assert _row(listed.output, secret[3:15])[3] == scope
    in_30_days = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert _row(listed.output, made["ingest"][0][3:15])[5].startswith(in_30_days)
    assert _row(listed.output, made["ingest"][0][3:15])[-1] == "active"
    assert _row(listed.output, made["ingest"][1][3:15])[-1] == "expired"
    assert _row(listed.output, made["all"][0][3:15])[5] == "never"
    stored = {k.scope: k for k in ProjectRepository(cli_store.store).list_keys("edge") if k.state() == "active"}
    assert set(stored) == {"ingest", "read", "all"}
    # the keys made by the CLI act within their scope over HTTP
    live = start_server(cli_store.store)
    try:
        with live.client() as http:
            ingest, read, expired = made["ingest"][0], made["read"][0], made["ingest"][1]
            assert http.post("/v1/ingest", headers={"x-api-key": ingest}, json=[]).status_code == 200
            refused = http.get("/v1/sessions", headers={"x-api-key": ingest})
            assert refused.status_code == 403 and "scope 'ingest'" in refused.json()["detail"]
            assert http.get("/v1/sessions", headers={"x-api-key": read}).status_code == 200
            gone = http.get("/v1/sessions", headers={"x-api-key": expired})
            assert gone.status_code == 401 and "expired on" in gone.json()["detail"]
    finally:
        stop_server(live)


@pytest.mark.parametrize(("args", "words"), [
    (["--scope", "write"], "unknown scope 'write'"),
    (["--scope", ""], "unknown scope"),
    (["--expires-in", "0d"], "zero"),
    (["--expires-in", "-5m"], "not a duration"),
    (["--expires-in", "10"], "not a duration"),
    (["--expires-in", "soon"], "not a duration"),
])
def test_bad_scope_or_expiry_is_refused_and_creates_no_key(cli_store: CliStore, args: list[str],
                                                             words: str) -> None:
    result = cli_store.run("keys", "create", "--project", "default", *args)
    assert result.exit_code == 1 and words in result.output and "error:" in result.output
    assert "tl_" not in result.output
    assert ProjectRepository(cli_store.store).list_keys() == []


def test_project_retention(cli_store: CliStore) -> None:
    created = cli_store.run("projects", "create", "short", "--retention-days", "7")
    assert created.exit_code == 0 and "retention: 7 days" in created.output, created.output
    listed = cli_store.run("projects", "list").output
    assert "retention" in listed and _row(listed, "short")[-1] == "7 days" and _row(listed, "default")[-1] == "forever"
    updated = cli_store.run("projects", "update", "short", "--retention-days", "1", "--name", "Short lived")
    assert updated.exit_code == 0 and "retention 1 day" in updated.output and "Short lived" in updated.output
    repo = ProjectRepository(cli_store.store)
    before = repo.list_projects()
    for args, words in ((["short", "--retention-days", "-1"], "from 0 (keep forever)"),
                        (["short", "--retention-days", "36501"], "from 0 (keep forever)"),
                        (["short"], "nothing to change"),
                        (["nope", "--retention-days", "3"], "there is no project 'nope'"),
                        (["short", "--name", ""], "name cannot be empty")):
        refused = cli_store.run("projects", "update", *args)
        assert refused.exit_code == 1 and words in refused.output, (args, refused.output)
    refused = cli_store.run("projects", "create", "neg", "--retention-days", "-3")
    assert refused.exit_code == 1 and "from 0 (keep forever)" in refused.output
    assert repo.list_projects() == before
    forever = cli_store.run("projects", "update", "short", "--retention-days", "0")
    assert forever.exit_code == 0 and "retention forever" in forever.output
    assert repo.get_project("short").retention_days == 0  # type: ignore[union-attr]
