"""Conversation text of JSON-encoded values (:mod:`threadline.ingest.content`)."""

from __future__ import annotations

import pytest

from threadline.ingest.content import NOT_JSON, content_text, decode, value_text


@pytest.mark.parametrize(("value", "output", "expected"), [
    ('"quoted"', False, "quoted"), ("plain", False, "plain"), ("", False, ""),
    ('[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]', False, "q"),
    ('[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]', True, "a"),
    ('{"role": "assistant", "content": [{"type": "text", "text": "parts"}]}', True, "parts"),
    ('[{"role": "system", "content": ""}]', False, '[{"role": "system", "content": ""}]'),  # no text: as sent
    ('{"k": 1}', False, '{"k": 1}'), ("[1, 2]", True, "[1, 2]"), ("{nope", False, "{nope"),
    # recorded calls (Langfuse @observe, AgentOps decorators): one argument shows as its text
    ('{"args": ["Where?"], "kwargs": {}}', False, "Where?"),
    ('{"args": [], "kwargs": {"question": "Where?"}}', False, "Where?"),
    ('{"args": [[{"role": "user", "content": "hi"}]], "kwargs": {}}', False, "hi"),
    ('{"args": [{"id": 1}], "kwargs": {}}', False, '{"id": 1}'), ('{"args": [], "kwargs": {}}', False, ""),
    ('{"args": [1, 2], "kwargs": {}}', False, '{"args": [1, 2], "kwargs": {}}'),
    ('{"args": ["x"], "kwargs": {}}', True, '{"args": ["x"], "kwargs": {}}'),  # outputs are never calls
])
def test_content_text(value: str, output: bool, expected: str) -> None:
    assert content_text(value, output=output) == expected


def test_decode_and_value_text() -> None:
    assert decode("not json") is NOT_JSON
    assert decode('{"a": 1}') == {"a": 1}
    assert value_text("s", output=False) == "s"
    assert value_text(3, output=False) is None
    assert value_text({"k": "v"}, output=True) is None
