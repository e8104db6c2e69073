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
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Problem(400, f"the body is not a valid gzip stream ({exc})") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    return data
