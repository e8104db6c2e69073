"""The OTLP/gRPC services: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` and
``opentelemetry.proto.collector.logs.v1.LogsService/Export``.

Each call is authenticated like an HTTP request (metadata ``authorization: Bearer <key>`` or ``x-api-key: <key>``;
none in local development mode; failures from one address throttled; a key whose scope cannot ingest, i.e. a
``read`` key, is refused ``PERMISSION_DENIED``), then its message goes through the same
decoding, normalisation and commit as ``POST /v1/traces`` and ``POST /v1/logs`` (:mod:`threadline.api.otlp_export`).
OK means committed; the response's ``partial_success`` counts and names the rejected spans or records.

The methods are registered with the service and method names of the generated stubs of ``opentelemetry-proto`` but
take the request as bytes (no deserializer), so that the message is parsed off the event loop by the function HTTP
uses, and a request that does not parse gets ``INVALID_ARGUMENT`` naming the problem (grpc's own deserializer
would answer ``INTERNAL``).
"""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import unquote

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from threadline.api import otlp_export
from threadline.api.auth import key_from_headers, key_principal, throttle_wait
from threadline.api.state import AppState
from threadline.auth import scopes
from threadline.auth.authenticator import AuthError
from threadline.grpc.status import Refusal, refusal_of
from threadline.ingest.otlp import PROTOBUF, encode_response
from threadline.ingest.otlp_logs import encode_logs_response

TRACE_SERVICE: str = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
LOGS_SERVICE: str = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name
EXPORT = "Export"
METRICS_ENDPOINT = "grpc"  # the ``endpoint`` label of the ingest metrics


def peer_host(peer: str) -> str:
    """The address of a gRPC peer string (``ipv4:127.0.0.1:5000`` → ``127.0.0.1``, ``ipv6:[::1]:5000`` → ``::1``,
    percent-escapes decoded): the same key the HTTP side throttles failures by. Other forms are kept whole."""
    kind, _, rest = unquote(peer).partition(":")
    if kind in ("ipv4", "ipv6") and rest:
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer or "unknown"


async def abort(context: grpc.aio.ServicerContext, refusal: Refusal) -> NoReturn:
    """End the RPC with ``refusal`` (code, message, status details)."""
    await context.abort(refusal.code, refusal.message, refusal.trailing_metadata())
    raise AssertionError("context.abort returned")  # it raises; this line only tells the type checker


class OtlpServices:
    """The export methods, acting on the server's shared ``state`` (writer, store, authenticator, metrics)."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def project(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """The project a call of ``method`` (the full method name, for messages) acts on, from its metadata.
        Aborts the call with ``UNAUTHENTICATED`` (missing, malformed, unknown, revoked or expired key),
        ``PERMISSION_DENIED`` (a key whose scope cannot ingest; HTTP: 403), or ``RESOURCE_EXHAUSTED`` with
        ``RetryInfo`` while its address has too many recent failures (HTTP: 429)."""
        address = peer_host(context.peer())
        wait = throttle_wait(self.state, address)
        if wait:
            await abort(context, Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many failed authentication "
                                         f"attempts from this address; retry in {wait} s", wait))
        metadata: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if isinstance(value, str):  # binary (-bin) values never carry a key
                metadata.setdefault(key.lower(), value)
        presented = key_from_headers(metadata.get("authorization", ""), metadata.get("x-api-key", ""))
        try:
            principal = await key_principal(self.state, address, presented)
        except AuthError as exc:
            await abort(context, Refusal(grpc.StatusCode.UNAUTHENTICATED, str(exc)))
        try:
            scopes.require(principal.scope, scopes.INGEST, method)
        except scopes.ScopeError as exc:
            await abort(context, Refusal(grpc.StatusCode.PERMISSION_DENIED, str(exc)))
        return principal.project_id

    async def export_traces(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """``TraceService/Export``: a serialized ``ExportTraceServiceRequest`` in, a serialized
        ``ExportTraceServiceResponse`` out once its spans are committed."""
        project = await self.project(context, f"{TRACE_SERVICE}/{EXPORT}")
        try:
            exported = await otlp_export.export_spans(self.state, body, PROTOBUF, project, METRICS_ENDPOINT)
        except Exception as exc:  # the RPC boundary: every failure becomes a status (unexpected ones are logged)
            await abort(context, refusal_of(exc))
        return encode_response(exported.rejected, exported.message, PROTOBUF)

    async def export_logs(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """``LogsService/Export``: a serialized ``ExportLogsServiceRequest`` in, a serialized
        ``ExportLogsServiceResponse`` out once its records are stored."""
        project = await self.project(context, f"{LOGS_SERVICE}/{EXPORT}")
        try:
            exported = await otlp_export.export_logs(self.state, body, PROTOBUF, project)
        except Exception as exc:  # the RPC boundary, as above
            await abort(context, refusal_of(exc))
        return encode_logs_response(exported.rejected, exported.message, PROTOBUF)

    def handlers(self) -> list[Any]:
        """The ``grpc.GenericRpcHandler`` of each service, for ``grpc.aio.Server.add_generic_rpc_handlers``:
        unary methods taking and returning bytes."""
        return [
            grpc.method_handlers_generic_handler(TRACE_SERVICE, {
                EXPORT: grpc.unary_unary_rpc_method_handler(self.export_traces)}),
            grpc.method_handlers_generic_handler(LOGS_SERVICE, {
                EXPORT: grpc.unary_unary_rpc_method_handler(self.export_logs)}),
        ]
