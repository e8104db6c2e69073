"""What the request handlers share, held on ``app.state``: settings, store, writer, prices, auth, metrics (the
OTLP/gRPC services share it too)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from threadline.auth.authenticator import Authenticator, FailureThrottle
from threadline.auth.repository import ProjectRepository
from threadline.ingest.pricing import PriceTable
from threadline.metrics import Metrics
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.writer.group_commit import GroupCommitWriter

if TYPE_CHECKING:
    from threadline.queue.producer import QueueProducer


@dataclass
class AppState:
    """The app's long-lived objects."""

    settings: Settings
    store: Store
    writer: GroupCommitWriter | QueueProducer  # QueueProducer when settings.queue_url is set
    prices: PriceTable
    projects: ProjectRepository
    auth: Authenticator
    throttle: FailureThrottle
    metrics: Metrics
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    grpc_port: int = 0  # the port the OTLP/gRPC receiver listens on; 0 while it is off

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background, keeping a reference until it ends (shutdown waits for it)."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def app_state(request: Request) -> AppState:
    """FastAPI dependency: the app's AppState."""
    state: AppState = request.app.state.threadline
    return state


async def settled_writes(request: Request) -> None:
    """FastAPI dependency of every route that reads or changes sessions: waits until the rollups of every span
    acknowledged before the request arrived are written (embedded group commit acknowledges spans once they are
    stored, and folds them right after), so a client that ingested and then reads sees what it sent."""
    state: AppState = request.app.state.threadline
    await state.writer.settled()
