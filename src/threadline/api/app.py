"""The application factory: one FastAPI app with every router, opened on a store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi

from threadline import __version__, dashboard
from threadline.allocators import release_free_memory
from threadline.api import problems, retention_task
from threadline.api.paths import EncodedSegmentsMiddleware
from threadline.api.routers import (
    admin,
    admin_backup,
    admin_retention,
    agentops,
    health,
    ingest,
    langfuse,
    login,
    logs,
    metrics,
    otlp,
    scores,
    session_reads,
    session_writes,
    sessions,
    traces,
)
from threadline.api.session_paths import by_id_router
from threadline.api.state import AppState, settled_writes
from threadline.auth.authenticator import Authenticator, FailureThrottle, is_loopback
from threadline.auth.repository import ProjectRepository
from threadline.ingest.native import NativeBatch
from threadline.ingest.pricing import PriceTable
from threadline.metrics import Metrics
from threadline.queries.jobs import unfinished_jobs
from threadline.settings import Settings
from threadline.store.errors import StoreError, StoreUnavailable
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.writer import deletion
from threadline.writer import span_log as span_logs
from threadline.writer.commit import BatchCommitter
from threadline.writer.group_commit import GroupCommitWriter

if TYPE_CHECKING:
    from threadline.grpc.server import GrpcReceiver
    from threadline.queue.pool import WorkerPool
    from threadline.queue.producer import QueueProducer

log = logging.getLogger("threadline")


def open_store(settings: Settings) -> Store:
    """The store the settings name: a ClickHouse server when ``clickhouse_url`` is set (a node of ``cluster`` when
    that is set too), else embedded chDB in ``data_dir``. Raises StoreUnavailable, also for a cluster without a
    server (chDB is one process, never a cluster)."""
    if settings.clickhouse_url:
        return Store.server(settings.clickhouse_url, settings.database, cluster=settings.cluster)
    if settings.cluster:
        raise StoreUnavailable(
            f"cluster {settings.cluster!r} needs a ClickHouse server: set THREADLINE_CLICKHOUSE_URL (--clickhouse "
            "http://user:pass@host:8123) to a node of that cluster, or unset THREADLINE_CLUSTER (--cluster) to use "
            "the embedded store")
    return Store.embedded(settings.data_dir, settings.database)


def _announce_auth(state: AppState) -> None:
    if state.auth.local_mode():
        log.info("local development mode: no API key exists and the server only listens on loopback, so requests "
                 "without a key act on project 'default'; `threadline keys create --project default` ends this")
    elif not state.auth.repository.any_keys():
        log.warning("every request needs an API key (the server listens beyond loopback) and none exists yet: "
                    "create one with `threadline keys create --project default`")


async def _record_key_use(state: AppState, every_s: float = 5.0) -> None:
    """Write the keys' last-use times (at most once a minute per key) in the background."""
    while True:
        await asyncio.sleep(every_s)
        due = state.auth.pending_touches()
        if due:
            try:
                await asyncio.to_thread(state.projects.touch, due)
            except StoreError as exc:
                log.warning("could not record API key use: %s", exc)


