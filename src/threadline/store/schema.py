"""DDL of every table, as numbered migrations.

Sort keys are chosen for the two hot reads:

* **the sessions list of a project** reads ``session_rollups`` only, ordered ``(project_id, session_id)``: one row
  per session, a contiguous key range per project, and ``ReplacingMergeTree(version, is_deleted)`` lets the writer
  replace a session's row whenever it recomputes it (the key must be the session, not its activity time, or a
  recomputed row would not replace the old one).
* **all spans of one session**: ``trace_rollups`` is ordered ``(project_id, session_id, trace_id)``, so a session's
  turns are one key range, and ``spans`` is ordered ``(project_id, trace_id, span_id)``, so each of those traces is
  one key range too (an ``IN`` on the trace ids reads only their granules). Spans are not keyed by session because a
  span's session is not known when it arrives: an id on a later span of the same trace claims it
  (``trace_sessions``).

Granules are smaller than ClickHouse's default 8192 rows because the hot reads are point lookups of scattered keys
(the writer re-reads the touched traces of every batch; a list page reads 50 scattered sessions): each lookup
decompresses whole granules of the text columns, so 1024-row granules on ``spans``/``trace_rollups`` and 256 on
``session_rollups`` cut that read amplification 8-32 times, for a primary index still small enough to keep in memory
(2M spans: ~2,000 marks).

``spans`` is partitioned by the month of ``start_time`` (a span field, so a replayed span lands in the same
partition and collapses with its first copy), and deduplicated on ``(project_id, trace_id, span_id)``.

On a cluster (``threadline migrate --cluster NAME``) the same definitions render ``ON CLUSTER`` with ``Replicated*``
engines (:mod:`threadline.store.table_engines`). Tables that grow with traffic are sharded, each by a function of
its ``ORDER BY`` key so that ``FINAL`` collapses every version of a row on one shard:

* ``spans``, ``trace_sessions``, ``deleted_session_traces``: by trace, ``cityHash64(project_id, trace_id)`` (a span's
  session is not known when it arrives, so spans cannot follow their session);
* ``trace_rollups``: by session, ``cityHash64(project_id, if(session_id = '', trace_id, session_id))``, so a
  session's turns sit on the shard of its ``session_rollups`` and ``session_annotations`` rows
  (``cityHash64(project_id, session_id)``), and traces in no session still spread over every shard;
* ``logs``: by session likewise (records in no session by ``log_id``); ``scores``: ``cityHash64(project_id,
  target_id)``, with its session or its trace.

Small tables (``schema_migrations``, projects, keys, key usage, server secrets, jobs) are not sharded: every node
holds a full replica, so they are read and joined locally. docs/clickhouse-cluster.md explains what each read needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.store.table_engines import (
    UNSHARDED,
    AddColumn,
    AlterStorage,
    CreateTable,
    MergeTree,
    NotOnCluster,
    Operation,
    RebuildTable,
    ReplacingMergeTree,
    Sharded,
    Statement,
)

_DEDUP = "non_replicated_deduplication_window = 1000"
BY_TRACE = Sharded("cityHash64(project_id, trace_id)")
BY_SESSION = Sharded("cityHash64(project_id, session_id)")


@dataclass(frozen=True)
class Migration:
    """One schema change: ``version`` (1, 2, ...) is recorded in ``schema_migrations`` once applied; its
    ``operations`` render to SQL for one server or a cluster (:meth:`statements`)."""

    version: int
    name: str
    operations: tuple[Operation, ...]
    # The oldest ClickHouse (major, minor) that runs it; on an older server it waits, unrecorded, and is applied by
    # the first migrate after an upgrade of the server (threadline.store.migrations).
    min_server: tuple[int, int] | None = None
    # Tables whose changed settings ClickHouse reads only when a table starts (the cleanup's pace): on the embedded
    # store they are detached and attached again right after the migration (threadline.store.migrations); a server
    # reads them at its next restart.
    restart: tuple[CreateTable, ...] = ()

    def statements(self, cluster: str | None = None) -> tuple[str, ...]:
        """The SQL of this migration, in order: locally (``cluster=None``) or ``ON CLUSTER cluster``."""
        return tuple(sql for operation in self.operations for sql in operation.render(cluster))


MIGRATIONS_TABLE = CreateTable("schema_migrations", """\
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)""", ReplacingMergeTree(), """ORDER BY version""",
    UNSHARDED)

SPANS = CreateTable("spans", """\
    project_id LowCardinality(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    session_id String COMMENT 'session id found on this span; membership is trace_sessions',
    user_id String,
    session_previous_id String,
    name String,
    kind LowCardinality(String),
    span_type LowCardinality(String),
    start_time DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    end_time DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ns UInt64,
    status_code LowCardinality(String),
    status_message String,
    service_name LowCardinality(String),
    scope_name LowCardinality(String),
    model LowCardinality(String),
    input_tokens UInt64,
    output_tokens UInt64,
    total_tokens UInt64,
    cost_usd Float64,
    reported_cost_usd Float64 COMMENT 'trace total reported by the client on this span, 0 when none',
    reported_tokens UInt64,
    end_state LowCardinality(String),
    trace_name String COMMENT 'native ingest trace name, on the root span',
    metadata Map(LowCardinality(String), String),
    tags Array(String),
    input String CODEC(ZSTD(3)),
    output String CODEC(ZSTD(3)),
    attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    events_time Array(DateTime64(9, 'UTC')),
    events_name Array(LowCardinality(String)),
    events_attributes Array(Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    ingested_at DateTime64(6, 'UTC')""", ReplacingMergeTree("ingested_at"), """PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, trace_id, span_id)
SETTINGS index_granularity = 1024, """ + _DEDUP,
    BY_TRACE)

TRACE_SESSIONS = CreateTable("trace_sessions", """\
    project_id LowCardinality(String),
    trace_id String,
    session_id String COMMENT 'empty: the trace belongs to no session',
    version UInt64""", ReplacingMergeTree("version"), """ORDER BY (project_id, trace_id)""",
    BY_TRACE)

TRACE_ROLLUPS = CreateTable("trace_rollups", """\
    project_id LowCardinality(String),
    session_id String,
    trace_id String,
    name String,
    user_id String,
    start_time DateTime64(9, 'UTC'),
    end_time DateTime64(9, 'UTC'),
    duration_ms Float64,
    span_count UInt32,
    llm_call_count UInt32,
    tool_call_count UInt32,
    error_count UInt32,
    input_tokens UInt64,
    output_tokens UInt64,
    total_tokens UInt64,
    cost_usd Float64,
    models Array(LowCardinality(String)),
    input String CODEC(ZSTD(3)),
    output String CODEC(ZSTD(3)),
    status_code LowCardinality(String),
    end_state LowCardinality(String),
    previous_session_id String,
    metadata Map(LowCardinality(String), String),
    tags Array(String),
    version UInt64,
    is_deleted UInt8""", ReplacingMergeTree("version", "is_deleted"), """ORDER BY (project_id, session_id, trace_id)
SETTINGS index_granularity = 1024""",
    Sharded("cityHash64(project_id, if(session_id = '', trace_id, session_id))"))

SESSION_ROLLUPS = CreateTable("session_rollups", """\
    project_id LowCardinality(String),
    session_id String,
    user_id String,
    trace_count UInt32,
    span_count UInt64,
    llm_call_count UInt64,
    tool_call_count UInt64,
    error_count UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    total_tokens UInt64,
    total_cost_usd Float64,
    total_duration_ms Float64,
    wall_duration_ms Float64,
    avg_latency_ms Float64,
    p50_latency_ms Float64,
    p95_latency_ms Float64,
    first_seen DateTime64(9, 'UTC'),
    last_seen DateTime64(9, 'UTC'),
    models Array(LowCardinality(String)),
    first_input String CODEC(ZSTD(3)),
    last_output String CODEC(ZSTD(3)),
    end_state LowCardinality(String) COMMENT 'explicit end state reported on a span, empty when none',
    previous_session_id String,
    metadata Map(LowCardinality(String), String),
    tags Array(String),
    version UInt64,
    is_deleted UInt8""", ReplacingMergeTree("version", "is_deleted"), """ORDER BY (project_id, session_id)
SETTINGS index_granularity = 256""",
    BY_SESSION)

SESSION_ANNOTATIONS = CreateTable("session_annotations", """\
    project_id LowCardinality(String),
    session_id String,
    name String,
    metadata Map(LowCardinality(String), String),
    tags Array(String),
    bookmarked UInt8,
    end_state LowCardinality(String),
    deleted UInt8,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC')""", ReplacingMergeTree("updated_at"), """ORDER BY (project_id, session_id)""",
    BY_SESSION)

