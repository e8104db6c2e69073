"""``threadline worker``: queue consumers in a process of their own, stopped gracefully by SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import redis
from prometheus_client import start_http_server

from threadline.metrics import Metrics
from threadline.queue.connection import redacted, sync_client
from threadline.queue.pool import WorkerPool, guarded_committer, queue_keys
from threadline.settings import Settings
from threadline.store.gateway import Store

log = logging.getLogger("threadline.queue")
MONITOR_INTERVAL_S = 5.0


def _watch_depths(settings: Settings, metrics: Metrics, stop: threading.Event) -> None:
    assert settings.queue_url
    keys = queue_keys(settings)
    client = sync_client(settings.queue_url)
    while not stop.wait(MONITOR_INTERVAL_S):
        try:
            with client.pipeline(transaction=False) as pipe:
                for stream in keys.streams:
                    pipe.xlen(stream)
                pipe.xlen(keys.dlq)
                lengths = [int(n) for n in pipe.execute()]
        except redis.RedisError as exc:
            log.debug("could not read the queue depth: %s", exc)
            continue
        metrics.record_queue_depths(lengths[:-1], lengths[-1])
    client.close()


def run_workers(settings: Settings, store: Store, consumers: int, metrics_port: int | None = None) -> None:
    """Consume the queue of ``settings`` into ``store`` with ``consumers`` threads until SIGTERM/SIGINT, then let
    each finish and acknowledge its batch. ``metrics_port``: serve Prometheus metrics there (all interfaces)."""
    assert settings.queue_url, "run_workers needs settings.queue_url"
    metrics = Metrics()
    if metrics_port is not None:
        start_http_server(metrics_port, registry=metrics.registry)
    pool = WorkerPool(guarded_committer(store, settings), settings, consumers, metrics)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the current batch, then stopping", signal.Signals(signum).name)
        pool.stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    monitor = threading.Thread(target=_watch_depths, args=(settings, metrics, pool.stopping), daemon=True)
    monitor.start()
    log.info("%d queue consumer(s) on %s (prefix %s, %d shards) writing to %s", consumers,
             redacted(settings.queue_url), settings.queue_prefix, settings.queue_shards,
             redacted(settings.clickhouse_url) if settings.clickhouse_url else settings.data_dir)
    pool.start()
    while not pool.stopping.wait(0.5):
        pass
    pool.stop()
    monitor.join()
