"""Server transport: a ClickHouse server or cluster over HTTP, through clickhouse-connect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from threadline.store.errors import QueryError, StoreError, StoreUnavailable


def _translate(exc: Exception) -> StoreError:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, OperationalError):
        return StoreUnavailable(f"ClickHouse server unreachable: {exc}")
    if isinstance(exc, DatabaseError):
        code = getattr(exc, "code", None)
        return QueryError(str(exc).split("\n")[0], code=code if isinstance(code, int) else None)
    return StoreError(str(exc))


class ServerTransport:
    """Runs statements on a ClickHouse server given as ``http[s]://user:password@host:port``.

    Raises :class:`StoreUnavailable` when the server cannot be reached.
    """

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        parts = urlparse(url)
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=parts.username or "default",
                password=parts.password or "",
                secure=parts.scheme == "https",
                autogenerate_session_id=False,
            )
        except Exception as exc:
            raise _translate(exc) from None

    def query_arrow(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> pa.Table:
        try:
            return self._client.query_arrow(sql, parameters=dict(params), settings=dict(settings))
        except Exception as exc:
            raise _translate(exc) from None

    def command(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        try:
            self._client.command(sql, parameters=dict(params), settings=dict(settings))
        except Exception as exc:
            raise _translate(exc) from None

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        try:
            self._client.insert_arrow(table, data, settings=dict(settings))
        except Exception as exc:
            raise _translate(exc) from None

    def close(self) -> None:
        self._client.close()
