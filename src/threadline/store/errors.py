"""Our own exception types for store failures, so callers never depend on a driver's exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store failure. ``tag`` names the statement (the gateway's query tag)."""

    def __init__(self, message: str, *, tag: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.tag = tag
        self.code = code


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened (server down, data directory locked by another process)."""


class QueryError(StoreError):
    """ClickHouse rejected a statement (syntax, unknown column, bad parameter). ``code`` is ClickHouse's error code."""
