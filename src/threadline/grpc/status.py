"""gRPC status codes of the receiver's refusals, with ``google.rpc.RetryInfo`` where a retry can succeed.

OTLP specification, "OTLP/gRPC Response" and "OTLP/gRPC Throttling": ``INVALID_ARGUMENT`` for data that can never
be accepted (not retryable); ``UNAVAILABLE`` (retryable) while the server or its store cannot take data;
``RESOURCE_EXHAUSTED`` is retryable only when the status carries a ``RetryInfo`` (throttling), so a request too large
to ever fit gets none. The ``RetryInfo`` travels twice: packed in the ``google.rpc.Status`` of the standard
``grpc-status-details-bin`` trailer (what gRPC's status libraries and the Go and Java exporters read), and alone in a
``google.rpc.retryinfo-bin`` trailer, which the OpenTelemetry Python exporter reads instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from threadline.api.write import TooManySpans, WriterStopping
from threadline.ingest.otlp import OtlpDecodeError
from threadline.queue.producer import QueueUnavailable
from threadline.store.errors import StoreError, StoreUnavailable
from threadline.writer.group_commit import Overloaded

log = logging.getLogger("threadline.grpc")
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


@dataclass(frozen=True)
class Refusal:
    """How an RPC ends when the request is not (wholly) stored: a status code, a sentence the caller can act on,
    and the seconds after which a retry may succeed (None: do not retry)."""

    code: grpc.StatusCode
    message: str
    retry_after_s: int | None = None

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        """The trailers carrying the status details: a ``google.rpc.Status`` with the ``RetryInfo`` (when a retry
        may succeed) in ``grpc-status-details-bin``, and the ``RetryInfo`` alone in ``google.rpc.retryinfo-bin``."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.retry_after_s is None:
            return tuple(rpc_status.to_status(status).trailing_metadata)
        retry_info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_s))
        detail = any_pb2.Any()
        detail.Pack(retry_info)
        status.details.append(detail)
        return (*rpc_status.to_status(status).trailing_metadata, (RETRY_INFO_KEY, retry_info.SerializeToString()))


def refusal_of(exc: Exception) -> Refusal:
    """The refusal answering an export that raised ``exc``: an undecodable request, a refusal of the writer
    (:func:`threadline.api.write.commit_rows`), a store failure, or anything else (logged: a bug of ours)."""
    if isinstance(exc, OtlpDecodeError):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"could not decode the OTLP request: {exc}")
    if isinstance(exc, TooManySpans):
        return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    if isinstance(exc, WriterStopping):
        return Refusal(grpc.StatusCode.UNAVAILABLE, str(exc), 1)
    if isinstance(exc, QueueUnavailable):  # an Overloaded: Redis, not the load, is the problem
        return Refusal(grpc.StatusCode.UNAVAILABLE, f"ingest is unavailable ({exc}); retry later", exc.retry_after)
    if isinstance(exc, Overloaded):
        return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, f"ingest is overloaded ({exc}); retry later",
                       exc.retry_after)
    if isinstance(exc, StoreUnavailable):
        log.error("store unavailable during %s: %s", exc.tag, exc)
        return Refusal(grpc.StatusCode.UNAVAILABLE, "the store is unavailable; retry shortly", 1)
    if isinstance(exc, StoreError):
        log.error("store error during %s: %s", exc.tag, exc)
        return Refusal(grpc.StatusCode.INTERNAL, "the server failed to store the request; the error is in the "
                                                 "server log")
    log.error("unhandled error in an OTLP/gRPC export", exc_info=exc)
    return Refusal(grpc.StatusCode.INTERNAL, "the server failed unexpectedly; the error is in the server log")
