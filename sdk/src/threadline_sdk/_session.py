"""Sessions: a context variable holding the current session, and the ``session()`` scope that sets it."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import NonRecordingSpan

from threadline_sdk import _state
from threadline_sdk import attributes as attr
from threadline_sdk._serialize import json_attribute, to_jsonable

logger = logging.getLogger("threadline_sdk")

EndState = Literal["success", "failure", "indeterminate"]
MAX_ID_LENGTH = 256  # the server rejects longer session and user ids (per span)


@dataclass(frozen=True)
class SessionInfo:
    """The session in effect: what the :class:`~threadline_sdk.SessionSpanProcessor` puts on every span started
    while it is current."""

    session_id: str
    user_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    previous_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def _build(session_id: str, *, user_id: str | None, metadata: Mapping[str, Any], tags: Iterable[str],
              previous_id: str | None) -> SessionInfo:
        """A session with its span attributes computed once (``metadata`` and ``tag.tags`` as JSON strings)."""
        tag_tuple = tuple(dict.fromkeys(str(t) for t in tags))
        safe_metadata: dict[str, Any] = to_jsonable(dict(metadata))
        attributes = {attr.SESSION_ID: session_id}
        if user_id:
            attributes[attr.USER_ID] = user_id
        if safe_metadata:
            attributes[attr.METADATA] = json_attribute(safe_metadata)
        if tag_tuple:
            attributes[attr.TAGS] = json_attribute(list(tag_tuple))
        if previous_id:
            attributes[attr.PREVIOUS_SESSION_ID] = previous_id
        return SessionInfo(session_id, user_id, safe_metadata, tag_tuple, previous_id, attributes)


_current: contextvars.ContextVar[SessionInfo | None] = contextvars.ContextVar("threadline_session", default=None)


def current_session() -> SessionInfo | None:
    """The session in effect in this context (thread, task or copied context), or ``None``."""
    return _current.get()


def _check_id(label: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_ID_LENGTH:
        logger.warning("threadline: %s is %d characters; the server rejects ids longer than %d, so these spans will "
                       "not join a session", label, len(value), MAX_ID_LENGTH)


class SessionScope:
    """A session: every span started while it is entered, by this SDK or by any OpenTelemetry instrumentation, carries
    its id, user, metadata and tags (through :class:`~threadline_sdk.SessionSpanProcessor`).

    Entering sets a context variable, so the session follows the code into asyncio tasks (they copy the context when
    created) and into threads started with a copied context (:func:`threadline_sdk.bind`, ``contextvars.copy_context``).
    Sessions nest: the innermost wins; by default it inherits the outer session's user (unless it names its own),
    metadata (merged, inner keys win) and tags (added). A scope may be entered again after it exits, e.g. once per turn.
    """

    def __init__(self, session_id: str | None = None, *, user_id: str | None = None,
                 metadata: Mapping[str, Any] | None = None, tags: Iterable[str] | None = None,
                 previous_id: str | None = None, inherit: bool = True) -> None:
        self.id: str = str(session_id) if session_id else f"session-{uuid.uuid4().hex}"
        self.user_id = user_id
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.tags: list[str] = list(tags or [])
        self.previous_id = previous_id
        self.inherit = inherit
        self._tokens: list[contextvars.Token[SessionInfo | None]] = []
        _check_id("session id", self.id)
        _check_id("user id", user_id)

    def info(self) -> SessionInfo:
        """What this scope applies to spans, merged with the current (outer) session when ``inherit``."""
        outer = _current.get() if self.inherit else None
        user_id, metadata, tags = self.user_id, self.metadata, self.tags
        if outer is not None:
            user_id = user_id or outer.user_id
            metadata = {**outer.metadata, **metadata}
            tags = [*outer.tags, *tags]
        return SessionInfo._build(self.id, user_id=user_id, metadata=metadata, tags=tags,
                                 previous_id=self.previous_id)

    def __enter__(self) -> SessionScope:
        try:
            self._tokens.append(_current.set(self.info()))
        except Exception:  # never break the application
            logger.warning("threadline: could not enter session %r", self.id, exc_info=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._tokens:
            return
        token = self._tokens.pop()
        try:
            _current.reset(token)
        except ValueError:  # exited in another context than it was entered in (e.g. across a generator's yield)
            old = token.old_value
            _current.set(None if old is contextvars.Token.MISSING else old)

    async def __aenter__(self) -> SessionScope:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def end(self, state: EndState = "success", *, reason: str | None = None) -> None:
        """Report the session's outcome: ``success``, ``failure`` or ``indeterminate``.

        The end state travels on a span as ``session.end_state`` (the server reads it from any span of the session):

        * inside a span of this session (e.g. within the last turn), that span carries it;
        * else, when a span of this session ended in this process, a zero-length ``session.end`` span is added to
          that span's trace, at its end time (so no turn is added and no latency changes);
        * else a one-span ``session.end`` trace is sent (it counts as a turn).

        An end state set through the API (``Client.sessions.update(id, end_state=...)``) takes precedence over the one
        reported on spans. Never raises.
        """
        try:
            self._end(state, reason)
        except Exception:
            logger.warning("threadline: could not record the end of session %r", self.id, exc_info=True)

    def _end(self, state: str, reason: str | None) -> None:
        if state not in attr.END_STATES:
            logger.warning("threadline: end state %r is not one of %s; not sent", state, sorted(attr.END_STATES))
            return
        attributes = dict(self.info().attributes)
        attributes[attr.END_STATE] = state
        if reason:
            attributes[attr.END_REASON] = reason
        current = otel_trace.get_current_span()
        current_attrs = getattr(current, "attributes", None) or {}
        if current.is_recording() and current_attrs.get(attr.SESSION_ID) == self.id:
            current.set_attribute(attr.END_STATE, state)
            if reason:
                current.set_attribute(attr.END_REASON, reason)
            return
        tracer = _state.get_tracer()
        last = _state.last_spans.get(self.id)
        if last is not None:
            parent_context, end_ns = last
            ctx = otel_trace.set_span_in_context(NonRecordingSpan(parent_context), otel_context.Context())
            span = tracer.start_span("session.end", context=ctx, start_time=end_ns, attributes=attributes)
            span.end(end_time=end_ns)
        else:
            span = tracer.start_span("session.end", context=otel_context.Context(), attributes=attributes)
            span.end()

    def __repr__(self) -> str:
        return f"SessionScope({self.id!r}, user_id={self.user_id!r})"


def session(session_id: str | None = None, *, user_id: str | None = None, metadata: Mapping[str, Any] | None = None,
            tags: Iterable[str] | None = None, previous_id: str | None = None, inherit: bool = True) -> SessionScope:
    """A session scope: ``with threadline_sdk.session("chat-123", user_id="u1") as s: ...``.

    Every span started inside (by this SDK or by any OpenTelemetry instrumentation, as long as the provider has a
    :class:`~threadline_sdk.SessionSpanProcessor`, which ``init`` adds) gets ``session.id``, ``user.id``, ``metadata``
    (a JSON object string), ``tag.tags`` (a JSON list string) and ``session.previous_id``. A missing ``session_id``
    is generated (``s.id``). Works as ``with`` and ``async with``. See :class:`SessionScope`.
    """
    return SessionScope(session_id, user_id=user_id, metadata=metadata, tags=tags, previous_id=previous_id,
                        inherit=inherit)
