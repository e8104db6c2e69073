"""Reading request bodies with a size limit, before and after ``Content-Encoding: gzip``."""

from __future__ import annotations

import zlib

from fastapi import Request

from threadline.api.problems import Problem


def _too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than {limit} bytes; send smaller batches "
                        "(OTLP exporters: lower the batch size) or raise THREADLINE_MAX_BODY_BYTES")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``. Raises Problem 413 above ``limit`` bytes
    (compressed or not), 415 for an unsupported encoding, 400 for a corrupt gzip stream."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise Problem(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    return _gunzip(body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate every member of a gzip stream (RFC 1952 allows several back to back), stopping at ``limit + 1``
    bytes of output so a small body cannot inflate without bound."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise Problem(400, f"the body is not a valid gzip stream ({exc})") from None
        size += len(data)
        parts.append(data)
        if size > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
        if not inflater.eof:  # truncated: zlib returns what it could inflate, without checking the CRC trailer
            raise Problem(400, "the body is not a valid gzip stream (it ends before the end of the compressed "
                               "data)")
        rest = inflater.unused_data
        if not rest:
            return b"".join(parts)
