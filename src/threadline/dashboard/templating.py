"""The dashboard's Jinja2 environment: autoescaped templates from the package and the display filters every page
shares (cost in USD, tokens, durations in ms, relative times, numbers, path segments), and the global
``asset(name)``: the content-hashed URL of a static file (``{{ asset("app.css") }}``, see ``dashboard.assets``).

Filters take the values the API presenters produce (:mod:`threadline.api.present`): floats in USD or ms, integer
token counts, ISO 8601 UTC times. ``None`` renders as an em dash everywhere, so a missing stat is visibly missing.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from threadline.api.session_paths import path_segment

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
MISSING = "—"


def usd(value: float | None) -> str:
    """A cost in USD: ``$12.34``, ``$0.50``, ``$0.0123``, ``$0.0000123`` (three significant digits below $1, so a
    per-call cost shows), ``$0``."""
    if value is None:
        return MISSING
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    digits = max(2, 2 - math.floor(math.log10(abs(value))))  # three significant digits below $1
    shown = f"{value:.{min(digits, 8)}f}"
    whole, _, cents = shown.partition(".")
    return f"${whole}.{cents.rstrip('0').ljust(2, '0')}"  # at least cents: $0.50, not $0.5


def compact(value: float | None) -> str:
    """A count shortened for a table cell: ``950``, ``12.3k``, ``4.56M``, ``1.2B``."""
    if value is None:
        return MISSING
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            shown = value / size
            return f"{shown:.{0 if shown >= 100 else 1 if shown >= 10 else 2}f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"


def tokens(value: int | None) -> str:
    """A token count: ``950``, ``12.3k``, ``4.56M``."""
    return compact(value)


def number(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals: ``1,234,567``."""
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """A ratio in 0..1 as a percentage: ``0.123`` → ``12.3%``."""
    if value is None:
        return MISSING
    return f"{value * 100:.{digits}f}%"


def duration_ms(value: float | None) -> str:
    """A duration in ms: ``850 ms``, ``12.3 s``, ``4m 05s``, ``2h 03m``, ``3d 4h``."""
    if value is None:
        return MISSING
    if value < 1:
        return f"{value:.2f} ms" if value else "0 ms"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as an aware datetime. Raises ValueError."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def relative(value: str | None, now: float | None = None) -> str:
    """An ISO 8601 time relative to now (or ``now``, epoch seconds): ``just now``, ``5 min ago``, ``3 h ago``,
    ``2 d ago``, then the date (``2026-03-01``). Future times read ``in 5 min``."""
    if not value:
        return MISSING
    moment = parse_iso(value)
    delta = (time.time() if now is None else now) - moment.timestamp()
    ahead, delta = delta < 0, abs(delta)
    if delta < 45:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if delta >= size:
            if unit == "d" and delta >= 30 * 86400:
                return moment.strftime("%Y-%m-%d")
            amount = round(delta / size)
            return f"in {amount} {unit}" if ahead else f"{amount} {unit} ago"
    return "just now"


def utc(value: str | None) -> str:
    """An ISO 8601 time as ``2026-03-01 14:05:09 UTC`` (the exact time, for tooltips)."""
    if not value:
        return MISSING
    return parse_iso(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_tag(value: str | None) -> Markup:
    """A ``<time>`` element showing the relative time, with the exact UTC time as its tooltip; ``app.js`` keeps the
    relative text current (``data-relative``)."""
    if not value:
        return Markup(MISSING)
    return Markup('<time datetime="{0}" title="{1}" data-relative>{2}</time>').format(
        escape(value), escape(utc(value)), escape(relative(value)))


FILTERS: dict[str, Any] = {"usd": usd, "tokens": tokens, "compact": compact, "number": number, "percent": percent,
                           "duration_ms": duration_ms, "relative": relative, "utc": utc, "time_tag": time_tag,
                           "segment": path_segment}


def environment() -> Environment:
    """The dashboard's Jinja2 environment: templates of the package, HTML autoescaping, the shared filters."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.globals["asset"] = _asset_url
    return env


def _asset_url(name: str) -> str:
    from threadline.dashboard.assets import asset_url  # assets imports this module's STATIC_DIR

    return asset_url(name)


templates = Jinja2Templates(env=environment())
