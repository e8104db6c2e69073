"""The store gateway: every ClickHouse statement of Threadline goes through :class:`Store`.

It qualifies table names with the configured database (``{db}`` in SQL text is the database, the only text ever
substituted into SQL; it is validated as an identifier), binds user values as typed server-side parameters
(``{name:Type}``), tags each statement (``log_comment``, visible in ``system.query_log``), retries a transport that
is briefly unavailable, and raises only :mod:`threadline.store.errors` types.

On a cluster (``cluster="name"``) it adds the settings every statement needs there and sends mutations to the
tables that hold the rows (:mod:`threadline.store.cluster_sql`); queries and inserts are the same on both layouts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from threadline.store.cluster_sql import CLUSTER_SETTINGS, for_cluster
from threadline.store.errors import StoreUnavailable
from threadline.store.schema import SHARDED_TABLES
from threadline.store.transport import Transport

log = logging.getLogger("threadline.store")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLUSTER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # as in Settings.cluster; rendered inside quotes
Row = dict[str, Any]


def _check_names(database: str, cluster: str | None) -> None:
    if not _IDENTIFIER.match(database):
        raise ValueError(f"database name {database!r} must be a plain identifier (letters, digits, _)")
    if cluster is not None and not _CLUSTER.match(cluster):
        raise ValueError(f"cluster name {cluster!r} must start with a letter or '_' and hold only letters, digits, "
                         "'_', '.' or '-'")


class Store:
    """Gateway to one ClickHouse database over a :class:`Transport`, on one server or across ``cluster`` (a
    cluster name from the servers' ``remote_servers``; ``None`` for chDB or a single server).

    ``retries`` applies to :class:`StoreUnavailable` only (a rejected statement is never retried); waits grow
    from 50 ms, doubling. Raises ValueError for a database or cluster name that is not a plain identifier.
    """

    def __init__(self, transport: Transport, database: str, *, retries: int = 2, cluster: str | None = None) -> None:
        _check_names(database, cluster)
        self.transport = transport
        self.database = database
        self.cluster = cluster
        self._retries = retries
        self._cluster_settings: dict[str, Any] = dict(CLUSTER_SETTINGS) if cluster else {}

    @classmethod
    def embedded(cls, data_dir: Path, database: str) -> Store:
        """Open (creating it if needed) the chDB data directory ``data_dir``. Raises StoreUnavailable."""
        from threadline.store.chdb_transport import ChdbTransport

        return cls(ChdbTransport(data_dir), database, retries=0)

    @classmethod
    def server(cls, url: str, database: str, cluster: str | None = None) -> Store:
        """Connect to a ClickHouse server at ``url`` (``http://user:pass@host:8123``), a node of ``cluster`` when
        given (docs/clickhouse-cluster.md). Raises StoreUnavailable, or ValueError for a bad database/cluster name."""
        from threadline.store.server_transport import ServerTransport

        _check_names(database, cluster)  # before connecting: a typo is reported as such, not as a network error
        return cls(ServerTransport(url), database, cluster=cluster)

    def _sql(self, sql: str) -> str:
        return sql.replace("{db}", self.database)

    def _run(self, tag: str, fn: Any, *args: Any) -> Any:
        delay = 0.05
        for attempt in range(self._retries + 1):
            started = time.perf_counter()
            try:
                result = fn(*args)
            except StoreUnavailable as exc:
                exc.tag = tag
                if attempt >= self._retries:
                    raise
                log.warning("store unavailable for %s, retrying in %.0f ms", tag, delay * 1000)
                time.sleep(delay)
                delay *= 2
                continue
            except Exception as exc:
                if hasattr(exc, "tag"):
                    exc.tag = tag
                raise
            log.debug("%s took %.1f ms", tag, (time.perf_counter() - started) * 1000)
            return result
        raise AssertionError("unreachable")

    def select(self, sql: str, params: Mapping[str, Any] | None = None, *, tag: str,
               settings: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a SELECT; return its rows as dicts (column name → Python value)."""
        return self.select_arrow(sql, params, tag=tag, settings=settings).to_pylist()  # type: ignore[no-any-return]

    def select_arrow(self, sql: str, params: Mapping[str, Any] | None = None, *, tag: str,
                     settings: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a SELECT; return its rows as an Arrow table."""
        all_settings = {"log_comment": tag, **self._cluster_settings, **(settings or {})}
        return self._run(tag, self.transport.query_arrow, self._sql(sql), params or {}, all_settings)

    def command(self, sql: str, params: Mapping[str, Any] | None = None, *, tag: str,
                settings: Mapping[str, Any] | None = None) -> None:
        """Run a statement returning no rows (DDL, ``INSERT ... SELECT``, mutations). On a cluster, mutations of
        sharded tables go to their ``_local`` tables ``ON CLUSTER``; ad-hoc DDL other than ``CREATE|DROP DATABASE``
        raises ValueError (it belongs in a migration)."""
        if self.cluster:
            sql = for_cluster(sql, self.cluster, SHARDED_TABLES)
        all_settings = {"log_comment": tag, **self._cluster_settings, **(settings or {})}
        self._run(tag, self.transport.command, self._sql(sql), params or {}, all_settings)

    def insert(self, table: str, data: pa.Table, *, tag: str, dedup_token: str | None = None,
               settings: Mapping[str, Any] | None = None) -> None:
        """Insert ``data`` into ``table`` (unqualified name), with ClickHouse ``settings`` for this statement. With
        ``dedup_token`` a repeated insert of the same token is skipped by ClickHouse (tables declare
        ``non_replicated_deduplication_window``)."""
        if not _IDENTIFIER.match(table):
            raise ValueError(f"table name {table!r} must be a plain identifier")
        all_settings: dict[str, Any] = {"log_comment": tag, **self._cluster_settings, **(settings or {})}
        if dedup_token is not None:
            all_settings["insert_deduplication_token"] = dedup_token
        self._run(tag, self.transport.insert_arrow, f"{self.database}.{table}", data, all_settings)

    def close(self) -> None:
        """Release the transport."""
        self.transport.close()
