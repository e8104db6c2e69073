"""Runtime settings, read from ``THREADLINE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from threadline.api.proxies import parse_networks


class Settings(BaseSettings):
    """Every knob of a Threadline process.

    Each field maps to the environment variable ``THREADLINE_<FIELD>`` (case-insensitive), e.g.
    ``THREADLINE_DATA_DIR=/var/lib/threadline``. CLI flags override the environment.
    """

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(4318, ge=0, le=65535, description="HTTP port (4318 is the OTLP/HTTP default).")
    grpc_port: int = Field(
        4317, ge=0, le=65535, description="OTLP/gRPC port (4317 is the OTLP/gRPC default), on the HTTP server's "
        "host; 0 turns the gRPC receiver off."
    )
    data_dir: Path = Field(Path(".threadline"), description="Directory of the embedded chDB store.")
    database: str = Field(
        "threadline", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="ClickHouse database holding the tables."
    )
    clickhouse_url: str | None = Field(
        None, description="ClickHouse server URL (http://user:pass@host:8123); when unset the embedded chDB is used."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Largest accepted ingest body, after gunzip.")
    flush_interval_ms: float = Field(
        5.0, ge=0, description="Group commit: how long the writer waits to gather more spans into a batch (ms)."
    )
    flush_max_spans: int = Field(20_000, gt=0, description="Group commit: a batch is flushed at this many spans.")
    max_pending_spans: int = Field(
        500_000, gt=0, description="Spans waiting for the writer above which ingest answers 503 with Retry-After."
    )
    session_idle_timeout_s: float = Field(
        1800.0, gt=0, description="A session without new traces for this long (s) is no longer 'active'."
    )
    price_table: Path | None = Field(
        None, description="JSON file of model prices overriding/extending the shipped table (USD per 1M tokens)."
    )
    admin_key: SecretStr | None = Field(
        None, min_length=16, description="Secret guarding the admin API (/v1/admin/...); the admin API is off "
        "when unset."
    )
    session_cookie_ttl_s: int = Field(
        7 * 86400, gt=0, description="Lifetime of a dashboard login (s)."
    )
    trusted_proxies: str = Field(
        "", description="Reverse proxies (comma-separated IP addresses and CIDR networks, e.g. 10.0.0.0/8) whose "
        "Forwarded / X-Forwarded-For headers name the client that the auth-failure throttle keys on; empty: those "
        "headers are ignored and the peer address is the client.",
    )
    retention_interval_s: float = Field(
        3600, ge=0, description="How often the server runs the retention pass that deletes data older than each "
        "project's retention window (s); 0: never on its own (`threadline retention run` still does)."
    )
    auth_failure_limit: int = Field(
        10, gt=0, description="Failed authentications from one address within a minute before it gets 429."
    )
    queue_url: str | None = Field(
        None, description="Redis URL of the ingest queue (redis://host:6379/0). When set, ingest puts span batches "
        "on Redis Streams (a 2xx means XADD acknowledged) and workers write them to the store; unset, the embedded "
        "group-commit writer commits them in-process.",
    )
    queue_shards: int = Field(
        8, ge=1, le=1024, description="Number of Redis streams span batches are sharded over (by project and "
        "trace id). Every API replica and worker must use the same value.",
    )
    queue_max_length: int = Field(
        200_000, gt=0, description="Entries waiting in one shard's stream above which ingest answers 503 with "
        "Retry-After.",
    )
    queue_prefix: str = Field("threadline", description="Prefix of the Redis keys (streams, group, DLQ) in use.")
    workers: int | None = Field(
        None, ge=0, description="Queue consumers run inside `threadline serve` (default: 2 on the embedded store, "
        "whose data directory no other process can open; 0 with a ClickHouse server, where `threadline worker` "
        "processes consume).",
    )
    worker_batch_spans: int = Field(20_000, gt=0, description="Worker: a batch is committed at this many spans.")
    worker_batch_wait_ms: int = Field(
        50, ge=0, description="Worker: longest wait for more entries before committing a smaller batch (ms)."
    )
    worker_claim_idle_ms: int = Field(
        30_000, gt=0, description="Worker: entries pending this long on a consumer (presumed dead) are reclaimed "
        "(XAUTOCLAIM) by another (ms).",
    )
    worker_max_attempts: int = Field(
        5, ge=1, description="Worker: deliveries of an entry before it moves to the dead-letter stream."
    )
    cluster: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$", description="ClickHouse cluster name: DDL runs ON CLUSTER "
        "with Replicated* engines and Distributed tables (ClickHouse server only).",
    )
    log_level: str = Field("info", description="Log level of the server (debug, info, warning, error).")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # the parse requests use (cached): an invalid item fails the start
        return value