PROJECTS = CreateTable("projects", """\
    project_id String,
    name String,
    created_at DateTime64(3, 'UTC'),
    deleted UInt8,
    version UInt64""", ReplacingMergeTree("version"), """ORDER BY project_id""",
    UNSHARDED)

# Keys are stored only as HMAC-SHA256(salt, secret); the secret is shown once, at creation.
API_KEYS = CreateTable("api_keys", """\
    key_id String,
    project_id String,
    name String,
    salt String,
    secret_hash String,
    created_at DateTime64(3, 'UTC'),
    revoked UInt8,
    version UInt64""", ReplacingMergeTree("version"), """ORDER BY key_id""",
    UNSHARDED)

# Last use lives apart from api_keys so that recording a use can never overwrite a revocation.
API_KEY_USAGE = CreateTable("api_key_usage", """\
    key_id String,
    last_used_at DateTime64(3, 'UTC')""", ReplacingMergeTree("last_used_at"), """ORDER BY key_id""",
    UNSHARDED)

# Plain MergeTree: every replica reads the earliest secret ever written, whichever won a creation race.
SERVER_SECRETS = CreateTable("server_secrets", """\
    name String,
    value String,
    created_at DateTime64(3, 'UTC')""", MergeTree(), """ORDER BY name""",
    UNSHARDED)

