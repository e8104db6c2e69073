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
