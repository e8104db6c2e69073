"""Read (and annotate) sessions and traces over the Threadline HTTP API: ``Client`` and ``AsyncClient``."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter

from threadline_sdk._setup import resolve_api_key, resolve_endpoint
from threadline_sdk.models import (
    ExplicitEndState,
    Job,
    Score,
    ScoreValue,
    Session,
    SessionDetail,
    SessionPage,
    SessionStats,
    Trace,
    TraceDetail,
    TracePage,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 503})  # the server did not process the request: safe to retry any method
IDEMPOTENT_RETRY_STATUSES = frozenset({502, 504})
MAX_RETRY_WAIT_S = 30.0


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class ThreadlineError(Exception):
    """Base of the SDK's client errors."""


class APIError(ThreadlineError):
    """The server answered with an error (an RFC 9457 problem document): ``status_code``, ``title``, ``detail``."""

    def __init__(self, status_code: int, title: str, detail: str, *, method: str, url: str,
                 body: Any = None) -> None:
        super().__init__(f"{method} {url}: {status_code} {title}: {detail}")
        self.status_code = status_code
        self.title = title
        self.detail = detail
        self.method = method
        self.url = url
        self.body = body


class AuthenticationError(APIError):
    """401 or 403: a missing, invalid or revoked API key."""


class NotFoundError(APIError):
    """404: no such session, trace or job in the API key's project."""


class ConflictError(APIError):
    """409: e.g. creating a session that exists."""