# Scores and notes on sessions and traces (``target`` is 'session' or 'trace', ``target_id`` the external session id or
# the trace id). Deleting a score writes its row again with deleted = 1.
SCORES = CreateTable("scores", """\
    project_id LowCardinality(String),
    target LowCardinality(String),
    target_id String,
    score_id String,
    name LowCardinality(String),
    data_type LowCardinality(String) COMMENT 'numeric, categorical or boolean',
    numeric_value Float64 COMMENT 'the value of numeric and boolean (0/1) scores',
    string_value String COMMENT 'the value of categorical scores',
    comment String CODEC(ZSTD(3)),
    source LowCardinality(String) COMMENT 'human, llm or code',
    created_at DateTime64(3, 'UTC'),
    deleted UInt8,
    version UInt64""", ReplacingMergeTree("version"), """ORDER BY (project_id, target, target_id, score_id)""",
    Sharded("cityHash64(project_id, target_id)"))

# OTLP log records (POST /v1/logs); session_id as extracted from the record's attributes or resource, or from the
# session of its trace when the record carries a trace id.
LOGS = CreateTable("logs", """\
    project_id LowCardinality(String),
    session_id String,
    timestamp DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    log_id String COMMENT 'hash of the record, so a replayed record collapses',
    observed_timestamp DateTime64(9, 'UTC'),
    trace_id String,
    span_id String,
    severity_number UInt8,
    severity_text LowCardinality(String),
    body String CODEC(ZSTD(3)),
    service_name LowCardinality(String),
    scope_name LowCardinality(String),
    attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ingested_at DateTime64(6, 'UTC')""", ReplacingMergeTree("ingested_at"), """PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, session_id, timestamp, log_id)""",
    Sharded("cityHash64(project_id, if(session_id = '', log_id, session_id))"))

# Traces taken out of a deleted session: their spans still name the session, but they never join it again (a later
# trace with the same external id starts a fresh session).
DELETED_SESSION_TRACES = CreateTable("deleted_session_traces", """\
    project_id LowCardinality(String),
    trace_id String,
    session_id String,
    deleted_at DateTime64(3, 'UTC')""", ReplacingMergeTree("deleted_at"),
    "ORDER BY (project_id, trace_id, session_id)", BY_TRACE)

# Background jobs a client can poll (deleting a large session).
JOBS = CreateTable("jobs", """\
    project_id LowCardinality(String),
    job_id String,
    kind LowCardinality(String),
    target_id String,
    status LowCardinality(String) COMMENT 'pending, running, done, failed',
    total UInt64,
    done UInt64,
    error String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC')""", ReplacingMergeTree("updated_at"), """ORDER BY (project_id, job_id)""",
    UNSHARDED)

