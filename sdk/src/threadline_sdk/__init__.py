"""threadline-sdk: group your OpenTelemetry traces into sessions, trace functions, and read sessions back.

Import name ``threadline_sdk``::

    import threadline_sdk as tl

    tl.init(endpoint="http://127.0.0.1:4318", api_key="tl_...")

    @tl.observe(as_type="generation", model="gpt-4o-mini")
    def answer(question: str) -> str: ...

    with tl.session("chat-123", user_id="u1"):
        answer("Where is my order?")
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadline_sdk import attributes, models
from threadline_sdk._observe import (
    Observation,
    ObservationType,
    SpanScope,
    TraceHandle,
    TraceScope,
    current_observation,
    observe,
    span,
    trace,
    update_current,
)
from threadline_sdk._serialize import Redactor
from threadline_sdk._session import EndState, SessionInfo, SessionScope, current_session, session
from threadline_sdk._setup import Threadline, flush, get_active, init, shutdown
from threadline_sdk.client import (
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    ThreadlineError,
)
from threadline_sdk.export import ResilientSpanExporter
from threadline_sdk.processor import SessionSpanProcessor

__version__ = "0.1.0"

P = ParamSpec("P")
R = TypeVar("R")


def bind(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to a copy of the current context (session and current span), to run in another thread::

        with tl.session("chat-1"):
            executor.submit(tl.bind(work), item)  # work's spans join chat-1

    Each call runs in its own copy, so calls may run concurrently."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return bound


__all__ = [
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "EndState",
    "NotFoundError",
    "Observation",
    "ObservationType",
    "Redactor",
    "ResilientSpanExporter",
    "SessionInfo",
    "SessionScope",
    "SessionSpanProcessor",
    "SpanScope",
    "Threadline",
    "ThreadlineError",
    "TraceHandle",
    "TraceScope",
    "__version__",
    "attributes",
    "bind",
    "current_observation",
    "current_session",
    "flush",
    "get_active",
    "init",
    "models",
    "observe",
    "session",
    "shutdown",
    "span",
    "trace",
    "update_current",
]
