"""Commit one batch of span rows: insert the spans, fold them into their traces' state, write the rollups.

This is the only code path that writes spans and rollups; the embedded group-commit writer and the scaled worker
both call :meth:`BatchCommitter.insert` then :meth:`BatchCommitter.recompute_inserted`. The work of a commit is
bounded by its batch (DESIGN.md, "A commit's cost is proportional to its batch"):

1. the batch is recorded as pending in the journal (:mod:`threadline.writer.journal`), then its spans are inserted;
2. the touched traces' narrow merge states are read by primary key (``trace_state``); a trace whose batch spans are
   all new to it is folded incrementally (:func:`threadline.writer.trace_state.fold`), a trace the batch repeats a
   span of (a replay or a corrected resend) is rebuilt from its deduplicated stored spans by the same fold;
3. trace rollups are written, with tombstones under every session a trace may have left; each touched session is
   re-aggregated from its traces' narrow rollup columns, and only its two winning texts are fetched (usually from
   this batch, else from a cache of recent texts, else by primary key);
4. links, then trace states, then the journal's "done" are written last: a commit cut short anywhere is redone
   exactly by its replay (the spans it inserted are in storage but not in the state, or are in both and take the
   rebuild path), by the next commit of this process (its traces are rebuilt), or by the next start (the journal).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import pyarrow as pa

from threadline import rollups
from threadline.ingest.spans import SpanBatch, as_table
from threadline.store.gateway import Store
from threadline.writer import journal
from threadline.writer.known_traces import KnownTraces
from threadline.writer.text_cache import TextCache
from threadline.writer.trace_state import (
    SpanFacts,
    TraceState,
    fold,
    rollups_table,
    state_from_row,
    states_table,
)
from threadline.writer.versions import LocalVersions, VersionSource

log = logging.getLogger("threadline.writer")
Key = tuple[str, str]
# Held around every rollup pass over the given project ids, beside the committer's own (per-process) lock: the
# scaled deployment passes Redis locks here, so passes of every process that writes rollups are serialised.
RecomputeGuard = Callable[[set[str]], AbstractContextManager[None]]
RECOVERY_CHUNK = 5000
# Settings of the writer's inserts into spans and rollups. ``optimize_on_insert = 0``: ClickHouse would otherwise run
# each inserted block through its ReplacingMergeTree merge (every column copied once more) to collapse rows of one
# key within the block. Every read of these tables collapses them anyway (``FINAL``, or the version join of content
# search), as it must for rows of one key in different parts, and merges collapse them on disk. In-process commits of
# the benchmark's workload (150k spans, ~12k per commit, A/B three times): chDB's query threads 39-44 -> 28-34 µs of
# CPU per span, the process 122-143 -> 112-131.
WRITE_SETTINGS = {"optimize_on_insert": 0}
# ``trace_rollups`` parts get their text indexes (content search) from their first merge rather than at insert: a
# merge rebuilds every index of the parts it merges anyway, so building one at insert was work done twice. A search
# reads the few small parts not merged yet in full, which the index could not spare much of (a part holds ~4k traces).
TRACE_ROLLUP_WRITE_SETTINGS = {**WRITE_SETTINGS, "materialize_skip_indexes_on_insert": 0}


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: spans inserted, traces and sessions whose rollups were written, traces that changed
    session, and traces rebuilt from their stored spans (replays, corrections, recoveries)."""

    spans: int
    traces: int
    sessions: int
    moved_traces: int
    rebuilt_traces: int = 0


@dataclass(frozen=True)
class InsertedBatch:
    """A batch whose spans are inserted: the (project_id, trace_id) pairs it touched, its span count, the rollup
    facts of its spans, the journal ids of the batches it holds (several once merged), and the traces each of those
    batches registered as inserted but not folded (one entry per batch and trace; the pass releases them)."""

    traces: list[Key]
    spans: int
    facts: SpanFacts | None = None
    batch_ids: tuple[str, ...] = ()
    registered: tuple[Key, ...] = ()

    @classmethod
    def merge(cls, batches: Sequence[InsertedBatch]) -> InsertedBatch:
        """One batch of several inserted ones (their rollups are written in one pass)."""
        facts = [b.facts for b in batches if b.facts is not None and len(b.facts)]
        merged: SpanFacts | None = None
        if facts:
            merged = SpanFacts.concat(facts)
        return cls(sorted({key for b in batches for key in b.traces}), sum(b.spans for b in batches), merged,
                   tuple(i for b in batches for i in b.batch_ids), tuple(k for b in batches for k in b.registered))