DEFAULT_PROJECT = """
INSERT INTO {db}.projects (project_id, name, created_at, deleted, version)
SELECT 'default', 'Default project', now64(3), 0, 1
"""

# Content search (GET /v1/sessions/search) matches ``lowerUTF8(input|output) LIKE lowerUTF8('%term%')`` on
# trace_rollups; these n-gram bloom filters (3-grams, 32 KiB and 2 hash functions per granule of up to 8192 rows) let
# it skip every granule that cannot hold the term: a rare word over 200k turns went from 198 ms to 4 ms, and
# FINAL keeps them in use (use_skip_indexes_if_final, exact mode). A term shorter than 3 characters, or one in most
# granules, reads everything, correctly. Cost on insert, measured on this 2-core box: a batch of 100k trace rollup
# rows with ~780 characters of input+output took 2.2 s with both indexes instead of 0.6 s (~16 us per row, growing
# with text length: every 3-gram is hashed twice); the writer inserts one such row per trace per commit, about
# 3 us per span of a 5-span trace. On disk: ~0.5% of the two text columns. MATERIALIZE builds them for existing parts
# (a background mutation); new parts get them on insert and merge.
def _per_text_column(*actions: str) -> tuple[AlterStorage, ...]:
    """The ALTERs ``actions`` of trace_rollups (``{column}`` in them: input, then output), in that order."""
    return tuple(AlterStorage(TRACE_ROLLUPS, action.format(column=column))
                 for column in ("input", "output") for action in actions)


TRACE_TEXT_INDEXES = _per_text_column(
    "ADD INDEX IF NOT EXISTS {column}_ngrams lowerUTF8({column}) TYPE ngrambf_v1(3, 32768, 2, 0) GRANULARITY 1",
    "MATERIALIZE INDEX {column}_ngrams")

# The writer's per-trace merge state (threadline.writer.trace_state): narrow (no text), one row per trace, keyed by
# trace so a commit finds the state of the traces it touches by primary key. ``span_ids`` is the set of stored span
# ids (a batch repeating one of them takes the exact re-read path); ``*_key`` columns are the sort keys of the
# current winner of each argMin/argMax field; the winners' texts are those of the trace's ``trace_rollups`` row of
# the same version. The bloom filter lets the lookup of a brand-new trace id (most ids a batch touches) skip the
# granule read.
TRACE_STATE = CreateTable("trace_state", """\
    project_id LowCardinality(String),
    trace_id String,
    session_id String,
    session_key String,
    named_sessions Array(String),
    excluded_sessions Array(String) COMMENT 'sessions this trace was deleted from (DELETE /v1/sessions)',
    user_id String,
    user_key String,
    name String,
    name_key String,
    start_time DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    end_time DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    span_count UInt32,
    llm_call_count UInt32,
    tool_call_count UInt32,
    error_count UInt32,
    input_tokens UInt64,
    output_tokens UInt64,
    usage_tokens UInt64,
    reported_tokens UInt64,
    usage_cost_usd Float64,
    reported_cost_usd Float64,
    models Array(LowCardinality(String)),
    tags Array(String),
    status_code LowCardinality(String),
    status_key String,
    end_state LowCardinality(String),
    end_state_key String,
    previous_session_id String,
    previous_key String,
    metadata Map(LowCardinality(String), String),
    metadata_key String,
    input_key String,
    output_key String,
    span_ids Array(String) CODEC(ZSTD(1)),
    version UInt64,
    INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1""", ReplacingMergeTree("version"),
    """ORDER BY (project_id, trace_id)
SETTINGS index_granularity = 64""",
    BY_TRACE)

# The tables every commit writes, whose parts merge all the time: the part-removal settings (migrations 5, 12, 16)
# apply to these.
CHURNING_TABLES = (SPANS, TRACE_SESSIONS, TRACE_ROLLUPS, SESSION_ROLLUPS, TRACE_STATE)

