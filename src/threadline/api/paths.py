"""Path parameters that may hold any text, such as a session id with ``/``, ``%``, spaces or non-ASCII characters.

ASGI servers hand Starlette the percent-decoded path, so ``/v1/sessions/team%2Fa`` would be routed as
``/v1/sessions/team/a`` and match no route. :class:`EncodedSegmentsMiddleware` rebuilds the routing path from the raw
path: each segment is decoded, except that ``%`` and ``/`` inside a segment stay escaped (``%25``, ``%2F``), so the
segment structure the client sent is kept. A route declares such a parameter as ``{name:text}``; the ``text``
convertor turns it back into the exact string.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send


def _escape(segment: str) -> str:
    return segment.replace("%", "%25").replace("/", "%2F")


class TextConvertor(Convertor[str]):
    """One path segment as the client's text (see the module docstring)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return _escape(value)


register_url_convertor("text", TextConvertor())


def routing_path(raw_path: bytes) -> str:
    """The path to route on: each segment of ``raw_path`` percent-decoded, with ``%`` and ``/`` re-escaped."""
    return "/".join(_escape(unquote(segment)) for segment in raw_path.decode("latin-1").split("/"))


class EncodedSegmentsMiddleware:
    """ASGI middleware: route on :func:`routing_path` of the raw path when it holds percent escapes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        if raw and b"%" in raw:
            scope = {**scope, "path": routing_path(raw)}
        await self.app(scope, receive, send)
