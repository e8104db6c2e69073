"""``SessionSpanProcessor``: puts the current session on every span, whoever starts it."""

from __future__ import annotations

import json
import logging

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from threadline_sdk import _state
from threadline_sdk import attributes as attr
from threadline_sdk._session import current_session

logger = logging.getLogger("threadline_sdk")


class SessionSpanProcessor(SpanProcessor):
    """An OpenTelemetry span processor that copies the current :func:`threadline_sdk.session` onto every span at start:
    ``session.id``, ``user.id``, ``metadata``, ``tag.tags`` and ``session.previous_id``.

    It works with any instrumentation (OpenInference, OpenLLMetry, a plain tracer...) and on its own, without
    ``threadline_sdk.init``::

        provider.add_span_processor(SessionSpanProcessor())
        with threadline_sdk.session("chat-123", user_id="u1"):
            ...  # every span started here carries the session

    Attributes a span already has when it starts are kept (an explicit ``session.id`` wins); a span's own
    ``metadata`` JSON object is merged over the session's. It never raises.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        info = current_session()
        if info is None:
            return
        try:
            existing = span.attributes or {}
            for key, value in info.attributes.items():
                if key not in existing:
                    span.set_attribute(key, value)
                elif key == attr.METADATA:
                    merged = _merge_metadata(value, existing[key])
                    if merged is not None:
                        span.set_attribute(key, merged)
        except Exception:
            logger.debug("threadline: could not set the session on a span", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span.attributes or {}
            session_id = attributes.get(attr.SESSION_ID)
            context = span.get_span_context()
            if isinstance(session_id, str) and session_id and span.end_time is not None and context is not None:
                _state.last_spans.record(session_id, context, span.end_time)
        except Exception:
            logger.debug("threadline: could not remember a session span", exc_info=True)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _merge_metadata(session_json: str, span_value: object) -> str | None:
    """The span's own metadata object merged over the session's, or ``None`` to keep the span's as it is."""
    if not isinstance(span_value, str):
        return None
    try:
        session_meta = json.loads(session_json)
        span_meta = json.loads(span_value)
    except ValueError:
        return None
    if not isinstance(session_meta, dict) or not isinstance(span_meta, dict):
        return None
    return json.dumps({**session_meta, **span_meta}, ensure_ascii=False, separators=(",", ":"))