# Write-ahead record of the batches whose rollups are pending: a row (done = 0) before a batch's spans are inserted,
# the same batch id again (done = 1) once its rollups are written. Start-up replays every batch still pending
# (a crash or kill -9 between the two), recomputing its traces from the stored spans. Rows expire after 7 days.
ROLLUP_JOURNAL = CreateTable("rollup_journal", """\
    batch_id String,
    keys Array(Tuple(String, String)) CODEC(ZSTD(1)),
    done UInt8,
    created_at DateTime64(3, 'UTC') DEFAULT now64(3),
    version UInt64""", ReplacingMergeTree("version"), """ORDER BY batch_id
TTL toDateTime(created_at) + INTERVAL 7 DAY""",
    UNSHARDED)

# Migration 5 hands every trace stored before it to the journal, so the first start after the upgrade builds their
# trace_state rows (by the writer's one definition) before accepting writes.
BACKFILL_TRACE_STATE = """
INSERT INTO {db}.rollup_journal (batch_id, keys, done, version)
SELECT concat('migration-5-', toString(bucket)), groupArray((project_id, trace_id)), 0, 1
FROM (SELECT DISTINCT project_id, trace_id, cityHash64(project_id, trace_id) % 4096 AS bucket FROM {db}.spans)
GROUP BY bucket
"""

# Column codecs of the write-heavy tables (issue 11): ids and text in ZSTD, times Delta+ZSTD, counters T64.
SPANS_CODECS = tuple(
    AlterStorage(SPANS, f"MODIFY COLUMN {definition}") for definition in (
        "trace_id String CODEC(ZSTD(1))",
        "span_id String CODEC(ZSTD(1))",
        "parent_span_id String CODEC(ZSTD(1))",
        "session_id String CODEC(ZSTD(1))",
        "user_id String CODEC(ZSTD(1))",
        "name String CODEC(ZSTD(1))",
        "status_message String CODEC(ZSTD(1))",
        "duration_ns UInt64 CODEC(T64, ZSTD(1))",
        "input_tokens UInt64 CODEC(T64, ZSTD(1))",
        "output_tokens UInt64 CODEC(T64, ZSTD(1))",
        "total_tokens UInt64 CODEC(T64, ZSTD(1))",
        "input String CODEC(ZSTD(3))",
        "output String CODEC(ZSTD(3))",
        "attributes Map(LowCardinality(String), String) CODEC(ZSTD(3))",
        "resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(3))",
        "events_attributes Array(Map(LowCardinality(String), String)) CODEC(ZSTD(3))",
        "ingested_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1))",
    )
)

# trace_rollups again, with 64-row granules: the writer re-aggregates each touched session from its key range and
# reads one winning text by key, and a 1024-row granule of this table's text columns is ~1-2 MB to decompress for
# each (the cost that grew with stored data until every session sat in a granule of its own). The content-search
# n-gram indexes cover 16 granules (1,024 rows), as they did. ``has_input``/``has_output`` let the session pass
# find its winning turns without reading the texts.
_TRACE_ROLLUP_COLUMNS = TRACE_ROLLUPS.columns.replace(
    "    output String CODEC(ZSTD(3)),\n",
    "    output String CODEC(ZSTD(3)),\n    has_input UInt8 DEFAULT input != '',\n"
    "    has_output UInt8 DEFAULT output != '',\n")
TRACE_ROLLUPS_REBUILT = CreateTable("trace_rollups_rebuilt", _TRACE_ROLLUP_COLUMNS + """,
    INDEX input_ngrams lowerUTF8(input) TYPE ngrambf_v1(3, 32768, 2, 0) GRANULARITY 16,
    INDEX output_ngrams lowerUTF8(output) TYPE ngrambf_v1(3, 32768, 2, 0) GRANULARITY 16""",
    TRACE_ROLLUPS.engine, """ORDER BY (project_id, session_id, trace_id)
SETTINGS index_granularity = 64, min_compress_block_size = 16384""", TRACE_ROLLUPS.distribution)
REBUILD_TRACE_ROLLUPS = RebuildTable(TRACE_ROLLUPS, TRACE_ROLLUPS_REBUILT, ", ".join(
    line.split()[0] for line in TRACE_ROLLUPS.columns.splitlines()))

# Parts replaced by a merge are kept 8 minutes by default before their files are removed; under steady ingest that
# doubled the data directory of the embedded store (issue 11: 409 MiB on disk for 125 MiB of active parts). A
# minute still covers a slow reader of the old parts.
PROMPT_PART_REMOVAL = tuple(AlterStorage(table, "MODIFY SETTING old_parts_lifetime = 60")
                            for table in CHURNING_TABLES)

