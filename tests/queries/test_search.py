"""Search helpers: LIKE patterns that match the term literally, snippets (escaping, marking, cuts)."""

from __future__ import annotations

import pytest

from threadline.queries.search import like_pattern, params, snippet


@pytest.mark.parametrize(("term", "pattern"), [
    ("refund", "%refund%"), ("100%", "%100\\%%"), ("a_b", "%a\\_b%"), ("C:\\x", "%C:\\\\x%"), ("'\"", "%'\"%"),
])
def test_like_pattern(term: str, pattern: str) -> None:
    assert like_pattern(term) == pattern
    assert params(term) == {"search": pattern, "search_term": term}


def test_snippet_marks_the_first_match_and_escapes() -> None:
    assert snippet("a <b>Refund</b> & refund", "REFUND") == "a &lt;b&gt;<mark>Refund</mark>&lt;/b&gt; &amp; refund"
    assert snippet("nothing here", "refund") is None
    assert snippet("ÜBER alles", "über") == "<mark>ÜBER</mark> alles"


def test_snippet_cuts_long_text() -> None:
    text = "x" * 200 + "needle" + "y" * 200
    cut = snippet(text, "needle", context=10)
    assert cut == "…" + "x" * 10 + "<mark>needle</mark>" + "y" * 10 + "…"
    assert snippet("a needle b", "needle", cut_before=True, cut_after=True) == "…a <mark>needle</mark> b…"
    assert snippet("needle", "needle") == "<mark>needle</mark>"
