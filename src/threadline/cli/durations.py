"""Durations typed on the command line: a whole number and a unit, ``30d``, ``12h``, ``90m`` or ``3600s``."""

from __future__ import annotations

import re

UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_S = 100 * 365 * 86_400  # 100 years
_DURATION = re.compile(r"([0-9]{1,12})([dhms])")


def parse_duration(text: str) -> int:
    """Seconds of ``text`` (``<whole number><d|h|m|s>``, e.g. ``30d``; surrounding spaces and case ignored).
    Raises ValueError with a sentence saying what is accepted: for no unit, another unit, a fraction, a sign, zero,
    or more than 100 years."""
    value = text.strip().lower()
    match = _DURATION.fullmatch(value)  # fullmatch: "$" would also match before a trailing newline
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a whole number followed by d (days), h (hours), "
                         "m (minutes) or s (seconds), e.g. 30d, 12h, 90m or 3600s")
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"the duration {text!r} is zero; a key must stay valid for at least 1 s")
    if seconds > MAX_S:
        raise ValueError(f"the duration {text!r} is longer than 100 years; leave the expiry out for a key that "
                         "never expires")
    return seconds
