"""The application factory: one FastAPI app with every router, opened on a store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from threadline import __version__
from threadline.api import problems
from threadline.api.paths import EncodedSegmentsMiddleware
from threadline.api.routers import health, ingest, otlp, sessions, traces
from threadline.api.state import AppState
from threadline.ingest.native import NativeBatch
from threadline.ingest.pricing import PriceTable
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.writer.commit import BatchCommitter
from threadline.writer.group_commit import GroupCommitWriter

log = logging.getLogger("threadline")


def open_store(settings: Settings) -> Store:
    """The store the settings name: a ClickHouse server when ``clickhouse_url`` is set, else embedded chDB in
    ``data_dir``. Raises StoreUnavailable."""
    if settings.clickhouse_url:
        return Store.server(settings.clickhouse_url, settings.database)
    return Store.embedded(settings.data_dir, settings.database)


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the app. On startup it opens ``store`` (or the one ``settings`` name), applies pending migrations and
    starts the group-commit writer; on shutdown it commits what is queued."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or open_store(settings)
        migrate(opened)
        committer = BatchCommitter(opened)
        if not settings.clickhouse_url:  # embedded: rollups of a batch a crash cut short (DESIGN.md, durability)
            await asyncio.to_thread(committer.recover)
        writer = GroupCommitWriter(committer, flush_interval_ms=settings.flush_interval_ms,
                                   flush_max_spans=settings.flush_max_spans,
                                   max_pending_spans=settings.max_pending_spans)
        await writer.start()
        app.state.threadline = AppState(settings=settings, store=opened, writer=writer,
                                        prices=PriceTable.load(settings.price_table))
        try:
            yield
        finally:
            await writer.stop()

    app = FastAPI(title="Threadline", version=__version__, lifespan=lifespan,
                  description="Session-first observability for LLM applications and agents.")
    problems.install(app)
    app.add_middleware(EncodedSegmentsMiddleware)  # session ids with '/' route when sent as %2F
    for module in (otlp, ingest, sessions, traces, health):
        app.include_router(module.router)

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
