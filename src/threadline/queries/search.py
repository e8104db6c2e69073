"""Content search over sessions: their id, name, and the input and output of every turn.

Matching is a case-insensitive substring match, ``lowerUTF8(text) LIKE lowerUTF8('%term%')`` with ``%``, ``_`` and
``\\`` of the term escaped, so any text (quotes, wildcards, unicode) is searched for literally; the term is a bind
parameter. The turn texts live in ``trace_rollups``, whose indexes on the 3-grams of ``lowerUTF8(input)`` and
``lowerUTF8(output)`` let ClickHouse skip every granule that cannot contain the term: text (inverted) indexes
(migration 9) on ClickHouse 26.2 and later, including the embedded chDB; n-gram bloom filters (migration 4) before.

The turn texts are read once per search: :func:`searched_source` joins the list's session rows with
:data:`MATCHES`, one row per session with a matching turn (how many match, and the first three in turn order with
an excerpt around the match), so filtering, sorting and paging apply to sessions as in the list, and the hits of a
page already carry what their snippets need. :func:`turn_numbers` then numbers the page's matching turns from the
turn keys alone, and :func:`snippet` cuts a highlighted, HTML-escaped excerpt.
"""

from __future__ import annotations

import html
import re

from threadline.store.gateway import Store

SNIPPET_CONTEXT = 70  # characters of context on each side of the match
_EXCERPT_BEFORE = 100  # characters of text kept before the match in the excerpt, and in all
_EXCERPT_LENGTH = 300

_MATCH = "lowerUTF8({column}) LIKE lowerUTF8({{search:String}})"

# The rows of turns whose ``field`` (input or output) contains the term: one scan per text column, so
# that each column's n-gram index skips the granules that cannot hold the term (with both columns in one
# ``input LIKE … OR output LIKE …`` neither index skipped anything: a needle search read every text, ~1 s at 200k
# sessions against ~0.2 s). ``text`` is that column; a turn matching in both keeps its input row (LIMIT 1 BY).
def _matching_turns(field: str) -> str:
    return f"""
    SELECT session_id, trace_id, version, toUnixTimestamp64Nano(start_time) AS start_ns, '{field}' AS field,
           {field} AS text, lengthUTF8(text) AS text_length,
           greatest(1, positionCaseInsensitiveUTF8(text, {{search_term:String}}) - {_EXCERPT_BEFORE}) AS excerpt_at,
           substringUTF8(text, excerpt_at, {_EXCERPT_LENGTH}) AS excerpt
    FROM {{db}}.trace_rollups
    WHERE project_id = {{project_id:String}} AND session_id != '' AND {_MATCH.format(column=field)}"""


# Per session of the project with a matching turn: matched_turns, and first_matches = the first 3 matching turns as
# (start_ns, trace_id, field, excerpt_at, text_length, excerpt): the field that matched (input, else output), the
# excerpt of that text starting at character excerpt_at (1-based) and the text's length, in characters.
# The text scans read trace_rollups without FINAL, so that only the granules the skip indexes keep are read (FINAL's
# exact mode would add every granule sharing a key range with them, in every part); a matching row then counts
# only if it is its turn's current, live row: same key and version as the FINAL row of that turn, read from the key
# columns alone (no text).
MATCHES = f"""
SELECT c.session_id AS session_id, count() AS matched_turns,
       groupArraySorted(3)((c.start_ns, c.trace_id, c.field, c.excerpt_at, c.text_length, c.excerpt)) AS first_matches
FROM (
    SELECT session_id, trace_id, version FROM {{db}}.trace_rollups FINAL
    WHERE project_id = {{project_id:String}} AND session_id != ''
) AS live
INNER JOIN (
    SELECT * FROM ({_matching_turns("input")}
    UNION ALL {_matching_turns("output")})
    ORDER BY field LIMIT 1 BY session_id, trace_id, version
) AS c ON c.session_id = live.session_id AND c.trace_id = live.trace_id AND c.version = live.version
GROUP BY c.session_id
"""

# A session matches when a turn does, or its id or name does.
CONDITION = ("(matched_turns > 0 OR lowerUTF8(session_id) LIKE lowerUTF8({search:String}) "
             "OR lowerUTF8(name) LIKE lowerUTF8({search:String}))")
COLUMNS = ("matched_turns", "first_matches")
# The session row columns (queries.session_row aliases) CONDITION reads besides COLUMNS.
CONDITION_COLUMNS = frozenset({"session_id", "name"})


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's special characters of ``term`` escaped (matched literally)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def params(term: str) -> dict[str, str]:
    """The bind parameters of :data:`MATCHES` and :data:`CONDITION` for ``term``."""
    return {"search": like_pattern(term), "search_term": term}


def searched_source(source: str) -> str:
    """The list's row source ``source`` (a SELECT of session rows) with each session's turn matches joined
    (:data:`COLUMNS`; 0 and [] for sessions without one). Filter it with :data:`CONDITION`."""
    return (f"SELECT l.*, m.matched_turns AS matched_turns, m.first_matches AS first_matches FROM ({source}) AS l "
            f"LEFT JOIN ({MATCHES}) AS m ON m.session_id = l.session_id")


# Turn numbers (1 = first by start time) of some turns of some sessions, from their keys only (no text read).
TURN_NUMBERS = """
SELECT trace_id, turn FROM (
    SELECT trace_id, row_number() OVER (PARTITION BY session_id ORDER BY start_time, trace_id) AS turn
    FROM {db}.trace_rollups FINAL
    WHERE project_id = {project_id:String} AND session_id IN {ids:Array(String)}
)
WHERE trace_id IN {traces:Array(String)}
"""


def turn_numbers(store: Store, project_id: str, session_ids: list[str], trace_ids: list[str]) -> dict[str, int]:
    """trace id → its turn number in its session, for ``trace_ids`` of ``session_ids``. Raises StoreError."""
    if not trace_ids:
        return {}
    rows = store.select(TURN_NUMBERS, {"project_id": project_id, "ids": session_ids, "traces": trace_ids},
                        tag="search.turn_numbers")
    return {row["trace_id"]: int(row["turn"]) for row in rows}


def snippet(text: str, term: str, context: int = SNIPPET_CONTEXT, *, cut_before: bool = False,
            cut_after: bool = False) -> str | None:
    """An HTML-escaped excerpt of ``text`` around the first case-insensitive occurrence of ``term``, the occurrence
    wrapped in ``<mark>``…``</mark>`` and cuts marked ``…`` (``cut_before``/``cut_after``: ``text`` itself is
    already cut there); None when ``term`` does not occur."""
    found = re.search(re.escape(term), text, re.IGNORECASE)
    if found is None:
        return None
    start, end = found.span()
    left, right = max(0, start - context), min(len(text), end + context)
    return ("…" if left > 0 or cut_before else "") + html.escape(text[left:start]) + "<mark>" \
        + html.escape(text[start:end]) + "</mark>" + html.escape(text[end:right]) \
        + ("…" if right < len(text) or cut_after else "")
