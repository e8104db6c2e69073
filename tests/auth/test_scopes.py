"""Scopes: which scope allows what, names checked, and the refusal's sentence (what the key has, what would do)."""

from __future__ import annotations

import pytest

from threadline.auth import scopes


def test_all_allows_everything_and_the_others_only_themselves() -> None:
    allowed = {(have, needed) for have in scopes.SCOPES for needed in scopes.SCOPES if scopes.allows(have, needed)}
    assert allowed == {("all", "all"), ("all", "read"), ("all", "ingest"), ("read", "read"), ("ingest", "ingest")}
    assert not scopes.allows("", "read") and not scopes.allows("ALL", "read")  # stored values are exact


def test_the_refusal_names_the_scope_held_and_the_scopes_that_would_do() -> None:
    with pytest.raises(scopes.ScopeError) as info:
        scopes.require("ingest", "read", "GET /v1/sessions")
    assert str(info.value) == ("this API key has scope 'ingest'; reading sessions, traces and metrics "
                               "(GET /v1/sessions) needs a key with scope 'read' or 'all'")
    with pytest.raises(scopes.ScopeError, match="^this API key has scope 'read'; changing sessions and scores "
                                                 r"\(PATCH /v1/sessions/x\) needs a key with scope 'all'$"):
        scopes.require("read", "all", "PATCH /v1/sessions/x")
    with pytest.raises(scopes.ScopeError, match="logging in to the dashboard needs a key with scope 'read' or"):
        scopes.require("ingest", "read", action="logging in to the dashboard")
    scopes.require("all", "all")


@pytest.mark.parametrize("bad", ["", "write", "ALL", " all", "all\n", "ingest,read"])
def test_unknown_scope_names_are_refused_naming_the_allowed_ones(bad: str) -> None:
    with pytest.raises(ValueError, match=r"'ingest'.*'read'.*'all'"):
        scopes.check_name(bad)
    assert [scopes.check_name(name) for name in ("ingest", "read", "all")] == ["ingest", "read", "all"]