# Issue 11, second pass: every merge decompresses and recompresses the text columns, and under steady ingest each
# byte is merged several times. ZSTD(3) compressed the workload's span texts at ~2.2x the CPU of ZSTD(1) for 9% fewer
# bytes (200k spans: an insert of the same rows 3.2-4.6 s vs 1.9-2.1 s of CPU; 49.3 vs 53.7 MB). Only the codec
# changes: existing parts keep theirs until a merge rewrites them.
FAST_TEXT_CODECS = (
    *(AlterStorage(SPANS, change.action.replace("ZSTD(3)", "ZSTD(1)")) for change in SPANS_CODECS
      if "ZSTD(3)" in change.action),  # the text columns migration 5 set to ZSTD(3)
    *_per_text_column("MODIFY COLUMN {column} String CODEC(ZSTD(1))"),
    *(AlterStorage(SESSION_ROLLUPS, f"MODIFY COLUMN {column} String CODEC(ZSTD(1))")
      for column in ("first_input", "last_output")),
)

# Issue 11, reads at scale: a page of the sessions list reads its full rows by session id, scattered over the whole
# table. Each column of each row then decompresses a whole compressed block, 64 KiB at least by default, which for
# the numeric columns covers ~8k rows (50 rows of 1M sessions: 123 ms). Blocks of 16-64 KiB cut that to 65 ms and one
# session to 6.7 ms from 9.6, for 2.5% more bytes and no slower scans (measured on copies of a 1M-session table). The
# setting applies to parts written from now on, by inserts and merges; existing parts keep their blocks until merged.
SMALLER_SESSION_BLOCKS = (AlterStorage(SESSION_ROLLUPS, "MODIFY SETTING min_compress_block_size = 16384, "
                                                        "max_compress_block_size = 65536"),)

# Issue 11, reads at scale: an n-gram bloom filter must be read whole for every search (a granule's filter does not
# say which rows hold a 3-gram), and a word present in 1 turn in 1,000 is in every filter's block. A text index
# (an inverted index of the same 3-grams of lowerUTF8(text), GA in ClickHouse 26.2) finds the granules of rows that
# hold every 3-gram of the term. Measured on a copy of 1.6M turns: a needle 18 -> 6 ms, a word in 1 turn in 1,000
# 164 -> 30 ms, a common phrase 263 -> 120 ms; insert 12.8 s against 11.6 s with the blooms (6.8 s with no index);
# 188 MB on disk against 11 MB, next to 310 MB of data. The search SQL is unchanged: ClickHouse picks the index.
TEXT_SEARCH_INDEXES = _per_text_column(
    "ADD INDEX IF NOT EXISTS {column}_text lowerUTF8({column}) TYPE text(tokenizer = ngrams(3))",
    "MATERIALIZE INDEX {column}_text", "DROP INDEX IF EXISTS {column}_ngrams")

# Issue 13 (operations): a project's retention window in days (0: keep forever), and a key's scope ("ingest": write
# spans and logs only; "read": read only; "all": everything, as every key before) and expiry (NULL: never).
OPERATIONS_COLUMNS = (
    AddColumn(PROJECTS, "retention_days UInt32 DEFAULT 0 COMMENT '0: keep forever'"),
    AddColumn(API_KEYS, "scope LowCardinality(String) DEFAULT 'all' COMMENT 'ingest, read or all'"),
    AddColumn(API_KEYS, "expires_at Nullable(DateTime64(3, 'UTC')) COMMENT 'NULL: never'"),
)

# Issue 11, memory and merge CPU under ingest: a horizontal merge reads a block of every column of every source part
# at once, so a merge of a few spans parts (kilobytes of text and maps per row) peaked at 240-250 MiB, trace_state's
# at 170-190 MiB and trace_rollups' at ~140 MiB, and two merges at once set the server's peak RSS. A vertical merge
# sorts the key columns first, then merges one column at a time. At 300k spans of issue 11's workload: the largest
# merge 251 -> 88 MiB (spans), 187 -> 22 (trace_state), 138 -> 45 (trace_rollups); merge CPU per span 55 -> 39 µs
# (spans), 12 -> 5 (trace_state), 18 -> 16 (trace_rollups); server peak RSS 1,236 -> 1,088 MiB. ClickHouse uses it
# by default only from 131,072 rows and 11 non-key columns; here every merge of these tables is vertical.
VERTICAL_MERGES = tuple(
    AlterStorage(table, "MODIFY SETTING vertical_merge_algorithm_min_rows_to_activate = 1, "
                        "vertical_merge_algorithm_min_columns_to_activate = 1")
    for table in (SPANS, TRACE_ROLLUPS, SESSION_ROLLUPS, TRACE_STATE))

