"""Turning captured inputs and outputs into span attribute text: JSON-safe, redacted, size-capped. Never raises."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

logger = logging.getLogger("threadline_sdk")

Redactor = Callable[[Any], Any]
"""Called with the JSON-safe value (dicts, lists, strings, numbers, booleans, None) about to be recorded; returns the
value to record instead. If it raises, the value is replaced by ``"[redaction failed]"`` (never recorded as is)."""

MAX_DEPTH = 12
MAX_ITEMS = 1000  # per list or mapping
TRUNCATED = "...[truncated {n} chars]"


def to_jsonable(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """A JSON-safe copy of ``value``: pydantic models, dataclasses, mappings, sequences, sets, enums, dates, bytes,
    UUIDs and paths are converted; anything else becomes its ``repr``. Cycles and very deep values are cut."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if _depth >= MAX_DEPTH:
        return "[max depth]"
    if id(value) in _seen:
        return "[cycle]"
    seen = _seen | {id(value)}
    depth = _depth + 1
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["..."] = f"[{len(value) - MAX_ITEMS} more]"
                break
            out[k if isinstance(k, str) else str(k)] = to_jsonable(v, depth, seen)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        converted = [to_jsonable(v, depth, seen) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            converted.append(f"[{len(items) - MAX_ITEMS} more]")
        return converted
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth, seen)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) <= 256:
            return {"bytes_base64": base64.b64encode(raw).decode()}
        return f"[{len(raw)} bytes]"
    dump = getattr(value, "model_dump", None)  # pydantic v2
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), depth, seen)
        except Exception:
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth, seen)
        except Exception:
            pass
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def cap(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, saying how much was cut."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    return text[:max_chars] + TRUNCATED.format(n=len(text) - max_chars)


def encode(value: Any, *, max_chars: int, redact: Redactor | None) -> tuple[str, str]:
    """The attribute text of a captured value and its MIME type: a string is recorded as is (``text/plain``),
    anything else as JSON (``application/json``). Redacted first, then capped at ``max_chars``."""
    try:
        safe = to_jsonable(value)
        if redact is not None:
            try:
                safe = to_jsonable(redact(safe))
            except Exception:
                logger.warning("threadline: the redact hook raised; the value is not recorded", exc_info=True)
                safe = "[redaction failed]"
        if isinstance(safe, str):
            return cap(safe, max_chars), "text/plain"
        return cap(json.dumps(safe, ensure_ascii=False, separators=(",", ":")), max_chars), "application/json"
    except Exception:
        logger.debug("threadline: could not encode a value", exc_info=True)
        return "[unserializable]", "text/plain"


def json_attribute(value: Any) -> str:
    """A compact JSON string of a JSON-safe copy of ``value`` (for the ``metadata`` and ``tag.tags`` attributes)."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))
