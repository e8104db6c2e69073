"""What the request handlers share: settings, store, writer and price table, held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from threadline.ingest.pricing import PriceTable
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.writer.group_commit import GroupCommitWriter

DEFAULT_PROJECT = "default"


@dataclass
class AppState:
    """The app's long-lived objects."""

    settings: Settings
    store: Store
    writer: GroupCommitWriter
    prices: PriceTable


def app_state(request: Request) -> AppState:
    """FastAPI dependency: the app's AppState."""
    state: AppState = request.app.state.threadline
    return state


def project_id(request: Request) -> str:
    """FastAPI dependency: the project a request acts on. Until API keys exist every request acts on
    ``default``."""
    return DEFAULT_PROJECT
