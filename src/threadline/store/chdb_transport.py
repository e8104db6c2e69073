"""Embedded transport: chDB (ClickHouse in-process) on a local data directory.

chDB allows one data directory per process and a directory open in one process cannot be opened by another, so
sessions are cached per process by path and shared by every :class:`Store` of that process, with pools of further
connections to the same engine.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.binding import format_bind_value

from threadline.store.errors import QueryError, StoreError, StoreUnavailable

_sessions: dict[str, Any] = {}
_sessions_lock = threading.Lock()
# A chDB connection runs one statement at a time, and chDB 4.4 binds a session's ``params`` outside that critical
# section: concurrent queries on one connection swap or lose each other's parameters (wrong rows, "Substitution `x`
# is not set"). Separate connections to the same engine do not (9,000 concurrent parameterised queries on three
# connections, no error) and run side by side. So each statement borrows a connection of a pool for its duration:
# queries from QUERY_CONNECTIONS (the API's reads no longer wait behind the writer's), inserts from
# INSERT_CONNECTIONS. Each insert has a fixed cost (~10 ms of CPU, more in wall time under load): with one insert
# connection, the group commit's span inserts queued behind the rollup pass's (under ingest a 1-row journal insert
# took 58 ms of wall time, 10 ms of it its own).
QUERY_CONNECTIONS = 3
INSERT_CONNECTIONS = 2
_pools: dict[str, tuple[queue.Queue[Any], queue.Queue[Any]]] = {}
_hold_lock = threading.Lock()  # one writes_held() gathers the pools at a time (two taking half each would deadlock)
_CODE = re.compile(r"Code: (\d+)")
# ClickHouse refuses BACKUP/RESTORE to File(...) outside ``backups.allowed_path`` (a start-up setting). Embedded, the
# store runs as the user's own process, which may write wherever the user may: allow every absolute path.
_START_ARGS = "?backups.allowed_path=/"


def _open_session(path: Path) -> Any:
    from chdb import session as chdb_session

    key = str(path.resolve())
    with _sessions_lock:
        if key not in _sessions:
            if _sessions:
                raise StoreUnavailable(
                    f"chDB already has {next(iter(_sessions))} open in this process; it allows one data directory "
                    "per process"
                )
            path.mkdir(parents=True, exist_ok=True)
            try:
                _sessions[key] = chdb_session.Session(key + _START_ARGS)  # type: ignore[no-untyped-call]
            except Exception as exc:  # chDB raises plain RuntimeError when the directory is locked
                raise StoreUnavailable(
                    f"cannot open the data directory {key}: {exc}. Is another Threadline process using it?"
                ) from exc
        return _sessions[key]


def _connection_pools(path: Path, session: Any) -> tuple[queue.Queue[Any], queue.Queue[Any]]:
    """The process-wide (queries, inserts) connection pools of the directory ``path``, whose session is
    ``session`` (the first query connection): a statement takes a connection (waiting while all are busy) and puts
    it back."""
    import chdb

    key = str(path.resolve())
    with _sessions_lock:
        if key not in _pools:
            queries: queue.Queue[Any] = queue.Queue()
            queries.put(session)
            inserts: queue.Queue[Any] = queue.Queue()
            for _ in range(QUERY_CONNECTIONS - 1):
                queries.put(chdb.connect(key))  # type: ignore[no-untyped-call]
            for _ in range(INSERT_CONNECTIONS):
                inserts.put(chdb.connect(key))  # type: ignore[no-untyped-call]
            _pools[key] = (queries, inserts)
        return _pools[key]


@contextmanager
def _borrowed(pool: queue.Queue[Any]) -> Iterator[Any]:
    connection = pool.get()
    try:
        yield connection
    finally:
        pool.put(connection)


def _bind(params: Mapping[str, Any]) -> dict[str, str]:
    """Render Python values in ClickHouse's parameter text format (clickhouse-connect's own rules)."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, bool):
            value = int(value)
        out[name] = str(format_bind_value(value))
    return out


def _settings_clause(settings: Mapping[str, Any]) -> str:
    if not settings:
        return ""
    parts = [f"{k} = {format_bind_value(v, top_level=False) if isinstance(v, str) else int(v)}" for k, v in
             settings.items()]
    return " SETTINGS " + ", ".join(parts)


def _translate(exc: Exception, sql: str) -> StoreError:
    message = str(exc)
    match = _CODE.search(message)
    return QueryError(message.split("\n")[0], code=int(match.group(1)) if match else None)


class ChdbTransport:
    """Runs statements on the process-wide chDB session for ``data_dir``.

    Raises :class:`StoreUnavailable` when the directory cannot be opened (another process holds it).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._queries, self._inserts = _connection_pools(data_dir, _open_session(data_dir))

    def query_arrow(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> pa.Table:
        try:
            with _borrowed(self._queries) as connection:
                result = connection.query(sql + _settings_clause(settings), "Arrow", params=_bind(params))
        except Exception as exc:
            raise _translate(exc, sql) from None
        data = result.bytes()
        if not data:
            return pa.table({})
        return pa.ipc.open_file(pa.py_buffer(data)).read_all()

    def command(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        try:
            with _borrowed(self._queries) as connection:
                connection.query(sql + _settings_clause(settings), "Null", params=_bind(params))
        except Exception as exc:
            raise _translate(exc, sql) from None

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        columns = ", ".join(f"`{name}`" for name in data.column_names)
        # chDB's Python() table function resolves the variable by name in this frame.
        arrow_rows = data  # noqa: F841
        sql = f"INSERT INTO {table} ({columns}){_settings_clause(settings)} SELECT {columns} FROM Python(arrow_rows)"
        try:
            with _borrowed(self._inserts) as connection:
                connection.query(sql, "Null")
        except Exception as exc:
            raise _translate(exc, sql) from None

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Hold every other statement of this process until the block ends: every insert connection and all query
        connections but one, which the block's statements use one at a time. One statement run in the block (nothing
        else of this process runs beside it) sees the store at one instant: what a kill -9 at that instant would
        leave, which a start recovers exactly (a consistent backup; DESIGN.md, "Durability contract"). The block
        must not insert through this transport (it would wait forever)."""
        with _hold_lock:
            held = [(self._inserts, self._inserts.get()) for _ in range(INSERT_CONNECTIONS)]
            held += [(self._queries, self._queries.get()) for _ in range(QUERY_CONNECTIONS - 1)]
            try:
                yield
            finally:
                for pool, connection in held:
                    pool.put(connection)

    def close(self) -> None:
        """Sessions are process-wide; they are closed at interpreter exit."""