# Issue 11, reads at scale: a bloom filter on the rollup's user id, which the user filter's pre-condition reads
# (threadline.queries.filters.UserIs), so a user's sessions are found in a few granules instead of a full scan.
LIST_INDEXES = (
    AlterStorage(SESSION_ROLLUPS,
                 "ADD INDEX IF NOT EXISTS user_id_bloom user_id TYPE bloom_filter(0.01) GRANULARITY 1"),
    AlterStorage(SESSION_ROLLUPS, "MATERIALIZE INDEX user_id_bloom"),
)

# Issue 11, disk: parts a merge replaced were kept a minute (migration 5) against a power cut that loses the merged
# part from the OS cache. Merged parts are now fsynced before they replace their sources, so those need not be kept:
# they go at the next cleanup (chDB's own default lifetime is 0; a running query keeps the parts it reads whatever
# the lifetime). Measured in a server under the benchmark's workload: with a lifetime of 60 s, ~90 replaced parts
# were still on disk 3 minutes after ingest ended (the cleanup runs with the background merge scheduler, which backs
# off while idle), the data directory ~2.4x its active parts; with 0, none right after ingest.
IMMEDIATE_PART_REMOVAL = tuple(
    AlterStorage(table, "MODIFY SETTING old_parts_lifetime = 0, min_compressed_bytes_to_fsync_after_merge = 1")
    for table in CHURNING_TABLES)

# Issue 11, ingest that stays flat as data grows: ClickHouse merges parts up to 150 GB by default, so as the store
# grows a background merge rewrites millions of spans at once (each row is merged again at every level). At 2M spans
# of the benchmark's workload one such merge took the last 250k-span window's merge CPU from ~0.05 to 0.12 ms/span
# and its rate from ~8,500 to 6,569 spans/s. Merges of spans stop at parts of 256 MiB on disk (~600k spans): a span
# is merged a bounded number of times however large the store, and past that size parts accumulate instead (each
# covering a stretch of arrival time). Same day, 2M spans: 8,415 -> 8,621 spans/s end to end, last window 6,569 ->
# 7,830 (last/first 0.59 -> 0.71), 0.196 -> 0.189 ms of server CPU per span, reads unchanged (the capped run also
# had the writer's cache of sessions' winning texts).
SPAN_MERGE_CAP = (AlterStorage(SPANS, "MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 268435456"),)

# The same for trace states, at 64 MiB (~190k traces): the writer writes a state per touched trace every pass but reads
# one back only for a trace it neither holds nor wrote since its start (a few per pass; not in the query log's top
# statements at 1M spans), so more parts cost it almost nothing, while merges of ever larger parts cost 2.3 µs of CPU
# per ingested span in the first 250k-span window of a 5M run and 10.9 in the last. trace_rollups keeps no cap: the
# session re-aggregation reads every part of it and costs more per part (docs/write-path.md, "Costs").
TRACE_STATE_MERGE_CAP = (
    AlterStorage(TRACE_STATE, "MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 67108864"),)

# Issue 11, memory: an insert writes every column of its part at once, each through a compression buffer of up to
# max_compress_block_size (1 MiB by default) and the buffer it compresses into; with spans' ~35 columns and their map
# substreams, those buffers were half of chDB's memory for an insert. 20,000 workload spans (45 MiB of Arrow): 267-279
# MiB of chDB's tracked memory per insert with 1 MiB blocks, 142-155 with 256 KiB, 124-135 with 128 KiB; CPU the
# same; the part 7-8% larger at 256 KiB and 16-18% at 128 KiB. Merges are vertical (one column at a time) and
# unaffected. Parts written before keep their blocks until a merge rewrites them.
SPAN_COMPRESS_BLOCKS = (AlterStorage(SPANS, "MODIFY SETTING max_compress_block_size = 262144"),)