def batch_token(table: pa.Table) -> str:
    """Deduplication token of a batch: a hash of its full content (ingest time included), so the same batch
    committed again (a retry after a failure between insert and acknowledgement) is skipped by ClickHouse, while a
    client's replay, or a corrected resend, is inserted and collapses by the ``ReplacingMergeTree`` key. 40 hex
    digits: SHA-256 of the batch's Arrow IPC stream, truncated (SHA-256 runs on the CPU's SHA extensions: 2.5 times
    faster than blake2b on this path, where a 1,000-span batch is a few MB)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()[:40]


@dataclass(frozen=True)
class RemovedTraces:
    """What :meth:`BatchCommitter.remove_traces` changed: ``sessions`` that lost traces and, of those, the
    ``emptied`` ones (no trace left; their rollups are tombstoned), as (project_id, session_id) pairs."""

    sessions: list[Key]
    emptied: list[Key]


@dataclass
class _Pass:
    """The traces of one rollup pass: their new states, the session each was in before (None: no state), and
    the (project, session, trace) rows each may have left."""

    states: list[TraceState] = field(default_factory=list)
    prior: dict[Key, str | None] = field(default_factory=dict)
    prior_version: dict[Key, int] = field(default_factory=dict)
    rebuilt: int = 0


class BatchCommitter:
    """Commits batches to ``store``; one rollup pass at a time (passes of one process are serialised by a lock).

    ``guard``: a context manager factory entered, with the project ids of the pass, before that lock. A pass reads
    trace states and writes newer ones, so two concurrent passes over one trace could lose one's spans; across
    processes (queue workers, and the API's session deletions beside them) the guard serialises them.
    ``text_cache_bytes`` bounds the cache of recently written trace texts (:class:`TextCache`), and
    ``winner_text_bytes`` each of the caches of sessions' winning first inputs and last outputs; an exclusive
    writer keeps the states of the last ``state_cache_size`` traces it wrote (a root usually arrives within
    seconds of its children: 20,000 traces is minutes of ingest at full speed, ~40 MB).
    ``versions``: where rollup versions come from (:mod:`threadline.writer.versions`); by default a counter of this
    process seeded from the store (right for a store's only writer); writers that share a store pass the shared
    :class:`~threadline.writer.versions.RedisVersions`.
    """

    def __init__(self, store: Store, guard: RecomputeGuard | None = None, *, exclusive: bool = False,
                 text_cache_bytes: int = 32 * 1024 * 1024, state_cache_size: int = 20_000,
                 winner_text_bytes: int = 8 * 1024 * 1024, versions: VersionSource | None = None) -> None:
        self.store = store
        # The only writer of its store (an embedded chDB directory): it may keep the states it wrote and know,
        # from a Bloom filter of every stored trace key, which traces are new without reading them.
        self.exclusive = exclusive
        self._states: OrderedDict[Key, TraceState] = OrderedDict()
        self._state_cache_size = state_cache_size
        self._known: KnownTraces | None = None
        self._lock = threading.Lock()
        self._versions = versions or LocalVersions(store)
        self._guard = guard
        self._texts = TextCache(text_cache_bytes)
        # The texts that won a session's first input and its last output, apart from the recent traces' texts: a
        # session's first input is usually its first trace's, written long before its later turns, by which time
        # newer texts have pushed it out of ``_texts`` (at 1M stored spans: 2 µs of re-reads per span, growing).
        self._winners = (TextCache(winner_text_bytes), TextCache(winner_text_bytes))
        # Traces of an insert or a pass that failed part-way: their stored spans may be ahead of their state, so
        # the next pass rebuilds them from the spans (whether or not a replay of the failed batch ever comes).
        # Each mark is numbered, so a pass clears only the marks it saw (not one an insert failing beside it set).
        self._suspect: dict[Key, int] = {}
        self._marks = 0
        self._suspect_lock = threading.Lock()
        # Traces of batches inserted but not yet folded (how many such batches each), for remove_traces.
        self._unfolded: Counter[Key] = Counter()

    def _insert(self, table: str, rows: pa.Table, tag: str, *, dedup_token: str | None = None,
                settings: Mapping[str, int] = WRITE_SETTINGS) -> None:
        """A write of the commit itself into ``table``, with the writer's insert settings. Raises StoreError."""
        self.store.insert(table, rows, tag=tag, dedup_token=dedup_token, settings=settings)

    def _serialised(self, traces: Iterable[Key]) -> AbstractContextManager[None]:
        if self._guard is None:
            return contextlib.nullcontext()
        return self._guard({project for project, _ in traces})

    def _next_version(self) -> int:
        # Taken inside the guard: under the Redis rollup lock, a shared source's version is above every version of
        # the passes before this one, whichever process ran them and whatever its clock says.
        return self._versions.next()

    def commit(self, rows: SpanBatch, token: str | None = None) -> CommitResult:
        """Insert ``rows`` (span rows, or their Arrow table, of any projects) and write what they touch.
        Raises StoreError; on error the batch may be committed again safely."""
        return self.recompute_inserted(self.insert(rows, token))

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        """First half of a commit: journal the batch as pending and insert its spans (safe to run beside
        :meth:`recompute_inserted` of another batch). Raises StoreError."""
        if not len(rows):
            return InsertedBatch([], 0)
        table = as_table(rows)
        token = token or batch_token(table)
        traces = sorted(set(zip(table.column("project_id").to_pylist(), table.column("trace_id").to_pylist(),
                                strict=True)))
        with self._suspect_lock:
            self._unfolded.update(traces)
        try:
            journal.record_pending(self.store, token, traces, self._versions.next())
            self._insert("spans", table, "writer.insert_spans", dedup_token=token)
        except Exception:
            self._mark_suspect(traces)  # the spans may be stored though the insert failed
            self._folded(traces)
            raise
        return InsertedBatch(traces, table.num_rows, SpanFacts.from_spans(table), (token,), tuple(traces))

    def recompute_inserted(self, inserted: InsertedBatch) -> CommitResult:
        """Second half of a commit: links and rollups of an inserted batch's traces (one at a time per process).
        Raises StoreError."""
        if not inserted.traces:
            return CommitResult(0, 0, 0, 0)
        try:
            with self._serialised(inserted.traces), self._lock:
                return self._pass(inserted.traces, inserted.facts, inserted.spans, inserted.batch_ids)
        finally:
            self._folded(inserted.registered)

    def _folded(self, traces: Sequence[Key]) -> None:
        with self._suspect_lock:
            self._unfolded.subtract(traces)
            for key in traces:
                if self._unfolded.get(key, 0) <= 0:
                    self._unfolded.pop(key, None)

    def next_version(self) -> int:
        """A rollup version later than every rollup written so far by this committer and by every writer sharing
        its version source (for rows written beside it: a session created ahead of its traffic, the tombstone of a
        deleted session). Raises StoreError, redis.RedisError."""
        with self._lock:
            return self._next_version()

    def recompute_traces(self, traces: list[Key]) -> CommitResult:
        """Rebuild links and rollups of ``traces`` ((project_id, trace_id) pairs) from their stored spans."""
        keys = sorted(set(traces))
        with self._serialised(keys), self._lock:
            return self._pass(keys, None, 0, ())

    def remove_traces(self, traces: list[Key], delete_rows: Callable[[list[Key]], None]) -> RemovedTraces:
        """Take ``traces`` ((project_id, trace_id) pairs) out of every rollup, then call ``delete_rows(traces)`` to
        delete their stored rows (retention). Each trace's rollup row is tombstoned and the sessions it was in are
        re-aggregated from the traces that remain (an emptied session's rollup is tombstoned), so no session is
        shown with the stats of deleted data. Runs as one pass (under the lock and guard), so no commit folds a
        late span into a trace half removed. ``delete_rows`` must delete the traces' ``trace_state`` rows last: a
        removal cut short (crash, StoreError) leaves them in place, so running it again finishes it exactly.
        Returns the sessions that lost traces and those left empty. Raises StoreError."""
        keys = sorted(set(traces))
        if not keys:
            return RemovedTraces([], [])
        with self._serialised(keys), self._lock:
            version = self._next_version()
            stored = self._stored_states(keys)
            ghosts = [TraceState(p, t, session_id=state.session_id, start_ns=0) for (p, t), state in stored.items()]
            if ghosts:
                rows = rollups_table(ghosts, version)
                rows = rows.set_column(rows.schema.get_field_index("is_deleted"), "is_deleted",
                                       pa.array([1] * len(ghosts), pa.uint8()))
                self.store.insert("trace_rollups", rows, tag="retention.trace_tombstones")
            touched = sorted({(s.project_id, s.session_id) for s in stored.values() if s.session_id})
            emptied = self._write_sessions(touched, {}, version) if touched else []
            for key in keys:
                self._states.pop(key, None)  # a later span of the same id starts a fresh trace
            delete_rows(keys)
            # A late span of one of these traces may have been inserted (outside the lock) before its rows were
            # deleted, its fold still to come: that pass must rebuild the trace from what is stored, not fold.
            with self._suspect_lock:
                late = [key for key in keys if key in self._unfolded]
            self._mark_suspect(late)
        return RemovedTraces(touched, emptied)

    def recover(self, chunk: int = RECOVERY_CHUNK) -> int:
        """Rebuild the traces of every batch the journal still holds as pending (a crash between a batch's insert
        and its rollups; after an upgrade, every trace stored before the trace states existed). Run on start,
        before accepting writes. Returns the number of traces rebuilt."""
        count = 0
        for batch_id, keys in journal.pending(self.store):
            for at in range(0, len(keys), chunk):
                count += self.recompute_traces(keys[at:at + chunk]).traces
            journal.record_done(self.store, [batch_id], self.next_version())
        if count:
            log.info("rebuilt the rollups of %d trace(s) of pending batches", count)
        return count

    # ------------------------------------------------------------------------------------------------ the pass

    def _mark_suspect(self, keys: Iterable[Key]) -> None:
        with self._suspect_lock:
            for key in keys:
                self._marks += 1
                self._suspect[key] = self._marks

    def _pass(self, keys: list[Key], facts: SpanFacts | None, span_count: int,
              batch_ids: Sequence[str]) -> CommitResult:
        with self._suspect_lock:
            seen = dict(self._suspect)
        everything = sorted(set(keys) | set(seen))
        try:
            result = self._write(everything, facts, span_count, batch_ids, set(seen))
        except Exception:
            self._mark_suspect(everything)
            for key in everything:
                self._states.pop(key, None)
            raise
        with self._suspect_lock:
            for key, mark in seen.items():
                if self._suspect.get(key) == mark:
                    del self._suspect[key]
        return result

    def _write(self, keys: list[Key], facts: SpanFacts | None, span_count: int,
               batch_ids: Sequence[str], suspect: set[Key]) -> CommitResult:
        version = self._next_version()
        stored = self._stored_states(keys)
        work = self._fold(keys, facts, stored, suspect)
        self._read_missing_texts(work)
        states = work.states

        left: list[tuple[str, str, str]] = []  # (project, session it leaves, trace)
        for state in states:
            prior = work.prior[state.key]
            candidates = set(state.named_sessions) | ({prior} if prior is not None else set()) | (
                {""} if not prior else set())
            left += [(state.project_id, other, state.trace_id) for other in sorted(candidates - {state.session_id})]
        live = rollups_table(states, version)
        if left:
            # A tombstone replaces the trace's row under each session (or the no-session group) it left.
            ghosts = [TraceState(p, t, session_id=s, start_ns=0) for p, s, t in left]
            stale = rollups_table(ghosts, version)
            stale = stale.set_column(stale.schema.get_field_index("is_deleted"), "is_deleted",
                                     pa.array([1] * len(left), pa.uint8()))
            live = pa.concat_tables([stale, live])
        self._insert("trace_rollups", live, "writer.insert_trace_rollups", settings=TRACE_ROLLUP_WRITE_SETTINGS)
        fresh = {s.key: (s.input or "", s.output or "") for s in states}

        emptied = {(p, s) for p, s, _ in left if s}
        touched = sorted({(s.project_id, s.session_id) for s in states if s.session_id} | emptied)
        if touched:
            self._write_sessions(touched, fresh, version)

        changed = [s for s in states if work.prior[s.key] != s.session_id]
        if changed:
            # Links, then states, then the journal, last: a commit cut short before them is redone by its replay.
            self._insert("trace_sessions", pa.table({
                "project_id": [s.project_id for s in changed], "trace_id": [s.trace_id for s in changed],
                "session_id": [s.session_id for s in changed],
                "version": pa.array([version] * len(changed), pa.uint64()),
            }), "writer.insert_links")
        if states:
            self._insert("trace_state", states_table(states, version), "writer.insert_trace_states")
        journal.record_done(self.store, batch_ids, version)
        for state in states:
            input_text, output_text = fresh[state.key]
            self._texts.put((state.project_id, state.trace_id, version), input_text, output_text)
        if self.exclusive:
            self._remember(states, version)
        moved = sum(1 for s in states if work.prior[s.key] is not None and work.prior[s.key] != s.session_id)
        return CommitResult(span_count, len(states), len(touched), moved, work.rebuilt)

    def _stored_states(self, keys: list[Key]) -> dict[Key, TraceState]:
        """The stored states of ``keys`` that exist: an exclusive writer takes those it keeps and reads only the
        keys its filter cannot rule out."""
        to_read = keys
        found: dict[Key, TraceState] = {}
        if self.exclusive:
            if self._known is None or self._known.full:
                self._known = self._load_known()
            to_read = []
            for key in keys:
                kept = self._states.get(key)
                if kept is not None:
                    self._states.move_to_end(key)
                    found[key] = kept  # handed to the pass as is: a failed pass evicts what it folded into
                elif self._known.may_contain(key):
                    to_read.append(key)
        if to_read:
            found.update({(r["project_id"], r["trace_id"]): state_from_row(r) for r in self.store.select(
                rollups.TRACE_STATES, {"keys": to_read}, tag="writer.trace_states")})
        return found

    def _load_known(self) -> KnownTraces:
        # Sized for four times the stored traces (10 bits a key: 5 MB for 1M traces), so that a store that keeps
        # growing reloads rarely; keys become Python objects one record batch at a time, not all at once.
        table = self.store.select_arrow("SELECT project_id, trace_id FROM {db}.trace_state",
                                        tag="writer.known_traces")
        known = KnownTraces(max(1_000_000, 4 * table.num_rows))
        for batch in table.to_batches(max_chunksize=65_536):
            known.update(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True))
        return known

    def _remember(self, states: list[TraceState], version: int) -> None:
        """Keep the states this pass wrote (the objects themselves: the pass is over), at ``version``, without their
        winners' texts (those of the rollup rows of ``version``, in the text cache)."""
        assert self._known is not None
        for state in states:
            state.version = version
            state.input = None if state.input_key else ""
            state.output = None if state.output_key else ""
            self._states[state.key] = state
            self._states.move_to_end(state.key)
            self._known.add(state.key)
        while len(self._states) > self._state_cache_size:
            self._states.popitem(last=False)

    def forget_project(self, project_id: str) -> None:
        """Drop what this committer keeps of ``project_id`` (call after deleting the project's data)."""
        with self._lock:
            for key in [k for k in self._states if k[0] == project_id]:
                del self._states[key]

    def _fold(self, keys: list[Key], facts: SpanFacts | None, stored: dict[Key, TraceState],
              suspect: set[Key]) -> _Pass:
        """New states of ``keys``: folded from ``facts`` where every span is new to the trace, rebuilt from the
        stored spans otherwise (and for every key when ``facts`` is None)."""
        work = _Pass()
        grouped = facts.by_trace() if facts is not None else {}
        rebuild: list[Key] = []
        for key in keys:
            state = stored.get(key)
            work.prior[key] = state.session_id if state is not None else None
            if state is not None:
                work.prior_version[key] = state.version
            indexes = grouped.get(key)
            if facts is None or indexes is None or key in suspect or (
                    state is not None and state.overlaps(facts, indexes)):
                rebuild.append(key)
                continue
            state = state or TraceState(*key)
            fold(state, facts, indexes)
            work.states.append(state)
        if rebuild:
            excluded = {(r["project_id"], r["trace_id"]): set(r["sessions"]) for r in
                        self.store.select(rollups.EXCLUDED_SESSIONS, {"keys": rebuild}, tag="writer.excluded")}
            spans = SpanFacts.from_rows(self.store.select_arrow(rollups.SPAN_FACTS, {"keys": rebuild},
                                                                tag="writer.span_facts"))
            for key, indexes in spans.by_trace().items():
                state = TraceState(*key, excluded_sessions=excluded.get(key, set()))
                fold(state, spans, indexes)
                work.states.append(state)
            work.rebuilt = len(rebuild)
        return work

    def _read_missing_texts(self, work: _Pass) -> None:
        """Fill in the winners' texts a fold kept from stored spans: from the cache, else from the trace's
        ``trace_rollups`` row of the state's version (by primary key)."""
        missing: list[TraceState] = []
        for state in work.states:
            if state.texts_known:
                continue
            cached = self._texts.get((state.project_id, state.trace_id, work.prior_version.get(state.key, 0)))
            if cached is not None:
                state.input = cached[0] if state.input is None else state.input
                state.output = cached[1] if state.output is None else state.output
            else:
                missing.append(state)
        for column in ("input", "output"):
            lacking = [s for s in missing if getattr(s, column) is None]
            if lacking:
                found = self._read_texts(column, [(s.project_id, work.prior[s.key] or "", s.trace_id)
                                                  for s in lacking])
                for state in lacking:
                    setattr(state, column, found.get(state.key, ""))

    def _read_texts(self, column: str, keys: Iterable[tuple[str, str, str]]) -> dict[Key, str]:
        """``column`` (input or output) of the live trace rollup rows at (project, session, trace) ``keys``."""
        rows = self.store.select(rollups.TRACE_TEXT.format(column=column), {"keys": sorted(set(keys))},
                                 tag=f"writer.trace_{column}s")
        return {(r["project_id"], r["trace_id"]): r["text"] for r in rows}

    def _write_sessions(self, touched: list[Key], fresh: dict[Key, tuple[str, str]], version: int) -> list[Key]:
        """Re-aggregate ``touched`` sessions from their traces' narrow rollup columns; tombstone the emptied (and
        return them)."""
        table = self.store.select_arrow(
            rollups.SESSION_ROLLUP, {"projects": sorted({p for p, _ in touched}),
                                     "sessions": sorted({s for _, s in touched})},
            tag="writer.session_rollups", settings=rollups.SESSION_ROLLUP_SETTINGS)
        projects = table.column("project_id").to_pylist()
        sessions = table.column("session_id").to_pylist()
        wanted = set(touched)
        keep = [key in wanted for key in zip(projects, sessions, strict=True)]
        if not all(keep):  # a session id shared by two of the pass's projects, untouched in one of them
            table = table.filter(pa.array(keep))
            projects = [p for p, k in zip(projects, keep, strict=True) if k]
            sessions = [s for s, k in zip(sessions, keep, strict=True) if k]
        winners = {side: (table.column(f"{side}_trace").to_pylist(), table.column(f"{side}_version").to_pylist())
                   for side in ("first_input", "last_output")}
        texts: dict[str, list[str]] = {}
        for side, slot, column in (("first_input", 0, "input"), ("last_output", 1, "output")):
            traces, versions = winners[side]
            values: list[str | None] = []
            fetch: list[tuple[str, str, str]] = []
            for project, session, trace, trace_version in zip(projects, sessions, traces, versions, strict=True):
                text = self._winner_text((project, trace, trace_version), fresh, slot, version)
                if text is None:
                    fetch.append((project, session, trace))
                values.append(text)
            found = self._read_texts(column, fetch) if fetch else {}
            texts[side] = [value if value is not None else found.get((project, trace), "")
                           for value, project, trace in zip(values, projects, traces, strict=True)]
            self._keep_winners(slot, projects, traces, versions, texts[side])
        rows = table.drop_columns([f"{side}_{part}" for side in winners for part in ("trace", "version")])
        count = rows.num_rows
        rows = (rows.append_column("first_input", pa.array(texts["first_input"], pa.string()))
                .append_column("last_output", pa.array(texts["last_output"], pa.string()))
                .append_column("version", pa.array([version] * count, pa.uint64()))
                .append_column("is_deleted", pa.array([0] * count, pa.uint8())))
        if count:
            self._insert("session_rollups", rows, "writer.insert_session_rollups")
        gone = sorted(set(touched) - set(zip(projects, sessions, strict=True)))
        if gone:
            self._insert("session_rollups", pa.table({
                "project_id": [p for p, _ in gone], "session_id": [s for _, s in gone],
                "version": pa.array([version] * len(gone), pa.uint64()),
                "is_deleted": pa.array([1] * len(gone), pa.uint8()),
            }), "writer.session_tombstones")
        return gone

    def _winner_text(self, key: tuple[str, str, int], fresh: dict[Key, tuple[str, str]], slot: int,
                     version: int) -> str | None:
        project, trace, trace_version = key
        if not trace:
            return ""  # no trace of the session has this text
        if trace_version == version and (project, trace) in fresh:
            return fresh[(project, trace)][slot]
        cached = self._texts.get(key) or self._winners[slot].get(key)
        return cached[slot] if cached is not None else None

    def _keep_winners(self, slot: int, projects: list[str], traces: list[str], versions: list[int],
                      texts: list[str]) -> None:
        """Keep the winning texts of one side (``slot`` 0: first inputs, 1: last outputs) of a pass's sessions."""
        kept = self._winners[slot]
        for project, trace, trace_version, text in zip(projects, traces, versions, texts, strict=True):
            key = (project, trace, trace_version)
            if trace and kept.get(key) is None:
                kept.put(key, *((text, "") if slot == 0 else ("", text)))

