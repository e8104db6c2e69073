"""Search helpers: LIKE patterns that match the term literally, snippets (escaping, marking, cuts); and on real chDB,
that the content-search indexes never lose a matching turn."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from threadline.queries.search import MATCHES, like_pattern, params, snippet
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

EN_DASH = "\u2013"  # not ASCII


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


# Texts made of a few words, separators and non-ASCII letters, so that random terms often span words, cut them, or
# hold separators, LIKE's special characters and unicode; lowerUTF8 and Python's lower() agree on all of them.
_WORDS = ["refund", "order", "überweisung", "ÄÖÜ", "a_b", "100%", "zebrafish", "fish", "x", "C:\\temp", "Quick"]
_SEPARATORS = [" ", " ", ", ", ". ", EN_DASH, "\n", "-"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_WORDS) + rng.choice(_SEPARATORS) for _ in range(rng.randint(0, 8)))


@pytest.fixture(scope="module")
def corpus(chdb_dir: Path) -> Iterator[tuple[Store, dict[str, list[tuple[str, str]]]]]:
    """300 turns of 60 sessions in trace_rollups (6 inserts: 6 parts, each with its text indexes) on chDB, and each
    session's (input, output) texts. One store for the module: hypothesis runs many terms on it."""
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    rng = random.Random(7)
    rows = [{"project_id": "p", "session_id": f"s{turn % 60:02d}", "trace_id": f"{turn:032x}",
             "start_time": turn * 10**9, "input": _text(rng) if rng.random() < 0.9 else "", "output": _text(rng),
             "version": 1, "is_deleted": 0} for turn in range(300)]
    schema = pa.schema([("project_id", pa.string()), ("session_id", pa.string()), ("trace_id", pa.string()),
                        ("start_time", pa.timestamp("ns", "UTC")), ("input", pa.string()), ("output", pa.string()),
                        ("version", pa.uint64()), ("is_deleted", pa.uint8())])
    for part in range(6):
        store.insert("trace_rollups", pa.Table.from_pylist(rows[part * 50:(part + 1) * 50], schema), tag="test.corpus")
    turns: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        turns.setdefault(str(row["session_id"]), []).append((str(row["input"]), str(row["output"])))
    yield store, turns
    store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


@st.composite
def terms(draw: st.DrawFn) -> str:
    """A piece of a corpus-like text (across words, cut anywhere), or a random short string."""
    if draw(st.booleans()):
        text = _text(random.Random(draw(st.integers(0, 10**6))))
        start = draw(st.integers(0, max(0, len(text) - 1)))
        term = text[start:start + draw(st.integers(1, 14))]
    else:
        term = draw(st.text(alphabet="abfhinorsuzäÄü_%\\ -." + EN_DASH, min_size=1, max_size=8))
    assume(term.strip() != "")
    return term


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(term=terms())
def test_search_finds_every_turn_that_contains_the_term(corpus: tuple[Store, dict[str, list[tuple[str, str]]]],
                                                        term: str) -> None:
    """The text indexes only choose what to read: a search matches exactly the turns whose input or output contains
    the term, case-insensitively, whatever words the term spans or cuts."""
    store, turns = corpus
    rows = store.select(MATCHES, {"project_id": "p", **params(term)}, tag="test.search")
    found = {row["session_id"]: row["matched_turns"] for row in rows}
    needle = term.lower()
    expected = {session: hits for session, texts in turns.items()
                if (hits := sum(needle in text.lower() or needle in output.lower() for text, output in texts))}
    assert found == expected
