"""Prometheus metrics of the server (prometheus-client), exposed at ``/metrics``.

Each app owns its registry, so several apps in one process (tests) do not share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The server's metrics. Names follow Prometheus conventions (``_total`` counters, seconds)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.auth_failures = Counter(
            "threadline_auth_failures_total", "Requests refused for missing, malformed, unknown or revoked "
            "credentials, by reason.", ["reason"], registry=self.registry)
        self.auth_throttled = Counter(
            "threadline_auth_throttled_total", "Requests refused with 429 after repeated authentication "
            "failures from one address.", registry=self.registry)
        self.spans_ingested = Counter(
            "threadline_spans_ingested_total", "Spans committed, by endpoint.", ["endpoint"], registry=self.registry)
        self.spans_rejected = Counter(
            "threadline_spans_rejected_total", "Spans rejected as invalid, by endpoint.", ["endpoint"],
            registry=self.registry)
        self.commit_wait_seconds = Histogram(
            "threadline_ingest_commit_wait_seconds", "Time an ingest request waits for the commit of its spans "
            "(spans, links and rollups).",
            registry=self.registry, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.pending_spans = Gauge(
            "threadline_pending_spans", "Spans accepted and waiting for the writer.", registry=self.registry)
        # The scaled ingest path (threadline.queue): Redis Streams between the API and the workers.
        self.queue_depth = Gauge(
            "threadline_queue_depth", "Batches waiting in each shard stream of the ingest queue (XLEN).", ["shard"],
            registry=self.registry)
        self.dlq_entries = Gauge(
            "threadline_queue_dlq_entries", "Batches in the dead-letter stream (`threadline dlq list`).",
            registry=self.registry)
        self.worker_batch_spans = Histogram(
            "threadline_worker_batch_spans", "Spans per batch a queue worker commits.", registry=self.registry,
            buckets=(10, 100, 500, 1000, 2500, 5000, 10_000, 20_000, 50_000))
        self.worker_insert_seconds = Histogram(
            "threadline_worker_insert_seconds", "Time a queue worker takes to insert a batch's spans.",
            registry=self.registry, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.worker_commit_seconds = Histogram(
            "threadline_worker_commit_seconds", "Time a queue worker takes to commit a batch (spans insert, links "
            "and rollups, the wait for the rollup lock included).", registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.worker_spans = Counter(
            "threadline_worker_spans_total", "Spans queue workers committed.", registry=self.registry)
        self.worker_failures = Counter(
            "threadline_worker_failures_total", "Batch commits that failed (the entries stay pending and are "
            "retried, then dead-lettered).", registry=self.registry)
        self.dlq_moved = Counter(
            "threadline_queue_dlq_moved_total", "Entries moved to the dead-letter stream.", registry=self.registry)

        self.retention_traces_removed = Counter(
            "threadline_retention_traces_removed_total", "Traces the retention pass deleted (whole traces older "
            "than their project's window).", registry=self.registry)
        self.retention_pass_seconds = Histogram(
            "threadline_retention_pass_seconds", "Time one retention pass over every project takes.",
            registry=self.registry, buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900))

    def record_queue_depths(self, shards: list[int], dlq: int) -> None:
        """Set the queue gauges: entries waiting per shard stream (by shard number) and dead-lettered entries."""
        for shard, length in enumerate(shards):
            self.queue_depth.labels(str(shard)).set(length)
        self.dlq_entries.set(dlq)
