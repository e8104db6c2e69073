"""The span log: acknowledged span batches on local disk, kept until their spans and rollups are in the store.

Why: a spans insert into chDB costs ~25 ms of CPU whatever its size, and every small part it writes is merged again
and again (issue 11, measured on the workload's span tables: 62-66 µs of CPU per span in inserts of 500 spans, 13 µs
in inserts of 10,000 or more). An exporter waits for its acknowledgement, so when a request is acknowledged only
once its spans are inserted, an insert holds at most one request per concurrent exporter. With the log, the
embedded writer acknowledges a request once its rows are in the log (an Arrow IPC file written and renamed into
place, ~1 ms), and inserts what the log gathered meanwhile in one statement.

Durability is what chDB's own inserts give (neither is fsynced by default): a ``kill -9`` loses nothing written, a
power cut may lose what the OS had not flushed. A batch's file is removed only after its spans and rollups are
written; a start replays every file left (:func:`replay`), and a replay is exact whether the crash came before the
insert, between the insert and the rollups, or after them (a commit of spans already stored rebuilds their traces,
DESIGN.md "Rollups are exact under replays").

Layout: ``<directory>/<sequence, 20 digits>.arrow``, one Arrow IPC file per acknowledged batch, oldest first; a
``.tmp`` file is a batch whose write was cut short (never acknowledged) and is removed on open.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from threadline.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from threadline.store.gateway import Store
    from threadline.writer.commit import BatchCommitter

log = logging.getLogger("threadline.writer")
_SUFFIX = ".arrow"
_PARTIAL = ".tmp"


class SpanLogError(RuntimeError):
    """A log file could not be read back (e.g. damaged on disk); the message names the file and what to do."""


class SpanLog:
    """The span log in ``directory`` (created if missing). Batches are numbered in the order they are appended;
    numbers keep increasing across restarts. Methods are called from one writer at a time (not thread-safe
    between :meth:`append` calls). Raises OSError on I/O errors."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for partial in directory.glob(f"*{_PARTIAL}"):
            partial.unlink()  # a write cut short: its batch was never acknowledged
        numbers = self.pending()
        self._next = (numbers[-1] + 1) if numbers else 1

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:020d}{_SUFFIX}"

    def append(self, table: pa.Table) -> int:
        """Write ``table`` (span rows, :data:`~threadline.ingest.spans.SPAN_SCHEMA`) as the next batch and return
        its number. Once this returns, a restart replays the batch until :meth:`discard` removes it. Raises
        StoreUnavailable when the file cannot be written (disk full, directory gone): nothing of it is left, and
        the API answers 503 with Retry-After."""
        number = self._next
        self._next += 1
        final = self._path(number)
        partial = final.with_suffix(_PARTIAL)
        try:
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            os.replace(partial, final)  # whole or absent
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise StoreUnavailable(f"cannot write the span log in {self.directory}: {exc}",
                                   tag="writer.span_log") from None
        return number

    def pending(self) -> list[int]:
        """Numbers of the batches in the log, oldest first."""
        return sorted(int(path.stem) for path in self.directory.glob(f"*{_SUFFIX}") if path.stem.isdigit())

    def read(self, number: int) -> pa.Table:
        """The rows of batch ``number``. Raises SpanLogError when the file cannot be read."""
        path = self._path(number)
        try:
            with pa.memory_map(str(path)) as source:
                return pa.ipc.open_file(source).read_all()
        except (OSError, pa.ArrowInvalid) as exc:
            raise SpanLogError(f"span log file {path} cannot be read ({exc}); move it out of {self.directory} to "
                               "start without it (its spans were acknowledged and will be missing)") from None

    def discard(self, numbers: Iterable[int]) -> None:
        """Remove batches whose spans and rollups are written."""
        for number in numbers:
            self._path(number).unlink(missing_ok=True)


def of_store(store: Store) -> SpanLog | None:
    """The span log of an embedded store's database (``<chDB data dir>/span-log/<database>``), else None: a
    ClickHouse server is shared by processes and machines, whose local disks are no log of it."""
    from threadline.store.chdb_transport import ChdbTransport

    if not isinstance(store.transport, ChdbTransport):
        return None
    return SpanLog(store.transport.data_dir / "span-log" / store.database)


def replay(span_log: SpanLog, committer: BatchCommitter, max_spans: int = 20_000) -> int:
    """Commit every batch left in ``span_log`` (a crash or ``kill -9`` before their rollups were written), oldest
    first, consecutive batches together up to ``max_spans`` spans, and remove each once committed. Run on start,
    before accepting writes. Returns the number of spans replayed. Raises SpanLogError, StoreError (the batches
    not committed stay in the log for the next start)."""
    numbers = span_log.pending()
    replayed = gathered = 0
    group: list[int] = []
    tables: list[pa.Table] = []

    def commit() -> None:
        nonlocal replayed, gathered
        if group:
            committer.commit(pa.concat_tables(tables))
            span_log.discard(group)
            replayed += gathered
            gathered = 0
            group.clear()
            tables.clear()

    for number in numbers:
        table = span_log.read(number)
        if tables and gathered + table.num_rows > max_spans:
            commit()
        group.append(number)
        tables.append(table)
        gathered += table.num_rows
    commit()
    if replayed:
        log.info("committed %d span(s) of %d acknowledged batch(es) left in the span log", replayed, len(numbers))
    return replayed
