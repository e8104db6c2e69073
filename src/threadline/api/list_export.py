"""Streaming export of the filtered sessions list: JSON Lines (one :class:`Session` per line) or Parquet.

The sessions are read in keyset chunks (:func:`session_chunks`, ``CHUNK`` sessions each, no ``OFFSET``), and each
chunk is serialised and handed to the response as soon as it is read, so memory stays bounded by one chunk
whatever the number of sessions. Parquet is written as one row group per chunk; its columns follow the
:class:`Session` model (times as ``timestamp[us, UTC]``, lists and maps as Parquet lists and maps, links as a map).
"""

from __future__ import annotations

import io
import json
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from threadline.api import present
from threadline.api.schemas import Session
from threadline.queries.filters import SessionFilters
from threadline.queries.sessions import Keyset, list_sessions
from threadline.queries.sorting import Sort
from threadline.store.gateway import Store

CHUNK = 1000
TIME_FIELDS = frozenset({"first_seen", "last_seen", "created_at", "updated_at"})
_TS = pa.timestamp("us", tz="UTC")


def session_chunks(store: Store, project_id: str, filters: SessionFilters, sort: Sort, *, now_ns: int,
                   idle_timeout_s: float, idle_timeout_ns: int, chunk: int = CHUNK,
                   search: str | None = None) -> Iterator[list[Session]]:
    """The filtered sessions (and those matching ``search``, if given) in ``sort`` order, ``chunk`` at a time, each
    chunk read by keyset after the previous one. Raises StoreError (before the first chunk, or mid-stream)."""
    keyset: Keyset | None = None
    while True:
        page = list_sessions(store, project_id, limit=chunk, filters=filters, sort=sort, keyset=keyset,
                             now_ns=now_ns, idle_timeout_ns=idle_timeout_ns, count=False, cache=None, search=search)
        if page.rows:
            yield [present.session(row, idle_timeout_s) for row in page.rows]
        if not page.has_more or not page.keys:
            return
        keyset = Keyset(page.keys[-1])


def jsonl(chunks: Iterator[list[Session]]) -> Iterator[bytes]:
    """One JSON document per session per line (UTF-8)."""
    for sessions in chunks:
        yield "".join(session.model_dump_json() + "\n" for session in sessions).encode()


def _arrow_type(annotation: Any) -> pa.DataType:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner[0]) if len(inner) == 1 else pa.string()
    origin = typing.get_origin(annotation)
    if origin is list:
        return pa.list_(_arrow_type(typing.get_args(annotation)[0]))
    if origin is dict:
        key, value = typing.get_args(annotation)
        return pa.map_(_arrow_type(key), _arrow_type(value))
    simple = {bool: pa.bool_(), int: pa.int64(), float: pa.float64()}
    return simple.get(annotation, pa.string())  # str, Literal[...]


def parquet_schema() -> pa.Schema:
    """The Parquet columns: one per field of :class:`Session`, in its order."""
    return pa.schema([(name, _TS if name in TIME_FIELDS else _arrow_type(field.annotation))
                      for name, field in Session.model_fields.items()])


def _record(session: Session, schema: pa.Schema) -> dict[str, Any]:
    values = session.model_dump()
    for name in TIME_FIELDS:
        values[name] = datetime.fromisoformat(values[name])
    for field in schema:
        if pa.types.is_map(field.type) and values[field.name] is not None:
            values[field.name] = list(values[field.name].items())
        elif pa.types.is_string(field.type) and not isinstance(values[field.name], str | None):
            values[field.name] = json.dumps(values[field.name])
    return values


class _Sink(io.RawIOBase):
    """A write-only file collecting what the Parquet writer writes, drained after each row group."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def parquet(chunks: Iterator[list[Session]]) -> Iterator[bytes]:
    """A Parquet file, one row group per chunk, streamed as it is written."""
    schema = parquet_schema()
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for sessions in chunks:
            writer.write_table(pa.Table.from_pylist([_record(s, schema) for s in sessions], schema=schema))
            yield sink.drain()
    finally:
        writer.close()
    yield sink.drain()
