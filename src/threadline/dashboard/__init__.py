"""The web dashboard, served by the API server itself: server-rendered Jinja2 pages, static assets from this
package (no CDN, no build step), charts as inline SVG. Pages read through the same query layer and parameter parsing
as ``/v1`` and write through the JSON API.

:func:`install` adds it to an app: ``/static`` (assets), ``/login``, ``/`` and ``/projects/{project}/sessions``
(the sessions list), ``/sessions/{session_id}`` and ``/traces/{trace_id}`` (detail pages).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from fastapi import FastAPI, Request, params
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from threadline.dashboard import pages_detail, pages_list, pages_trace
from threadline.dashboard.assets import STATIC_PREFIX, AssetFiles
from threadline.dashboard.pages import error_page
from threadline.dashboard.templating import STATIC_DIR

API_PREFIXES = ("/v1/", "/static/")


def install(app: FastAPI, dependencies: Sequence[params.Depends] = ()) -> None:
    """Mount the dashboard on ``app``: static files at ``/static`` and the page routers. Call after the API routers
    are included (page paths never shadow ``/v1``) and after :func:`threadline.api.problems.install`: an unknown
    URL a browser navigates to gets the HTML not-found page, every other 404 stays problem+json. ``dependencies`` run
    before every page (the API's read fence)."""
    app.mount(STATIC_PREFIX, AssetFiles(directory=STATIC_DIR), name="static")
    for router in (pages_list.router, pages_detail.router, pages_trace.router):
        app.include_router(router, dependencies=dependencies)
    as_problem = app.exception_handlers[StarletteHTTPException]

    async def not_found(request: Request, exc: Exception) -> Response:
        if (isinstance(exc, StarletteHTTPException) and exc.status_code == 404 and request.method == "GET"
                and "text/html" in request.headers.get("accept", "")
                and not request.url.path.startswith(API_PREFIXES)):
            return error_page(request, 404, f"There is no page at {request.url.path}. The sessions list is at /.")
        answer = as_problem(request, exc)  # problems.install's handler (async)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, not_found)
