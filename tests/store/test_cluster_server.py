"""Migrations, writes, reads and mutations on a real ClickHouse cluster. Runs when THREADLINE_TEST_CLICKHOUSE_URL
names a node of the cluster THREADLINE_TEST_CLICKHOUSE_CLUSTER (docs/clickhouse-cluster.md has a compose file for
two shards of two replicas); skipped otherwise. With both set, the ``store`` fixture of tests/conftest.py runs the
whole suite on the cluster too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from threadline.auth.repository import ProjectRepository
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow
from threadline.queries.sessions import get_session, list_sessions
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.store.schema import MIGRATIONS, SHARDED_TABLES, TABLES
from threadline.writer.commit import BatchCommitter

URL = os.environ.get("THREADLINE_TEST_CLICKHOUSE_URL")
CLUSTER = os.environ.get("THREADLINE_TEST_CLICKHOUSE_CLUSTER")
pytestmark = pytest.mark.skipif(not (URL and CLUSTER), reason="set THREADLINE_TEST_CLICKHOUSE_URL and "
                                "THREADLINE_TEST_CLICKHOUSE_CLUSTER to run against a ClickHouse cluster")
T0_NS = 1_767_225_600_000_000_000
INGESTED_US = 1_767_225_600_000_000


@pytest.fixture
def cluster_store() -> Iterator[Store]:
    """A migrated, empty database on every node of the cluster; dropped (ON CLUSTER ... SYNC) afterwards."""
    assert URL and CLUSTER
    opened = Store.server(URL, f"test_{uuid.uuid4().hex[:12]}", cluster=CLUSTER)
    assert [m.version for m in migrate(opened)] == [m.version for m in MIGRATIONS]
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def span(trace: str, span_id: str, parent: str = "", session: str = "", start_ms: int = 0) -> RawSpan:
    attributes = {"openinference.span.kind": "LLM", "gen_ai.usage.input_tokens": "10",
                  "gen_ai.usage.output_tokens": "5"}
    if session:
        attributes["session.id"] = session
    return RawSpan(trace, span_id, parent, f"span-{span_id}", T0_NS + start_ms * 10**6,
                   T0_NS + (start_ms + 100) * 10**6, attributes=attributes)


def rows(spans: list[RawSpan], project: str) -> list[SpanRow]:
    return [normalize(s, project, PriceTable({}), INGESTED_US) for s in spans]


def test_every_node_has_every_table_with_its_cluster_engine(cluster_store: Store) -> None:
    rows_ = cluster_store.select(
        f"SELECT hostName() AS host, name, engine FROM clusterAllReplicas('{CLUSTER}', system.tables) "
        "WHERE database = {database:String}", {"database": cluster_store.database}, tag="test.tables")
    by_host: dict[str, dict[str, str]] = {}
    for r in rows_:
        by_host.setdefault(r["host"], {})[r["name"]] = r["engine"]
    assert by_host
    expected = {t.name: ("Distributed" if t.name in SHARDED_TABLES else "Replicated" + t.engine.family)
                for t in TABLES}
    expected |= {f"{t.name}_local": "Replicated" + t.engine.family for t in TABLES if t.name in SHARDED_TABLES}
    for host, engines in by_host.items():
        assert engines == expected, host
    assert migrate(cluster_store) == []  # recorded once, seen from this node


def test_sessions_add_up_across_shards(cluster_store: Store) -> None:
    """Spans land on shards by trace, rollups by session; each session still sums all of its traces, including a
    trace that joined its session only with a later span (the trace_sessions link and tombstones follow)."""
    project = f"p-{uuid.uuid4().hex[:8]}"
    committer = BatchCommitter(cluster_store)
    first: list[RawSpan] = []
    late: list[RawSpan] = []
    for n in range(24):
        a, b = f"{2 * n + 1:032x}", f"{2 * n + 2:032x}"
        first += [span(a, f"{1:016x}", session=f"chat-{n}"), span(a, f"{2:016x}", parent=f"{1:016x}"),
                  span(b, f"{3:016x}", start_ms=1000)]  # trace b: no session yet
        late.append(span(b, f"{4:016x}", parent=f"{3:016x}", session=f"chat-{n}", start_ms=1100))
    committer.commit(rows(first, project))
    committer.commit(rows(late, project))
    page = list_sessions(cluster_store, project, limit=100, cache=None)
    assert page.total == 24
    for n in range(24):
        session = get_session(cluster_store, project, f"chat-{n}")
        assert session is not None
        assert (session["trace_count"], session["span_count"], session["input_tokens"]) == (2, 4, 40)
    shards = cluster_store.select("SELECT uniqExact(_shard_num) AS n FROM {db}.spans", tag="test.shards")
    clusters = cluster_store.select("SELECT uniqExact(shard_num) AS n FROM system.clusters WHERE cluster = "
                                    "{cluster:String}", {"cluster": CLUSTER}, tag="test.cluster")
    assert shards[0]["n"] == min(clusters[0]["n"], 2 * 24)


def test_deleting_a_project_mutates_the_local_tables_of_every_shard(cluster_store: Store) -> None:
    repository = ProjectRepository(cluster_store)
    repository.create_project("gone")
    BatchCommitter(cluster_store).commit(rows([span(f"{n + 1:032x}", f"{1:016x}", session=f"s-{n}") for n in range(20)],
                                              "gone"))
    repository.delete_project("gone")
    for table in ("spans", "trace_rollups", "session_rollups", "trace_sessions"):
        left = cluster_store.select(f"SELECT count() AS n FROM {{db}}.{table} WHERE project_id = 'gone'",
                                    tag="test.left")
        assert left == [{"n": 0}], table
