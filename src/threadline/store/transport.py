"""The transport protocol: the only thing that differs between embedded chDB and a ClickHouse server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa


class Transport(Protocol):
    """Runs already-rendered ClickHouse SQL with server-side bind parameters (``{name:Type}``).

    Implementations translate driver errors into :class:`threadline.store.errors.StoreError` subclasses.
    """

    def query_arrow(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> pa.Table:
        """Run a SELECT and return its rows as an Arrow table."""
        ...

    def command(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER)."""
        ...

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        """Insert an Arrow table into ``table`` (``db.name``); column names match the table's."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
