"""What the sessions list template shows, computed from a parsed query and the API's answers: the filter form's
values, the sort links of the columns, the page links, the summary strip and the charts of the window.

Nothing here reads the store: rows, pagination and metrics come from the API's own handlers (see ``pages_list``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from markupsafe import Markup

from threadline.api.list_params import METADATA_PREFIX
from threadline.api.list_schemas import ProjectMetrics
from threadline.api.schemas import Links, Pagination
from threadline.dashboard import charts
from threadline.dashboard.list_query import ListQuery
from threadline.dashboard.templating import number, percent, tokens, usd
from threadline.queries.sorting import DEFAULT_SORT

PAGING = ("limit", "offset", "cursor")
POSITION = ("offset", "cursor")  # where a page starts: dropped when the order or the filters change
EN_DASH = "\u2013"
SUMMARY_PATH = "/fragments/sessions-summary"
# Form fields the filter form renders itself; any other parameter of the URL rides along as a hidden input.
FORM_FIELDS = frozenset({"search", "range", "start_time", "end_time", "user_id", "tags", "model", "end_state",
                         "has_errors", "bookmarked", "sort"})
END_STATES = ("active", "success", "failure", "indeterminate")
# (sort field, column heading, numeric) of the sortable columns.
SORTABLE = {"trace_count": "Turns", "total_tokens": "Tokens", "total_cost_usd": "Cost", "wall_duration_ms": "Duration",
            "error_count": "Errors", "last_seen": "Last activity"}


def _iso_seconds(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FormValues:
    """The filter form's current values, from the URL (repeatable fields as lists, one input each)."""

    search: str = ""
    range: str = "all"
    start_time: str = ""
    end_time: str = ""
    user_id: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    model: list[str] = field(default_factory=list)
    end_state: list[str] = field(default_factory=list)
    has_errors: str = ""
    bookmarked: bool = False
    metadata: list[str] = field(default_factory=list)
    sort: str = str(DEFAULT_SORT)
    hidden: list[tuple[str, str]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether any filter or search narrows the list (a time range included)."""
        return bool(self.search or self.range != "all" or self.start_time or self.end_time or self.user_id
                    or self.tags or self.model or self.end_state or self.has_errors or self.bookmarked
                    or self.metadata or [name for name, _ in self.hidden if name not in PAGING])


def form_values(items: list[tuple[str, str]]) -> FormValues:
    """The form values of a (canonical) page query."""
    def last(name: str, default: str = "") -> str:
        values = [value for key, value in items if key == name]
        return values[-1] if values else default

    def every(name: str) -> list[str]:
        return [value for key, value in items if key == name]

    preset = last("range")
    custom = bool(last("start_time") or last("end_time"))
    return FormValues(
        search=last("search"), range=preset or ("custom" if custom else "all"), start_time=last("start_time"),
        end_time=last("end_time"), user_id=every("user_id"), tags=every("tags"), model=every("model"),
        end_state=every("end_state"), has_errors=last("has_errors"), bookmarked=last("bookmarked") == "true",
        metadata=[f"{key[len(METADATA_PREFIX):]}={value}" for key, value in items if key.startswith(METADATA_PREFIX)],
        sort=last("sort", str(DEFAULT_SORT)),
        hidden=[(key, value) for key, value in items  # limit rides along; a new query starts at its first page
                if key not in FORM_FIELDS and key not in POSITION and not key.startswith(METADATA_PREFIX)])


def _url(path: str, items: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(items)}" if items else path


def sort_links(path: str, items: list[tuple[str, str]], current: str) -> dict[str, dict[str, str]]:
    """Per sortable field: ``href`` (the list sorted by it, descending first, toggled when it is the current sort;
    back to the first page, same page size), ``aria`` (``descending``/``ascending`` for the current column, else
    empty) and ``label`` (the column heading)."""
    kept = [(name, value) for name, value in items if name not in POSITION and name != "sort"]
    out = {}
    for name, label in SORTABLE.items():
        aria = ""
        wanted = f"-{name}"
        if current == f"-{name}":
            aria, wanted = "descending", name
        elif current == name:
            aria = "ascending"
        sort = [] if wanted == str(DEFAULT_SORT) else [("sort", wanted)]
        out[name] = {"href": _url(path, kept + sort), "aria": aria, "label": label}
    return out


def page_links(path: str, items: list[tuple[str, str]], query: ListQuery, pagination: Pagination,
               links: Links) -> tuple[str | None, str | None]:
    """``(previous, next)`` page URLs: keyset cursors where the API gives one (``next_cursor``; the cursor of its
    ``links.prev``), offsets otherwise. A ``range`` preset is pinned as the ``start_time`` it resolved to, so the
    pages of one listing stay one window (a cursor is only valid for the filters it was issued for)."""
    kept = [(name, value) for name, value in items if name not in PAGING]
    if query.page.range is not None and query.filters.start_ns is not None:
        kept = [(n, v) for n, v in kept if n not in ("range", "start_time", "end_time")]
        kept.append(("start_time", _iso_seconds(query.filters.start_ns)))
    limit = [("limit", str(query.page.limit))] if query.page.limit != 50 else []
    following = _url(path, [*kept, *limit, ("cursor", pagination.next_cursor)]) if pagination.next_cursor else None
    previous = None
    if links.prev is not None:
        paging = [(n, v) for n, v in parse_qsl(urlsplit(links.prev).query) if n in ("offset", "cursor")]
        if paging == [("offset", "0")]:
            paging = []
        previous = _url(path, [*kept, *limit, *paging])
    return previous, following


def summary_url(items: list[tuple[str, str]]) -> str:
    """The URL of the summary fragment of a list query (its filters; paging left out)."""
    return _url(SUMMARY_PATH, [(name, value) for name, value in items if name not in PAGING])


def caption(pagination: Pagination, rows: int) -> str:
    """``1-50 of 1,234`` (an en dash on screen) (or ``50 sessions`` when the position is unknown)."""
    if rows == 0:
        return "No sessions"
    if pagination.offset >= 0 and pagination.total >= 0:
        return f"{pagination.offset + 1:,}{EN_DASH}{pagination.offset + rows:,} of {pagination.total:,}"
    return f"{rows:,} sessions"


@dataclass(frozen=True)
class Summary:
    """The summary strip (label, value, hint) and the charts of the window."""

    window: str
    stats: list[tuple[str, str, str]]
    charts: list[tuple[str, Markup]]


def _day(date: str) -> str:
    return datetime.strptime(date, "%Y-%m-%d").strftime("%b %-d")


def summary(metrics: ProjectMetrics) -> Summary:
    """The strip and charts of ``metrics``: sessions per day, cost per session per day, error rate per day."""
    cost, turns = metrics.cost_per_session_usd, metrics.turns_per_session
    window = f"{metrics.start_time[:10]} {EN_DASH} {metrics.end_time[:10]} (UTC)"
    stats = [
        ("Sessions", number(metrics.sessions), f"{number(metrics.sessions_with_errors)} with errors"),
        ("Error rate", percent(metrics.error_rate), "sessions with an error span"),
        ("Total cost", usd(cost.total), f"p50 {usd(cost.p50)} per session"),
        ("Cost / session", usd(cost.avg), f"p95 {usd(cost.p95)}"),
        ("Turns / session", number(turns.avg, 1) if turns.avg is not None else "—", f"p95 {number(turns.p95)}"),
        ("Tokens", tokens(metrics.total_tokens), "input + output"),
    ]
    days = metrics.days
    started = [(_day(d.date), float(d.sessions_started)) for d in days]
    per_session = [(_day(d.date), d.cost_usd / d.sessions_started if d.sessions_started else None) for d in days]
    errors = [(_day(d.date), d.sessions_with_errors / d.sessions_started if d.sessions_started else None)
              for d in days]
    drawn = [
        ("Sessions started per day", charts.bar_chart(started, title="Sessions started per day (UTC)",
                                                      fmt=lambda v: number(v))),
        ("Cost per session, by start day", charts.line_chart(per_session, title="Mean cost per session by start day",
                                                             fmt=usd, tone="alt")),
        ("Error rate, by start day", charts.line_chart(errors, title="Share of sessions with errors by start day",
                                                       fmt=percent, tone="bad")),
    ]
    return Summary(window, stats, drawn)