def _error(response: httpx.Response) -> APIError:
    body: Any = None
    title, detail = response.reason_phrase or "error", response.text[:2000]
    try:
        body = response.json()
        if isinstance(body, Mapping):
            title = str(body.get("title") or title)
            detail = str(body.get("detail") or detail)
    except ValueError:
        pass
    cls = {401: AuthenticationError, 403: AuthenticationError, 404: NotFoundError,
           409: ConflictError}.get(response.status_code, APIError)
    return cls(response.status_code, title, detail, method=response.request.method, url=str(response.request.url),
               body=body)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def query(filters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters of list filters: ``None`` is left out, booleans are ``true``/``false``, datetimes ISO 8601,
    lists repeat the parameter, and ``metadata={"plan": "pro"}`` becomes ``metadata.plan=pro``."""
    params: list[tuple[str, str]] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "metadata" and isinstance(value, Mapping):
            params.extend((f"metadata.{k}", _text(v)) for k, v in value.items())
        elif isinstance(value, list | tuple | set | frozenset):
            params.extend((key, _text(v)) for v in value)
        else:
            params.append((key, _text(value)))
    return params


def _segment(value: str) -> str:
    """One URL path segment: percent-encoded, with ``.`` and ``..`` encoded too (httpx would resolve them as dot
    segments, RFC 3986 section 5.2.4)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def session_path(session_id: str) -> str:
    """``/v1/sessions/{session_id}`` with the id percent-encoded (``/``, ``%``, spaces... included)."""
    return f"/v1/sessions/{_segment(session_id)}"


def trace_path(trace_id: str) -> str:
    return f"/v1/traces/{_segment(trace_id)}"


@dataclass
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None


def _model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


ScoreList = list[Score]
_SCORES = TypeAdapter(ScoreList)


def _next_call(call: Call[T], next_link: str | None, pagination: Any, received: int) -> Call[T] | None:
    """The request of the next page: the server's ``links.next`` (offset or cursor), keeping every parameter of the
    first request it does not mention (so filters survive)."""
    if not pagination.has_more or received == 0:
        return None
    if next_link:
        parts = urlsplit(next_link)
        params = parse_qsl(parts.query, keep_blank_values=True)
        present = {k for k, _ in params}
        params += [(k, v) for k, v in call.params if k not in present]
        return Call(call.method, parts.path or call.path, call.parse, params)
    if pagination.next_cursor:
        params = [(k, v) for k, v in call.params if k not in ("cursor", "offset")]
        return Call(call.method, call.path, call.parse, [*params, ("cursor", pagination.next_cursor)])
    params = [(k, v) for k, v in call.params if k != "offset"]
    return Call(call.method, call.path, call.parse, [*params, ("offset", str(pagination.offset + received))])


class _Calls:
    """The requests of the API, shared by the sync and async clients."""

    @staticmethod
    def sessions_page(limit: int, offset: int | None, filters: Mapping[str, Any]) -> Call[SessionPage]:
        params = [("limit", str(limit)), *query(filters)]
        if offset:
            params.append(("offset", str(offset)))
        return Call("GET", "/v1/sessions", _model(SessionPage), params)

    @staticmethod
    def session(session_id: str) -> Call[SessionDetail]:
        return Call("GET", session_path(session_id), _model(SessionDetail))

    @staticmethod
    def traces_page(session_id: str, limit: int, offset: int | None, filters: Mapping[str, Any]) -> Call[TracePage]:
        params = [("limit", str(limit)), *query(filters)]
        if offset:
            params.append(("offset", str(offset)))
        return Call("GET", f"{session_path(session_id)}/traces", _model(TracePage), params)

    @staticmethod
    def stats(session_id: str, params: Mapping[str, Any]) -> Call[SessionStats]:
        return Call("GET", f"{session_path(session_id)}/stats", _model(SessionStats), query(params))

    @staticmethod
    def create(session_id: str, fields: Mapping[str, Any]) -> Call[Session]:
        body = {"session_id": session_id, **{k: v for k, v in fields.items() if v is not None}}
        return Call("POST", "/v1/sessions", _model(Session), json=body)

    @staticmethod
    def update(session_id: str, fields: Mapping[str, Any]) -> Call[Session]:
        body = {k: v for k, v in fields.items() if v is not UNSET}
        return Call("PATCH", session_path(session_id), _model(Session), json=body)

    @staticmethod
    def delete(session_id: str) -> Call[Job]:
        return Call("DELETE", session_path(session_id), _model(Job))

    @staticmethod
    def score(path: str, name: str, value: ScoreValue, comment: str | None, source: str | None) -> Call[Score]:
        body: dict[str, Any] = {"name": name, "value": value}
        if comment is not None:
            body["comment"] = comment
        if source is not None:
            body["source"] = source
        return Call("POST", f"{path}/scores", _model(Score), json=body)

    @staticmethod
    def scores(path: str) -> Call[ScoreList]:
        return Call("GET", f"{path}/scores", _SCORES.validate_python)

    @staticmethod
    def trace(trace_id: str) -> Call[TraceDetail]:
        return Call("GET", trace_path(trace_id), _model(TraceDetail))

    @staticmethod
    def job(job_id: str) -> Call[Job]:
        return Call("GET", f"/v1/jobs/{quote(job_id, safe='')}", _model(Job))


def _headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    out = {"accept": "application/json", "user-agent": "threadline-sdk/0.1.0", **(headers or {})}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


def _retry_wait(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        value = str(response.headers.get("retry-after", ""))
        try:
            seconds: float = float(value)
            return min(max(seconds, 0.0), MAX_RETRY_WAIT_S)
        except ValueError:
            pass
    return min(0.5 * 2.0**attempt, MAX_RETRY_WAIT_S)


def _should_retry(method: str, response: httpx.Response | None, error: Exception | None) -> bool:
    if error is not None:
        return isinstance(error, httpx.ConnectError) or (method == "GET" and isinstance(error, httpx.TransportError))
    assert response is not None
    return response.status_code in RETRY_STATUSES or (
        method == "GET" and response.status_code in IDEMPOTENT_RETRY_STATUSES)


def _copy_map(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _copy_list(value: Any) -> Any:
    return list(value) if value is not UNSET and value is not None else value


def _page_size(page_size: int, filters: dict[str, Any]) -> int:
    limit = filters.pop("limit", None)
    size = int(limit) if limit is not None else page_size
    return max(1, min(size, 1000))


# sync


class Client:
    """The Threadline HTTP API::

        client = threadline_sdk.Client("http://127.0.0.1:4318", api_key="tl_...")
        for s in client.sessions.list(user_id="u1"):
            print(s.session_id, s.trace_count, s.total_cost_usd)

    ``endpoint`` and ``api_key`` default to ``THREADLINE_ENDPOINT`` (else ``http://127.0.0.1:4318``) and
    ``THREADLINE_API_KEY``. Requests the server did not process (429/503, refused connections; also 502/504 and
    timeouts for reads) are retried ``max_retries`` times, honouring ``Retry-After``. Errors raise :class:`APIError`
    (:class:`NotFoundError`, :class:`AuthenticationError`, :class:`ConflictError`). Use as a context manager or call
    :meth:`close`.
    """

    def __init__(self, endpoint: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 headers: Mapping[str, str] | None = None, max_retries: int = 3,
                 http_client: httpx.Client | None = None) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.api_key = resolve_api_key(api_key)
        self.max_retries = max_retries
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._headers = _headers(self.api_key, headers)
        self.sessions = Sessions(self)
        self.traces = Traces(self)
        self.jobs = Jobs(self)

    def run(self, call: Call[T]) -> T:
        """Send one request (with retries) and parse its answer."""
        url = f"{self.endpoint}{call.path}"
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = self._http.request(call.method, url, params=tuple(call.params), json=call.json,
                                              headers=self._headers)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and response.status_code < 400:
                return call.parse(response.json() if response.content else None)
            if attempt >= self.max_retries or not _should_retry(call.method, response, error):
                if error is not None:
                    raise ThreadlineError(f"{call.method} {url}: {error}") from error
                assert response is not None
                raise _error(response)
            time.sleep(_retry_wait(response, attempt))
            attempt += 1

    def close(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sessions:
    """``client.sessions``: list, read, stats, create, update, delete and score sessions."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, *, page_size: int = 100, max_items: int | None = None, **filters: Any) -> Iterator[Session]:
        """Every session matching ``filters`` (sent as query parameters: ``user_id``, ``tags``, ``end_state``,
        ``start_time``, ``metadata={"k": "v"}``, ``sort``... as the server supports), most recent activity first,
        fetched ``page_size`` at a time as the iterator advances; at most ``max_items``."""
        size = _page_size(page_size if max_items is None else min(page_size, max(max_items, 1)), filters)
        call: Call[SessionPage] | None = _Calls.sessions_page(size, filters.pop("offset", None), filters)
        yielded = 0
        while call is not None:
            page = self._client.run(call)
            for item in page.data:
                if max_items is not None and yielded >= max_items:
                    return
                yielded += 1
                yield item
            if max_items is not None and yielded >= max_items:
                return
            call = _next_call(call, page.links.next, page.pagination, len(page.data))

    def page(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> SessionPage:
        """One page of sessions, with its ``pagination`` and ``links``."""
        return self._client.run(_Calls.sessions_page(limit, offset, filters))

    def get(self, session_id: str) -> SessionDetail:
        """The session with its stats and its first traces (turns). Raises :class:`NotFoundError`."""
        return self._client.run(_Calls.session(session_id))

    def traces(self, session_id: str, *, page_size: int = 100, **filters: Any) -> Iterator[Trace]:
        """Every trace (turn) of the session in start order, fetched ``page_size`` at a time."""
        size = _page_size(page_size, filters)
        call: Call[TracePage] | None = _Calls.traces_page(session_id, size, filters.pop("offset", None), filters)
        while call is not None:
            page = self._client.run(call)
            yield from page.data
            call = _next_call(call, page.links.next, page.pagination, len(page.data))

    def stats(self, session_id: str, **params: Any) -> SessionStats:
        """Every computed field of the session (``GET /v1/sessions/{id}/stats``; e.g. ``idle_gap_s=60``)."""
        return self._client.run(_Calls.stats(session_id, params))

    def create(self, session_id: str, *, name: str | None = None, user_id: str | None = None,
               metadata: Mapping[str, str] | None = None, tags: Iterable[str] | None = None,
               end_state: ExplicitEndState | None = None) -> Session:
        """Create a session ahead of its traffic. Raises :class:`ConflictError` if it exists."""
        return self._client.run(_Calls.create(session_id, {
            "name": name, "user_id": user_id, "metadata": dict(metadata) if metadata is not None else None,
            "tags": list(tags) if tags is not None else None, "end_state": end_state}))

    def update(self, session_id: str, *, name: str | None = UNSET, metadata: Mapping[str, str] | None = UNSET,
               tags: Iterable[str] | None = UNSET, bookmarked: bool | None = UNSET,
               end_state: ExplicitEndState | None = UNSET) -> Session:
        """Change user-owned fields; only those given are sent (``None`` clears ``name`` and ``end_state``). An
        ``end_state`` set here takes precedence over one reported on spans."""
        return self._client.run(_Calls.update(session_id, {
            "name": name, "metadata": _copy_map(metadata), "tags": _copy_list(tags), "bookmarked": bookmarked,
            "end_state": end_state}))

    def delete(self, session_id: str, *, wait: bool = False, timeout_s: float = 120.0) -> Job:
        """Delete the session (it disappears at once; its traces are unlinked by a background job). With ``wait``,
        poll the job until it is done or failed (or ``timeout_s`` passes) and return its last state."""
        job = self._client.run(_Calls.delete(session_id))
        return self._client.jobs.wait(job.job_id, timeout_s=timeout_s) if wait else job

    def score(self, session_id: str, name: str, value: ScoreValue, *, comment: str | None = None,
              source: str | None = None) -> Score:
        """Score the session: a number, a boolean or a category string; ``source`` is human (the server's
        default), llm or code. Scores named ``quality`` make up ``quality_score``."""
        return self._client.run(_Calls.score(session_path(session_id), name, value, comment, source))

    def scores(self, session_id: str) -> ScoreList:
        """The session's scores, oldest first."""
        return self._client.run(_Calls.scores(session_path(session_id)))


class Traces:
    """``client.traces``: one trace with its spans; trace scores."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, trace_id: str) -> TraceDetail:
        """The trace with all its spans. Raises :class:`NotFoundError`."""
        return self._client.run(_Calls.trace(trace_id))

    def score(self, trace_id: str, name: str, value: ScoreValue, *, comment: str | None = None,
              source: str | None = None) -> Score:
        """Score one trace (a turn)."""
        return self._client.run(_Calls.score(trace_path(trace_id), name, value, comment, source))

    def scores(self, trace_id: str) -> ScoreList:
        """The trace's scores, oldest first."""
        return self._client.run(_Calls.scores(trace_path(trace_id)))


class Jobs:
    """``client.jobs``: background jobs (session deletions)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, job_id: str) -> Job:
        return self._client.run(_Calls.job(job_id))

    def wait(self, job_id: str, *, timeout_s: float = 120.0, poll_s: float = 0.2) -> Job:
        """Poll until the job is done or failed, or ``timeout_s`` passes; its last state."""
        deadline = time.monotonic() + timeout_s
        job = self.get(job_id)
        while not job.finished and time.monotonic() < deadline:
            time.sleep(poll_s)
            job = self.get(job_id)
        return job


# async


class AsyncClient:
    """The async variant of :class:`Client` (``httpx.AsyncClient``): the same resources, with ``await`` and
    ``async for``::

        async with threadline_sdk.AsyncClient() as client:
            async for s in client.sessions.list(end_state="failure"):
                ...
    """

    def __init__(self, endpoint: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 headers: Mapping[str, str] | None = None, max_retries: int = 3,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.api_key = resolve_api_key(api_key)
        self.max_retries = max_retries
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._headers = _headers(self.api_key, headers)
        self.sessions = AsyncSessions(self)
        self.traces = AsyncTraces(self)
        self.jobs = AsyncJobs(self)

    async def run(self, call: Call[T]) -> T:
        """Send one request (with retries) and parse its answer."""
        url = f"{self.endpoint}{call.path}"
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = await self._http.request(call.method, url, params=tuple(call.params), json=call.json,
                                                    headers=self._headers)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and response.status_code < 400:
                return call.parse(response.json() if response.content else None)
            if attempt >= self.max_retries or not _should_retry(call.method, response, error):
                if error is not None:
                    raise ThreadlineError(f"{call.method} {url}: {error}") from error
                assert response is not None
                raise _error(response)
            await asyncio.sleep(_retry_wait(response, attempt))
            attempt += 1

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSessions:
    """``AsyncClient.sessions``: see :class:`Sessions`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, page_size: int = 100, max_items: int | None = None,
                   **filters: Any) -> AsyncIterator[Session]:
        """See :meth:`Sessions.list` (``async for``)."""
        size = _page_size(page_size if max_items is None else min(page_size, max(max_items, 1)), filters)
        call: Call[SessionPage] | None = _Calls.sessions_page(size, filters.pop("offset", None), filters)
        yielded = 0
        while call is not None:
            page = await self._client.run(call)
            for item in page.data:
                if max_items is not None and yielded >= max_items:
                    return
                yielded += 1
                yield item
            if max_items is not None and yielded >= max_items:
                return
            call = _next_call(call, page.links.next, page.pagination, len(page.data))

    async def page(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> SessionPage:
        return await self._client.run(_Calls.sessions_page(limit, offset, filters))

    async def get(self, session_id: str) -> SessionDetail:
        return await self._client.run(_Calls.session(session_id))

    async def traces(self, session_id: str, *, page_size: int = 100, **filters: Any) -> AsyncIterator[Trace]:
        size = _page_size(page_size, filters)
        call: Call[TracePage] | None = _Calls.traces_page(session_id, size, filters.pop("offset", None), filters)
        while call is not None:
            page = await self._client.run(call)
            for item in page.data:
                yield item
            call = _next_call(call, page.links.next, page.pagination, len(page.data))

    async def stats(self, session_id: str, **params: Any) -> SessionStats:
        return await self._client.run(_Calls.stats(session_id, params))

    async def create(self, session_id: str, *, name: str | None = None, user_id: str | None = None,
                     metadata: Mapping[str, str] | None = None, tags: Iterable[str] | None = None,
                     end_state: ExplicitEndState | None = None) -> Session:
        return await self._client.run(_Calls.create(session_id, {
            "name": name, "user_id": user_id, "metadata": dict(metadata) if metadata is not None else None,
            "tags": list(tags) if tags is not None else None, "end_state": end_state}))

    async def update(self, session_id: str, *, name: str | None = UNSET, metadata: Mapping[str, str] | None = UNSET,
                     tags: Iterable[str] | None = UNSET, bookmarked: bool | None = UNSET,
                     end_state: ExplicitEndState | None = UNSET) -> Session:
        return await self._client.run(_Calls.update(session_id, {
            "name": name, "metadata": _copy_map(metadata), "tags": _copy_list(tags), "bookmarked": bookmarked,
            "end_state": end_state}))

    async def delete(self, session_id: str, *, wait: bool = False, timeout_s: float = 120.0) -> Job:
        job = await self._client.run(_Calls.delete(session_id))
        return await self._client.jobs.wait(job.job_id, timeout_s=timeout_s) if wait else job

    async def score(self, session_id: str, name: str, value: ScoreValue, *, comment: str | None = None,
                    source: str | None = None) -> Score:
        return await self._client.run(_Calls.score(session_path(session_id), name, value, comment, source))

    async def scores(self, session_id: str) -> ScoreList:
        return await self._client.run(_Calls.scores(session_path(session_id)))


class AsyncTraces:
    """``AsyncClient.traces``: see :class:`Traces`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, trace_id: str) -> TraceDetail:
        return await self._client.run(_Calls.trace(trace_id))

    async def score(self, trace_id: str, name: str, value: ScoreValue, *, comment: str | None = None,
                    source: str | None = None) -> Score:
        return await self._client.run(_Calls.score(trace_path(trace_id), name, value, comment, source))

    async def scores(self, trace_id: str) -> ScoreList:
        return await self._client.run(_Calls.scores(trace_path(trace_id)))


class AsyncJobs:
    """``AsyncClient.jobs``: see :class:`Jobs`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, job_id: str) -> Job:
        return await self._client.run(_Calls.job(job_id))

    async def wait(self, job_id: str, *, timeout_s: float = 120.0, poll_s: float = 0.2) -> Job:
        deadline = time.monotonic() + timeout_s
        job = await self.get(job_id)
        while not job.finished and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
            job = await self.get(job_id)
        return job
