"""Query parameters shared by the sessions list, search, metrics and export: the filters (parsed into
:class:`~threadline.queries.filters.SessionFilters`), the sort, and the check that rejects unknown parameters.

Filter values are only ever bound as typed SQL parameters (:mod:`threadline.queries.filters`). Mistakes a person can
fix are 400 problems that say what to change: an unknown parameter (named), an unparsable time, a window that ends
before it starts, a ``min_`` above its ``max_``, ``metadata.`` without a key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from threadline.api.auth import read_project
from threadline.api.problems import Problem
from threadline.queries.filters import RANGE_FIELDS, SessionFilters
from threadline.queries.sorting import SORT_FIELDS, SORT_UNITS, Sort

METADATA_PREFIX = "metadata."
MAX_NS = 2**63 - 1
MAX_INT = 2**63 - 1  # integer range filters bind as Int64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_HELP = ("ISO 8601 (2025-03-01T10:00:00Z; a time without offset is UTC) or epoch seconds (1740823200, "
              "fractions allowed)")
SORT_VALUES = [f"{sign}{name}" for name in SORT_FIELDS for sign in ("-", "")]
SORT_HELP = ("sort order: " + ", ".join(f"{name} ({SORT_UNITS[name]})" for name in SORT_FIELDS)
             + "; prefix '-' for descending. Ties are broken by session id (same direction), so pages are stable.")
FILTERS_HELP = (
    "Filters combine with AND; repeatable ones (user_id, tags, end_state, model) match any of their values "
    "(tags with tags_mode=all: every value). `metadata.KEY=VALUE` (repeatable, e.g. `metadata.plan=pro`) keeps "
    "sessions whose metadata (reported on spans, updated by PATCH) has KEY set to VALUE. Unknown parameters are "
    "a 400 that names them.")


class FilterParams(BaseModel):
    """The filter query parameters (documented one by one in the OpenAPI schema)."""

    project_id: str | None = Field(None, description="the project to read; keys see one project, so this may only "
                                                     "name the key's own project (403 otherwise)")
    start_time: str | None = Field(None, description="keep sessions active at or after this time (their last "
                                                     f"activity is not before it); {_TIME_HELP}",
                                   examples=["2025-03-01T00:00:00Z"])
    end_time: str | None = Field(None, description="keep sessions active at or before this time (their first "
                                                   f"activity is not after it); {_TIME_HELP}",
                                 examples=["1740873600"])
    user_id: list[str] | None = Field(None, description="keep sessions of any of these users (repeatable)")
    tags: list[str] | None = Field(None, description="keep sessions carrying these tags (repeatable; see tags_mode)")
    tags_mode: Literal["any", "all"] = Field("any", description="tags: any (at least one) or all of them")
    end_state: list[Literal["active", "success", "failure", "indeterminate"]] | None = Field(
        None, description="keep sessions in any of these end states (repeatable). A session's end state is the "
                          "one set by PATCH, else the one reported on a span (session.end_state), else 'active' while "
                          "its last activity is within the idle timeout (THREADLINE_SESSION_IDLE_TIMEOUT_S, default "
                          "30 min), else 'indeterminate'")
    model: list[str] | None = Field(None, description="keep sessions that used any of these models (repeatable)")
    bookmarked: bool | None = Field(None, description="keep only bookmarked (true) or not bookmarked (false) "
                                                      "sessions")
    has_errors: bool | None = Field(None, description="keep sessions with (true) or without (false) an error span")
    min_trace_count: int | None = Field(None, ge=0, le=MAX_INT, description="at least this many turns (traces)")
    max_trace_count: int | None = Field(None, ge=0, le=MAX_INT, description="at most this many turns (traces)")
    min_total_tokens: int | None = Field(None, ge=0, le=MAX_INT, description="at least this many tokens")
    max_total_tokens: int | None = Field(None, ge=0, le=MAX_INT, description="at most this many tokens")
    min_total_cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False, description="cost at least (USD)")
    max_total_cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False, description="cost at most (USD)")
    min_wall_duration_ms: float | None = Field(None, ge=0, allow_inf_nan=False,
                                               description="first to last activity at least (ms)")
    max_wall_duration_ms: float | None = Field(None, ge=0, allow_inf_nan=False,
                                               description="first to last activity at most (ms)")
    min_error_count: int | None = Field(None, ge=0, le=MAX_INT, description="at least this many error spans")
    max_error_count: int | None = Field(None, ge=0, le=MAX_INT, description="at most this many error spans")
    min_tool_call_count: int | None = Field(None, ge=0, le=MAX_INT, description="at least this many tool spans")
    max_tool_call_count: int | None = Field(None, ge=0, le=MAX_INT, description="at most this many tool spans")


FILTER_NAMES = frozenset(FilterParams.model_fields)
_INT_RANGES = frozenset({"trace_count", "total_tokens", "error_count", "tool_call_count"})


def parse_time(name: str, text: str) -> int:
    """``text`` (ISO 8601, or epoch seconds) as ns since the epoch. Raises Problem 400 naming ``name``."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    try:
        if math.isfinite(seconds):
            ns = round(seconds * 1e9)
        else:
            if not value or value.lower() in ("nan", "inf", "+inf", "-inf", "infinity"):
                raise ValueError(value)
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ns = (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    except (ValueError, OverflowError):
        raise Problem(400, f"{name}={text!r} is not a time: send ISO 8601 (2025-03-01T10:00:00Z) or epoch "
                           "seconds (1740823200)") from None
    if not 0 <= ns <= MAX_NS:
        raise Problem(400, f"{name}={text!r} is out of range: times must fall between 1970 and 2262")
    return ns


def _metadata(request: Request) -> tuple[tuple[str, str], ...]:
    pairs = []
    for name, value in request.query_params.multi_items():
        if name.startswith(METADATA_PREFIX):
            key = name[len(METADATA_PREFIX):]
            if not key:
                raise Problem(400, "a metadata filter needs a key: send metadata.KEY=VALUE (e.g. metadata.plan=pro)")
            pairs.append((key, value))
    return tuple(pairs)


def _ranges(params: FilterParams) -> tuple[tuple[str, Literal["min", "max"], int | float], ...]:
    out: list[tuple[str, Literal["min", "max"], int | float]] = []
    for field in RANGE_FIELDS:
        low, high = getattr(params, f"min_{field}"), getattr(params, f"max_{field}")
        if low is not None and high is not None and low > high:
            raise Problem(400, f"min_{field}={low} is above max_{field}={high}: no session can match")
        for kind, value in (("min", low), ("max", high)):
            if value is not None:
                out.append((field, kind, int(value) if field in _INT_RANGES else float(value)))  # type: ignore[arg-type]
    return tuple(out)


def build_filters(params: FilterParams, request: Request, project: str) -> SessionFilters:
    """The :class:`SessionFilters` of a request. Raises Problem 400/403 (see the module docstring)."""
    if params.project_id is not None and params.project_id != project:
        raise Problem(403, f"these credentials read project {project!r} only, not {params.project_id!r}; drop "
                           "project_id or use a key of that project")
    start = parse_time("start_time", params.start_time) if params.start_time is not None else None
    end = parse_time("end_time", params.end_time) if params.end_time is not None else None
    if start is not None and end is not None and start > end:
        raise Problem(400, f"start_time ({params.start_time}) is after end_time ({params.end_time}); swap them")
    return SessionFilters(
        start_ns=start, end_ns=end, user_ids=tuple(params.user_id or ()), tags=tuple(params.tags or ()),
        tags_all=params.tags_mode == "all", end_states=tuple(params.end_state or ()),
        models=tuple(params.model or ()), bookmarked=params.bookmarked, metadata=_metadata(request),
        ranges=_ranges(params), has_errors=params.has_errors)


async def session_filters(request: Request, params: Annotated[FilterParams, Query()],
                          project: Annotated[str, Depends(read_project)]) -> SessionFilters:
    """FastAPI dependency: the request's filters. Raises Problem 400/403."""
    return build_filters(params, request, project)


def parse_sort(text: str) -> Sort:
    """The sort of ``sort=``; Problem 400 when unknown (the parameter's enum already rejects most with 422)."""
    try:
        return Sort.parse(text)
    except ValueError as exc:
        raise Problem(400, str(exc)) from None


def only_params(*names: str) -> Callable[..., Coroutine[Any, Any, None]]:
    """A dependency rejecting (400) query parameters other than the filters, ``metadata.KEY`` and ``names``."""
    allowed = FILTER_NAMES | set(names)

    async def check(request: Request, _: Annotated[str, Depends(read_project)]) -> None:  # authenticate first
        unknown = sorted({name for name in request.query_params
                          if name not in allowed and not name.startswith(METADATA_PREFIX)})
        if unknown:
            raise Problem(400, f"unknown query parameter(s): {', '.join(unknown)}; this endpoint takes "
                               f"{', '.join(sorted(allowed))} and metadata.KEY=VALUE (see /docs)")

    return check


Limit = Annotated[int, Query(ge=1, le=1000, description="page size: sessions per page (1-1000)")]
OffsetParam = Annotated[int | None, Query(
    ge=0, le=2**63 - 1, description="sessions to skip (offset paging; not with cursor); pagination.total counts all")]
CursorParam = Annotated[str | None, Query(
    min_length=1, max_length=4096, description="opaque keyset cursor: pagination.next_cursor (or the cursor in "
    "links.next/prev) of an earlier page, sent with the same filters and sort; not with offset. A page opened by "
    "cursor costs the same however deep it is")]
SortParam = Annotated[str, Query(description=SORT_HELP, json_schema_extra={"enum": SORT_VALUES})]
MAX_SEARCH = 500
SearchParam = Annotated[str | None, Query(
    min_length=1, max_length=MAX_SEARCH, description="keep sessions whose id, name, or any turn's input or output "
    "contains this text (1-500 characters; case-insensitive, matched literally). GET /v1/sessions/search does the "
    "same and also says where each session matched")]
