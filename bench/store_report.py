"""Look inside an embedded store after its server stopped (active parts per table, the largest columns, the parts
after ``OPTIMIZE TABLE ... FINAL``), and aggregate the server's ``system.query_log`` per query tag over a time window.

chDB lets one process own a data directory, so the store is opened here only once ``threadline serve`` has exited;
the query log is the Parquet file the server wrote at exit (``serving.BOOTSTRAP``), since chDB's system tables do not
survive a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PARTS = """
SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk,
       sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed
FROM system.parts WHERE database = '{db}' AND active GROUP BY table ORDER BY bytes_on_disk DESC
"""
COLUMNS = """
SELECT table, name AS column, data_compressed_bytes AS compressed, data_uncompressed_bytes AS uncompressed
FROM system.columns WHERE database = '{db}' AND table IN ('spans', 'trace_rollups', 'session_rollups')
ORDER BY compressed DESC LIMIT {limit}
"""
def query_log(path: Path, start: float, end: float) -> list[dict[str, Any]]:
    """Queries of the server's query log (Parquet at ``path``) that finished between ``start`` and ``end`` (Unix
    seconds), per tag (``log_comment``): count, total/avg/p50/max ms, rows and bytes read and written, parts and
    marks selected, CPU ms, peak memory; sorted by total ms. Failed queries are counted in ``failures``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    log = pq.read_table(path)
    micros = log.column("event_us")
    log = log.filter(pc.and_(pc.greater_equal(micros, int(start * 1e6)), pc.less(micros, int(end * 1e6))))
    out = []
    for tag in sorted(set(log.column("tag").to_pylist()) - {""}):
        rows = log.filter(pc.equal(log.column("tag"), tag))
        done = rows.filter(pc.equal(rows.column("type"), "QueryFinish"))
        durations = sorted(done.column("query_duration_ms").to_pylist())
        if not durations:
            continue

        def total(name: str, table: Any = done) -> int:
            return int(pc.sum(table.column(name)).as_py() or 0)

        out.append({"tag": tag, "queries": len(durations), "total_ms": sum(durations),
                    "avg_ms": round(sum(durations) / len(durations), 1), "p50_ms": durations[len(durations) // 2],
                    "max_ms": durations[-1], "read_rows": total("read_rows"), "read_bytes": total("read_bytes"),
                    "written_rows": total("written_rows"), "written_bytes": total("written_bytes"),
                    "selected_parts": total("selected_parts"), "selected_marks": total("selected_marks"),
                    "cpu_ms": total("cpu_us") // 1000, "max_memory": int(pc.max(done.column("memory_usage")).as_py()),
                    "failures": rows.num_rows - done.num_rows})
    return sorted(out, key=lambda row: -row["total_ms"])


def merges(path: Path, start: float, end: float) -> list[dict[str, Any]]:
    """Background merges of the server's part log (Parquet at ``path``) that finished between ``start`` and ``end``
    (Unix seconds), per table: count, total ms, CPU ms, rows and uncompressed bytes read, bytes written, the
    largest peak memory of one merge; sorted by CPU."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    log = pq.read_table(path)
    micros = log.column("event_us")
    log = log.filter(pc.and_(pc.greater_equal(micros, int(start * 1e6)), pc.less(micros, int(end * 1e6))))
    out = []
    for table in sorted(set(log.column("table").to_pylist())):
        rows = log.filter(pc.equal(log.column("table"), table))

        def total(name: str, rows: Any = rows) -> int:
            return int(pc.sum(rows.column(name)).as_py() or 0)

        out.append({"table": table, "merges": rows.num_rows, "total_ms": total("duration_ms"),
                    "cpu_ms": total("cpu_us") // 1000, "rows": total("rows"), "read_bytes": total("read_bytes"),
                    "written_bytes": total("size_in_bytes"),
                    "max_memory": int(pc.max(rows.column("peak_memory_usage")).as_py() or 0)})
    return sorted(out, key=lambda row: -row["cpu_ms"])


class StoreReport:
    """An embedded store opened read-write in this process (the server must have stopped)."""

    def __init__(self, data_dir: Path, database: str) -> None:
        from chdb import session

        self.session = session.Session(str(data_dir.resolve()))
        self.database = database

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run ``sql``; its rows as dicts."""
        import pyarrow as pa

        data = self.session.query(sql, "Arrow").bytes()
        return pa.ipc.open_file(pa.py_buffer(data)).read_all().to_pylist() if data else []

    def parts(self) -> list[dict[str, Any]]:
        """Active parts per table of the database: count, rows, bytes on disk, compressed and raw bytes."""
        return self.rows(PARTS.format(db=self.database))

    def columns(self, limit: int = 15) -> list[dict[str, Any]]:
        """The largest columns (compressed) of the spans and rollup tables."""
        return self.rows(COLUMNS.format(db=self.database, limit=limit))

    def optimize(self) -> float:
        """``OPTIMIZE TABLE ... FINAL`` on every table of the database; returns the seconds it took."""
        import time

        started = time.perf_counter()
        for row in self.rows(f"SELECT name FROM system.tables WHERE database = '{self.database}' "
                             "AND engine LIKE '%MergeTree'"):
            self.session.query(f"OPTIMIZE TABLE {self.database}.`{row['name']}` FINAL")
        return time.perf_counter() - started

    def close(self) -> None:
        """Close the session (old parts of merged tables are removed from disk as the engine shuts down)."""
        self.session.close()
