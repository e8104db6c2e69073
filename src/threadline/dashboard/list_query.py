"""The query string of the sessions list page: the API's own parameters, plus ``range`` (a preset window).

The page takes exactly the parameters of ``GET /v1/sessions`` (filters, ``metadata.KEY=VALUE``, ``sort``, ``limit``,
``offset``, ``cursor``, ``search``) with their types and limits (:mod:`threadline.api.list_params`), so a page URL
and an API URL with the same query select the same sessions. One addition: ``range=1h|24h|7d|30d`` keeps sessions
active in that many hours/days before *now* (a bookmark of ``?range=24h`` always shows the last 24 hours), turned
into ``start_time`` when the page is read.

The filter form submits its fields as they are (empty ones included, the metadata filter as ``metadata=KEY=VALUE``,
the range selector as ``range``); :func:`canonical` rewrites such a query into the API's names, and the page
redirects there, so the address bar always shows the canonical deep link.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal, get_args, get_origin

from fastapi import Request
from pydantic import BaseModel, ValidationError

from threadline.api.list_params import (
    FILTER_NAMES,
    METADATA_PREFIX,
    CursorParam,
    FilterParams,
    Limit,
    OffsetParam,
    SearchParam,
    SortParam,
    build_filters,
    only_params,
    parse_sort,
)
from threadline.api.problems import Problem
from threadline.queries.filters import SessionFilters
from threadline.queries.sorting import DEFAULT_SORT, Sort

RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
RANGE_LABELS = {"all": "All time", "1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days",
                "30d": "Last 30 days", "custom": "Custom…"}
PAGE_PARAMS = ("limit", "offset", "cursor", "sort", "search", "range")
FORM_METADATA = "metadata"  # the filter form's "KEY=VALUE" field
_check_params = only_params(*PAGE_PARAMS)


def _is_list(name: str) -> bool:
    annotation = FilterParams.model_fields[name].annotation
    return any(get_origin(arg) is list for arg in get_args(annotation))


LIST_FILTERS = frozenset(name for name in FILTER_NAMES if _is_list(name))


class PageParams(BaseModel):
    """Paging, sort, search and window preset of the page, typed exactly as the API's query parameters."""

    limit: Limit = 50
    offset: OffsetParam = None
    cursor: CursorParam = None
    sort: SortParam = str(DEFAULT_SORT)
    search: SearchParam = None
    range: Literal["1h", "24h", "7d", "30d"] | None = None


@dataclass(frozen=True)
class ListQuery:
    """A parsed page query: the filters (with the ``range`` preset applied), paging, sort and search."""

    filters: SessionFilters
    page: PageParams
    sort: Sort


def _dropped(name: str, value: str, preset: str | None) -> bool:
    return ((name == "range" and value in ("all", "custom"))
            or (name in ("start_time", "end_time") and preset in RANGES)
            or (name == "sort" and value == str(DEFAULT_SORT)))


def canonical(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The query ``items`` of a submitted filter form in the API's names: empty values dropped, ``metadata=K=V`` as
    ``metadata.K=V``, ``range=all`` dropped, ``range=custom`` dropped (its ``start_time``/``end_time`` kept), a
    preset ``range`` dropping ``start_time``/``end_time``, the default sort dropped. Already canonical items come
    back unchanged (same order)."""
    kept = [(name, value.strip()) for name, value in items if value.strip()]
    presets = [value for name, value in kept if name == "range"]
    preset = presets[-1] if presets else None
    out = []
    for name, value in kept:
        if _dropped(name, value, preset):
            continue
        if name == FORM_METADATA and "=" in value:
            key, _, wanted = value.partition("=")
            name, value = f"{METADATA_PREFIX}{key.strip()}", wanted.strip()
        out.append((name, value))
    return out


def _validation_problem(exc: ValidationError) -> Problem:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return Problem(422, f"the request is invalid: query.{where}: {first.get('msg', 'invalid')}")


async def parse(request: Request, project: str, now_ns: int | None = None) -> ListQuery:
    """The page query of ``request`` for ``project``. Raises Problem 400 (unknown parameter, bad time, window or
    sort: the API's sentences), 403 (``project_id`` of another project), 422 (a value out of range), the same as
    ``GET /v1/sessions`` with that query."""
    if FORM_METADATA in request.query_params:
        raise Problem(400, "a metadata filter is KEY=VALUE (for example plan=pro)")
    await _check_params(request, project)
    query = request.query_params
    raw = {name: (query.getlist(name) if name in LIST_FILTERS else query[name]) for name in FILTER_NAMES
           if name in query}
    try:
        params = FilterParams.model_validate(raw)
        page = PageParams.model_validate({name: query[name] for name in PAGE_PARAMS if name in query})
    except ValidationError as exc:
        raise _validation_problem(exc) from None
    filters = build_filters(params, request, project)
    if page.range is not None:
        now = time.time_ns() if now_ns is None else now_ns
        filters = replace(filters, start_ns=max(now - RANGES[page.range] * 10**9, 0), end_ns=None)
    return ListQuery(filters, page, parse_sort(page.sort))
