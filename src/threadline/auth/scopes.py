"""API key scopes: what a key may do, and the sentence refusing what it may not.

* ``ingest``: send spans and logs only (OTLP/HTTP and OTLP/gRPC, native ``/v1/ingest``, the Langfuse OTel paths, the
  AgentOps token exchange and log upload). It reads nothing back, so it is safe to ship in a front end or an edge
  function.
* ``read``: every read (sessions, traces, search, export, metrics, scores, jobs, the dashboard); writes nothing.
* ``all`` (the default, and the only scope before scopes existed): both, plus the changes of sessions (create, edit,
  delete) and scores, which need ``all``.

A request without a key in local development mode acts with ``all``. Access tokens and dashboard sessions act as
their key, hence with its scope.
"""

from __future__ import annotations

from typing import Final, Literal

Scope = Literal["ingest", "read", "all"]
INGEST: Final = "ingest"
READ: Final = "read"
ALL: Final = "all"
SCOPES: tuple[Scope, ...] = (INGEST, READ, ALL)

# What a request needing each scope does, for the refusal's sentence.
ACTIONS: dict[Scope, str] = {
    INGEST: "sending spans and logs",
    READ: "reading sessions, traces and metrics",
    ALL: "changing sessions and scores",
}


class ScopeError(Exception):
    """A valid key used outside its scope; the message names the scope it has and the ones that would do."""


def check_name(value: str) -> Scope:
    """``value`` as a scope. Raises ValueError naming the allowed values."""
    for scope in SCOPES:
        if value == scope:
            return scope
    raise ValueError(f"unknown scope {value!r}; a key's scope is one of 'ingest' (send spans and logs only), "
                     "'read' (read only) or 'all' (everything)")


def allows(have: str, needed: Scope) -> bool:
    """Whether a key of scope ``have`` may do what needs ``needed`` (``all`` may do everything)."""
    return have in (ALL, needed)


def require(have: str, needed: Scope, what: str | None = None, *, action: str | None = None) -> None:
    """Raise ScopeError unless ``have`` allows ``needed``. The message says what the request does: ``action``
    (default: what needing ``needed`` means, e.g. "reading sessions, traces and metrics") and ``what`` (the request,
    e.g. ``GET /v1/sessions``)."""
    if allows(have, needed):
        return
    enough = "'all'" if needed == ALL else f"'{needed}' or 'all'"
    request = f" ({what})" if what else ""
    raise ScopeError(f"this API key has scope '{have}'; {action or ACTIONS[needed]}{request} needs a key with "
                     f"scope {enough}")
