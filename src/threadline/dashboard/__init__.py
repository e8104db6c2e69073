"""The web dashboard, served by the API server itself: server-rendered Jinja2 pages, static assets from this
package (no CDN, no build step), charts as inline SVG. Pages read through the same query layer and parameter parsing
as ``/v1`` and write through the JSON API.

:func:`install` adds it to an app: ``/static`` (assets), ``/login``, ``/`` and ``/projects/{project}/sessions``
(the sessions list), ``/sessions/{session_id}`` and ``/traces/{trace_id}`` (detail pages).
"""

from __future__ import annotations

from fastapi import FastAPI

from threadline.dashboard import pages_detail, pages_list, pages_trace
from threadline.dashboard.assets import STATIC_PREFIX, AssetFiles
from threadline.dashboard.templating import STATIC_DIR


def install(app: FastAPI) -> None:
    """Mount the dashboard on ``app``: static files at ``/static`` and the page routers. Call after the API routers
    are included (page paths never shadow ``/v1``)."""
    app.mount(STATIC_PREFIX, AssetFiles(directory=STATIC_DIR), name="static")
    for router in (pages_list.router, pages_detail.router, pages_trace.router):
        app.include_router(router)