# Issue 11, disk right after ingest: migration 12 removes the parts a merge replaced "at the next cleanup", and
# ClickHouse runs a table's cleanup every cleanup_delay_period (30 s) plus up to 10 s at random, backing off to 300 s
# while there is nothing to remove. Measured in a server under the benchmark's workload (300k spans): the data
# directory held ~117 MB of replaced parts beside 180 MB of active ones for more than 60 s after ingest ended, and a
# chDB table of 30 merged parts kept their directories 35-40 s. With a cleanup every 1-2 s (5 s at most while idle)
# they go within 5 s. Not on a cluster: there the same settings also pace the cleanup of the replication log in Keeper.
# ClickHouse reads these settings when a table starts: the embedded store restarts the tables after the migration
# (Migration.restart), a single server at its next restart.
PROMPT_CLEANUP = tuple(
    NotOnCluster(AlterStorage(table, "MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 1, "
                                     "max_cleanup_delay_period = 5"))
    for table in CHURNING_TABLES)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "spans, trace_sessions, rollups, annotations",
              (SPANS, TRACE_SESSIONS, TRACE_ROLLUPS, SESSION_ROLLUPS, SESSION_ANNOTATIONS)),
    Migration(2, "projects, api keys, key usage, server secrets", (PROJECTS, API_KEYS, API_KEY_USAGE, SERVER_SECRETS,
                                                                        Statement(DEFAULT_PROJECT))),
    Migration(3, "scores, logs, deleted session traces, jobs, annotation user id",
              (SCORES, LOGS, DELETED_SESSION_TRACES, JOBS,
               AddColumn(SESSION_ANNOTATIONS, "user_id String AFTER name"))),
    Migration(4, "content search indexes on trace rollups", TRACE_TEXT_INDEXES),
    Migration(5, "incremental write path: trace state, rollup journal, text flags, codecs",
              (TRACE_STATE, ROLLUP_JOURNAL, REBUILD_TRACE_ROLLUPS, *SPANS_CODECS, *PROMPT_PART_REMOVAL,
               Statement(BACKFILL_TRACE_STATE))),
    Migration(6, "project retention, key scopes and expiry", OPERATIONS_COLUMNS),
    Migration(7, "faster text codecs (ZSTD(1)) on spans and rollups", FAST_TEXT_CODECS),
    Migration(8, "smaller compressed blocks for session rollups (faster reads by session id)",
              SMALLER_SESSION_BLOCKS),
    Migration(9, "text indexes for content search (instead of n-gram bloom filters)", TEXT_SEARCH_INDEXES,
              min_server=(26, 2)),
    Migration(10, "vertical merges for the write-heavy tables (a fraction of the merge memory)", VERTICAL_MERGES),
    Migration(11, "a bloom filter index on session rollups' user id (the sessions list's user filter)", LIST_INDEXES),
    Migration(12, "merged parts fsynced, the parts they replace removed at once", IMMEDIATE_PART_REMOVAL),
    Migration(13, "merges of spans capped at parts of 256 MiB (merge work per span bounded as the store grows)",
              SPAN_MERGE_CAP),
    Migration(14, "merges of trace states capped at parts of 64 MiB", TRACE_STATE_MERGE_CAP),
    Migration(15, "spans written in compressed blocks of at most 256 KiB (half the memory of an insert)",
              SPAN_COMPRESS_BLOCKS),
    Migration(16, "parts replaced by merges removed within seconds (single server and chDB)", PROMPT_CLEANUP,
              restart=CHURNING_TABLES),
)
TABLES: tuple[CreateTable, ...] = (MIGRATIONS_TABLE, SPANS, TRACE_SESSIONS, TRACE_ROLLUPS, SESSION_ROLLUPS,
                                   SESSION_ANNOTATIONS, PROJECTS, API_KEYS, API_KEY_USAGE, SERVER_SECRETS, SCORES, LOGS,
                                   DELETED_SESSION_TRACES, JOBS, TRACE_STATE, ROLLUP_JOURNAL)
# Tables stored as ``<name>_local`` behind a Distributed table on a cluster (the gateway sends their mutations there).
SHARDED_TABLES = frozenset(table.name for table in TABLES if table.storage_name != table.name)
