"""The rule that decides a session's ``end_state``, defined once, as Python and as the equivalent SQL.

A session's end state is, first match wins:

1. the one set through the API (``PATCH /v1/sessions/{id}``: annotation ``end_state``);
2. the one reported on a span (``session.end_state`` / ``agentops.session.end_state``; the latest span wins);
3. ``active`` while its last activity is less than the idle timeout (``session_idle_timeout_s``) before *now*;
4. ``indeterminate`` otherwise: Threadline never claims ``success`` or ``failure`` by guessing.

The list filter (``end_state=``) and the value the API shows must agree, so both are computed from the same
inputs: :data:`END_STATE_SQL` (over the aliases of ``queries.sessions.SESSION_COLUMNS``, with *now* and the timeout
bound as ``{now_ns:Int64}`` and ``{idle_ns:Int64}``) and :func:`derive` (the same comparison in Python).
"""

from __future__ import annotations

END_STATES = ("active", "success", "failure", "indeterminate")

# Over SESSION_COLUMNS aliases: annotated_end_state, reported_end_state (strings, '' when unset; the annotation is
# NULL-free because LEFT JOIN fills defaults) and last_seen_ns (ns since the epoch).
END_STATE_SQL = """multiIf(
    annotated_end_state != '', annotated_end_state,
    reported_end_state != '', reported_end_state,
    {now_ns:Int64} - last_seen_ns < {idle_ns:Int64}, 'active',
    'indeterminate')"""


def idle_ns(idle_timeout_s: float) -> int:
    """The idle timeout in whole ns, as both :func:`derive` and :data:`END_STATE_SQL` compare it."""
    return int(idle_timeout_s * 1_000_000_000)


def derive(annotated: str | None, reported: str | None, last_seen_ns: int, now_ns: int, idle_timeout_ns: int) -> str:
    """The end state from the annotation's and the spans' explicit values ('' or None when unset), the last activity
    and *now* (ns since the epoch), and the idle timeout (ns). Same rule as :data:`END_STATE_SQL`."""
    if annotated:
        return annotated
    if reported:
        return reported
    return "active" if now_ns - last_seen_ns < idle_timeout_ns else "indeterminate"