async def _refresh_keys(state: AppState) -> None:
    """Keep the API key cache fresh off the request path while requests come (``Authenticator.refresh_ahead``)."""
    every_s = state.auth.refresh_s * 0.8
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(state.auth.refresh_ahead)
        except StoreError as exc:  # a request reads them itself then, and reports the store's state
            log.warning("could not refresh the API keys: %s", exc)


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the app. On startup it opens ``store`` (or the one ``settings`` name), applies pending migrations and
    starts the group-commit writer; on shutdown it commits what is queued."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or open_store(settings)
        migrate(opened)
        if settings.queue_url:  # session deletions recompute rollups beside the workers: under their Redis locks
            from threadline.queue.pool import guarded_committer

            committer = guarded_committer(opened, settings)
        else:  # an embedded store has exactly one writer: this process (DESIGN.md, chDB facts)
            committer = BatchCommitter(opened, exclusive=not settings.clickhouse_url)
        # Rollups of batches a crash cut short (the journal's pending batches; DESIGN.md, durability contract), then
        # the batches an embedded writer acknowledged and had not finished (its span log).
        await asyncio.to_thread(committer.recover)
        span_log = None if settings.queue_url else span_logs.of_store(opened)
        if span_log is not None:
            await asyncio.to_thread(span_logs.replay, span_log, committer, settings.flush_max_spans)
        metrics = Metrics()
        writer: GroupCommitWriter | QueueProducer
        consumers: WorkerPool | None = None
        if settings.queue_url:  # scaled ingest: Redis Streams, consumed in-process and/or by `threadline worker`
            from threadline.queue.pool import queue_writer

            writer, consumers = queue_writer(settings, committer, metrics)
        else:
            writer = GroupCommitWriter(committer, flush_interval_ms=settings.flush_interval_ms,
                                       flush_max_spans=settings.flush_max_spans,
                                       max_pending_spans=settings.max_pending_spans, span_log=span_log,
                                       after_pass=release_free_memory)
        projects = ProjectRepository(opened)
        auth = Authenticator(projects, loopback_bind=is_loopback(settings.host))
        state = AppState(settings=settings, store=opened, writer=writer, prices=PriceTable.load(settings.price_table),
                         projects=projects, auth=auth, throttle=FailureThrottle(settings.auth_failure_limit),
                         metrics=metrics)
        await asyncio.to_thread(_announce_auth, state)
        await writer.start()
        if consumers is not None:
            consumers.start()
        app.state.threadline = state
        touch = asyncio.create_task(_record_key_use(state), name="threadline-key-use")
        keys = asyncio.create_task(_refresh_keys(state), name="threadline-key-refresh")
        retention = (asyncio.create_task(retention_task.run_periodically(state, settings.retention_interval_s),
                                         name="threadline-retention") if settings.retention_interval_s else None)
        for job in await asyncio.to_thread(unfinished_jobs, opened, deletion.KIND):
            state.spawn(asyncio.to_thread(deletion.run_deletion, opened, committer, job))  # cut short by a stop
        receiver: GrpcReceiver | None = None
        try:
            if settings.grpc_port:  # OTLP/gRPC on this event loop; a port it cannot bind fails the start
                from threadline.grpc.server import start_receiver

                receiver = await start_receiver(state)
                state.grpc_port = receiver.port
            yield
        finally:
            if receiver is not None:  # before the writer stops: in-flight exports still commit
                await receiver.stop()
            touch.cancel()
            keys.cancel()
            if retention is not None:  # a pass in progress finishes its chunk in its thread; the next start redoes
                retention.cancel()     # the rest (a pass is idempotent)
            if state.tasks:
                await asyncio.wait(state.tasks)
            await writer.stop()
            if consumers is not None:
                await asyncio.to_thread(consumers.stop)
            await asyncio.to_thread(projects.touch, auth.pending_touches(force=True))

    app = FastAPI(title="Threadline", version=__version__, lifespan=lifespan,
                  description="Session-first observability for LLM applications and agents.")
    problems.install(app)
    app.add_middleware(EncodedSegmentsMiddleware)  # session ids with '/' route when sent as %2F
    # Pages and lists are text that compresses ~10x (a 200-turn session page is ~700 KB); only when the client
    # asks (Accept-Encoding: gzip) and above 1 KB, so small ingest answers pay nothing.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    # Routes that read or change what ingest wrote see every span acknowledged before they were called.
    settled = [Depends(settled_writes)]
    session_routers = [module.router for module in (sessions, session_reads, session_writes, scores)]
    app.include_router(by_id_router(*session_routers), dependencies=settled)  # /v1/sessions/id/{session_id}...
    for module in (otlp, logs, ingest, login, admin_backup, health, metrics, langfuse, agentops):
        app.include_router(module.router)
    for module in (sessions, session_reads, session_writes, scores, traces, admin, admin_retention):
        app.include_router(module.router, dependencies=settled)
    dashboard.install(app, dependencies=settled)  # after the API routers: pages never shadow /v1

    def openapi() -> dict[str, Any]:
        # /v1/ingest parses its body itself (size limit, gzip); publish the schema of what it accepts.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            defs = NativeBatch.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {})
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
