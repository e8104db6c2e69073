"""ProjectRepository on a real store: projects, keys stored only as salt + hash, revocation, active keys, and the
deletion of a project's data (and only its data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from threadline.auth import tokens
from threadline.auth.repository import DATA_TABLES, NotFound, ProjectError, ProjectRepository
from threadline.ingest.native import NativeBatch, to_raw_spans
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import rows_to_arrow
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter


@pytest.fixture
def repo(store: Store) -> ProjectRepository:
    return ProjectRepository(store)


def test_default_project_exists_after_migration(repo: ProjectRepository) -> None:
    assert [p.project_id for p in repo.list_projects()] == ["default"]
    default = repo.get_project("default")
    assert default is not None and default.name


def test_create_list_get_delete_projects(repo: ProjectRepository) -> None:
    created = repo.create_project("checkout-bot", "Checkout bot")
    assert (created.project_id, created.name) == ("checkout-bot", "Checkout bot")
    assert repo.create_project("a_1").name == "a_1"  # the name defaults to the id
    assert [p.project_id for p in repo.list_projects()] == ["a_1", "checkout-bot", "default"]
    fetched = repo.get_project("checkout-bot")
    assert fetched is not None and fetched.name == "Checkout bot"
    repo.delete_project("checkout-bot")
    assert repo.get_project("checkout-bot") is None
    assert [p.project_id for p in repo.list_projects()] == ["a_1", "default"]
    # a deleted id can be created again, starting empty
    assert repo.create_project("checkout-bot").project_id == "checkout-bot"


INVALID_IDS = ["", "Upper", "-leading", "_leading", "has space", "dot.ted", "slash/ed", "ü", "a" * 64,
               "semi;colon", "quote'", "new\nline", "trailing\n"]


def test_invalid_project_ids_are_refused(repo: ProjectRepository) -> None:
    for bad in INVALID_IDS:
        with pytest.raises(ProjectError) as info:
            repo.create_project(bad)
        assert not isinstance(info.value, NotFound)
        assert "lowercase" in str(info.value), bad
    assert [p.project_id for p in repo.list_projects()] == ["default"]


def test_longest_valid_project_id(repo: ProjectRepository) -> None:
    assert repo.create_project("a" * 63).project_id == "a" * 63


def test_duplicate_project_is_refused(repo: ProjectRepository) -> None:
    repo.create_project("dup")
    with pytest.raises(ProjectError, match="already exists") as info:
        repo.create_project("dup")
    assert not isinstance(info.value, NotFound)
    with pytest.raises(ProjectError, match="already exists"):
        repo.create_project("default")


def test_unknown_project_is_not_found(repo: ProjectRepository) -> None:
    with pytest.raises(NotFound):
        repo.delete_project("nope")
    with pytest.raises(NotFound):
        repo.create_key("nope")
    repo.create_project("gone")
    repo.delete_project("gone")
    with pytest.raises(NotFound):
        repo.delete_project("gone")
    with pytest.raises(NotFound):
        repo.create_key("gone")


def test_create_key_stores_only_salt_and_hash(repo: ProjectRepository, store: Store) -> None:
    repo.create_project("p")
    key, secret = repo.create_key("p", "ci")
    parsed = tokens.parse(secret)
    assert parsed is not None
    key_id, secret_part = parsed
    assert (key.key_id, key.project_id, key.name, key.revoked, key.last_used_at) == (key_id, "p", "ci", False, None)
    rows = store.select("SELECT * FROM {db}.api_keys", tag="test.keys")
    assert len(rows) == 1
    for column, value in rows[0].items():
        assert secret not in str(value), column
        assert secret_part not in str(value), column
    assert tokens.verify(secret_part, rows[0]["salt"], rows[0]["secret_hash"])
    # nor anywhere else in the database
    for table in ("projects", "api_key_usage", "server_secrets"):
        for row in store.select(f"SELECT * FROM {{db}}.{table}", tag="test.scan"):
            assert all(secret_part not in str(v) for v in row.values()), table


def test_list_keys_newest_first_and_by_project(repo: ProjectRepository) -> None:
    repo.create_project("p")
    first, _ = repo.create_key("p", "one")
    second, _ = repo.create_key("p", "two")
    other, _ = repo.create_key("default")
    listed = repo.list_keys("p")
    assert [k.key_id for k in listed] == [second.key_id, first.key_id] or (
        # same millisecond: ties are by key id
        listed[0].created_at == listed[1].created_at and {k.key_id for k in listed} == {first.key_id, second.key_id})
    assert {k.key_id for k in repo.list_keys()} == {first.key_id, second.key_id, other.key_id}
    assert [k.key_id for k in repo.list_keys("default")] == [other.key_id]
    assert repo.list_keys("nope") == []


def test_revoke_key(repo: ProjectRepository) -> None:
    repo.create_project("p")
    keep, _ = repo.create_key("p", "keep")
    drop, _ = repo.create_key("p", "drop")
    repo.revoke_key(drop.key_id)
    repo.revoke_key(drop.key_id)  # idempotent
    states = {k.key_id: k.revoked for k in repo.list_keys("p")}
    assert states == {keep.key_id: False, drop.key_id: True}
    assert set(repo.active_keys()) == {keep.key_id}
    with pytest.raises(NotFound):
        repo.revoke_key("000000000000")


def test_active_keys_exclude_revoked_keys_and_deleted_projects(repo: ProjectRepository) -> None:
    repo.create_project("a")
    repo.create_project("b")
    a1, secret_a1 = repo.create_key("a")
    a2, _ = repo.create_key("a")
    b1, _ = repo.create_key("b")
    active = repo.active_keys()
    assert set(active) == {a1.key_id, a2.key_id, b1.key_id}
    record = active[a1.key_id]
    parsed = tokens.parse(secret_a1)
    assert parsed is not None
    assert record.project_id == "a" and tokens.verify(parsed[1], record.salt, record.secret_hash)
    repo.revoke_key(a2.key_id)
    assert set(repo.active_keys()) == {a1.key_id, b1.key_id}
    repo.delete_project("b")
    assert set(repo.active_keys()) == {a1.key_id}
    assert all(k.revoked for k in repo.list_keys("b"))  # delete_project revokes the keys too
    # recreating the project does not bring its old keys back
    repo.create_project("b")
    assert set(repo.active_keys()) == {a1.key_id}


def test_any_keys_stays_true_after_revocation(repo: ProjectRepository) -> None:
    assert not repo.any_keys()
    repo.create_project("p")
    key, _ = repo.create_key("p")
    assert repo.any_keys()
    repo.revoke_key(key.key_id)
    assert repo.any_keys()  # local development mode never comes back once a key existed


def test_touch_records_last_use(repo: ProjectRepository) -> None:
    repo.create_project("p")
    key, _ = repo.create_key("p")
    [listed] = repo.list_keys("p")
    assert listed.last_used_at is None
    when = listed.created_at
    repo.touch({key.key_id: when})
    [listed] = repo.list_keys("p")
    assert listed.last_used_at == when
    repo.revoke_key(key.key_id)
    repo.touch({key.key_id: when})  # a late use record never undoes a revocation
    assert repo.list_keys("p")[0].revoked and not repo.active_keys()


def test_server_secret_is_created_once_and_stable(repo: ProjectRepository, store: Store) -> None:
    first = repo.server_secret()
    assert len(bytes.fromhex(first)) == 32
    assert ProjectRepository(store).server_secret() == first


def _ingest(store: Store, project: str, batch: list[dict[str, Any]]) -> None:
    raw_spans, _ = to_raw_spans(NativeBatch.model_validate(batch).root)
    rows = [normalize(raw, project, PriceTable.load(None), 1_700_000_000_000_000) for raw in raw_spans]
    table: pa.Table = rows_to_arrow(rows)
    BatchCommitter(store).commit(table)


def _batch(session: str, trace_id: str) -> list[dict[str, Any]]:
    return [{"trace_id": trace_id, "name": "turn", "session_id": session, "spans": [
        {"name": "turn", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:01Z", "input": "hi"},
        {"name": "llm", "type": "llm", "model": "gpt-4o", "start_time": "2026-01-01T00:00:00.1Z",
         "end_time": "2026-01-01T00:00:00.9Z", "input_tokens": 10, "output_tokens": 5}]}]


def _counts(store: Store, project: str) -> dict[str, int]:
    return {table: store.select(f"SELECT count() AS n FROM {{db}}.{table} WHERE project_id = {{p:String}}",
                                {"p": project}, tag="test.count")[0]["n"] for table in DATA_TABLES}


def test_delete_project_deletes_its_data_and_only_its_data(repo: ProjectRepository, store: Store) -> None:
    repo.create_project("a")
    repo.create_project("b")
    _ingest(store, "a", _batch("chat-1", "aa" * 16))
    _ingest(store, "b", _batch("chat-1", "bb" * 16))
    store.command("INSERT INTO {db}.session_annotations (project_id, session_id, name, deleted, created_at, "
                  "updated_at) SELECT arrayJoin(['a', 'b']), 'chat-1', 'named', 0, now64(3), now64(6)",
                  tag="test.annotate")
    before_b = _counts(store, "b")
    assert _counts(store, "a")["spans"] == 2 and before_b["spans"] == 2
    assert before_b["trace_rollups"] >= 1 and before_b["session_rollups"] >= 1
    assert before_b["session_annotations"] == 1
    repo.delete_project("a")
    assert _counts(store, "a") == dict.fromkeys(DATA_TABLES, 0)
    assert _counts(store, "b") == before_b


# --- retention and key scopes/expiry (migration 6) -----------------------------------------------------------------


def _project_rows(store: Store, project_id: str) -> int:
    rows = store.select("SELECT count() AS n FROM {db}.projects WHERE project_id = {p:String}", {"p": project_id},
                        tag="test.project_rows")
    return int(rows[0]["n"])


def test_retention_is_set_at_creation_and_updated(repo: ProjectRepository, store: Store) -> None:
    assert repo.create_project("kept").retention_days == 0  # default: forever
    assert repo.create_project("short", "Short", retention_days=7).retention_days == 7
    updated = repo.update_project("kept", retention_days=30)
    assert (updated.name, updated.retention_days) == ("kept", 30)
    renamed = repo.update_project("kept", name="Kept team")
    assert (renamed.name, renamed.retention_days) == ("Kept team", 30)  # the other field stays
    assert repo.update_project("kept", retention_days=0).retention_days == 0
    by_id = {p.project_id: p for p in repo.list_projects()}
    assert (by_id["kept"].name, by_id["kept"].retention_days) == ("Kept team", 0)
    assert by_id["short"].retention_days == 7 and by_id["default"].retention_days == 0
    fetched = repo.get_project("kept")
    assert fetched is not None and fetched.created_at == by_id["kept"].created_at  # creation time kept
    # deleting after an update still deletes (the delete's version is newer)
    repo.delete_project("kept")
    assert repo.get_project("kept") is None


def test_invalid_retention_or_name_changes_nothing(repo: ProjectRepository, store: Store) -> None:
    repo.create_project("p", retention_days=5)
    rows = _project_rows(store, "p")
    for bad in (-1, -30, 36_501, 2**32):
        with pytest.raises(ProjectError, match="retention must be a whole number of days from 0"):
            repo.update_project("p", retention_days=bad)
        with pytest.raises(ProjectError, match="retention"):
            repo.create_project(f"q{abs(bad)}", retention_days=bad)
    with pytest.raises(ProjectError, match="name cannot be empty"):
        repo.update_project("p", name=" ", retention_days=9)
    with pytest.raises(NotFound):
        repo.update_project("nope", retention_days=1)
    assert _project_rows(store, "p") == rows and repo.get_project("p").retention_days == 5  # type: ignore[union-attr]
    assert [p.project_id for p in repo.list_projects()] == ["default", "p"]
    repo.update_project("p", retention_days=5)  # no change: nothing written
    assert _project_rows(store, "p") == rows


def test_keys_carry_scope_and_expiry_through_revocation(repo: ProjectRepository) -> None:
    repo.create_project("p")
    soon = datetime.now(UTC) + timedelta(hours=1)
    ingest, _ = repo.create_key("p", "edge", scope="ingest", expires_at=soon)
    default, _ = repo.create_key("p")
    assert (ingest.scope, default.scope, default.expires_at) == ("ingest", "all", None)
    assert ingest.expires_at is not None and abs((ingest.expires_at - soon).total_seconds()) < 0.001
    listed = {k.key_id: k for k in repo.list_keys("p")}
    assert (listed[ingest.key_id].scope, listed[ingest.key_id].expires_at) == ("ingest", ingest.expires_at)
    assert listed[ingest.key_id].state() == "active"
    assert listed[ingest.key_id].state(soon + timedelta(milliseconds=1)) == "expired"
    active = repo.active_keys()[ingest.key_id]
    assert (active.scope, active.expires_at) == ("ingest", ingest.expires_at)
    repo.revoke_key(ingest.key_id)
    revoked = {k.key_id: k for k in repo.list_keys("p")}[ingest.key_id]
    assert (revoked.scope, revoked.expires_at, revoked.state()) == ("ingest", ingest.expires_at, "revoked")


def test_bad_scope_or_expiry_creates_no_key(repo: ProjectRepository) -> None:
    repo.create_project("p")
    with pytest.raises(ProjectError, match=r"unknown scope 'write'.*'ingest'.*'read'.*'all'"):
        repo.create_key("p", scope="write")
    with pytest.raises(ProjectError, match="not in the future"):
        repo.create_key("p", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ProjectError, match="time zone"):
        repo.create_key("p", expires_at=datetime(2099, 1, 1))  # naive on purpose
    assert repo.list_keys("p") == []
