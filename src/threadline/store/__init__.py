"""The store: one gateway for every ClickHouse statement, its transports, schema and migrations."""

from threadline.store.errors import QueryError, StoreError, StoreUnavailable
from threadline.store.gateway import Store

__all__ = ["QueryError", "Store", "StoreError", "StoreUnavailable"]
