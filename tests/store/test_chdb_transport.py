"""The embedded transport's connection pools: concurrent parameterised queries each get their own parameters back
(chDB binds a connection's parameters outside its statement lock), inserts run beside queries, and ``writes_held``
holds every insert and leaves one query connection, so a statement of the block never runs beside another."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from threadline.store.chdb_transport import QUERY_CONNECTIONS, ChdbTransport
from threadline.store.gateway import Store


def _embedded(chdb_dir: Path) -> tuple[Store, ChdbTransport]:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    store.command("CREATE DATABASE IF NOT EXISTS {db}", tag="test.create")
    transport = store.transport
    assert isinstance(transport, ChdbTransport)
    return store, transport


def test_concurrent_queries_each_get_their_own_parameters(chdb_dir: Path) -> None:
    store, _ = _embedded(chdb_dir)

    def ask(n: int) -> tuple[int, int]:
        row = store.select("SELECT {n:UInt64} AS n, count() AS c FROM numbers({n:UInt64})", {"n": n}, tag="test.n")[0]
        return int(row["n"]), int(row["c"])

    try:
        with ThreadPoolExecutor(max_workers=QUERY_CONNECTIONS + 1) as pool:
            answers = list(pool.map(ask, range(600)))
        assert answers == [(n, n) for n in range(600)]
    finally:
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def test_writes_held_holds_inserts_and_leaves_one_query_connection(chdb_dir: Path) -> None:
    store, transport = _embedded(chdb_dir)
    store.command("CREATE TABLE {db}.t (x UInt64) ENGINE = MergeTree ORDER BY x", tag="test.table")
    finished: list[str] = []

    def insert() -> None:
        store.insert("t", pa.table({"x": pa.array([1], pa.uint64())}), tag="test.insert")
        finished.append("insert")

    def query() -> None:
        store.select("SELECT 1 AS one", tag="test.query")
        finished.append("query")

    try:
        with transport.writes_held():
            others = [threading.Thread(target=insert), threading.Thread(target=query)]
            for thread in others:
                thread.start()
            time.sleep(0.5)
            assert "insert" not in finished  # inserts wait for the block; a read takes the one connection left
            # the block's statements run, on that connection, one at a time with any other
            assert store.select("SELECT count() AS n FROM {db}.t", tag="test.count")[0]["n"] == 0
            assert "insert" not in finished
        for thread in others:
            thread.join(timeout=30)
        assert sorted(finished) == ["insert", "query"]
        assert store.select("SELECT count() AS n FROM {db}.t", tag="test.count")[0]["n"] == 1
    finally:
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")
