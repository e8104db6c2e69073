"""Unit tests of :mod:`threadline.ingest.pricing`: the shipped table, longest-prefix matching, provider prefixes,
override files and their validation."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest.pricing import Price, PriceTable

SHIPPED = PriceTable.load()
SHIPPED_JSON: dict[str, Any] = json.loads(resources.files("threadline").joinpath("data/prices.json").read_text())


def write(tmp_path: Path, content: Any, raw: bool = False) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(content if raw else json.dumps(content))
    return path


# --- the shipped table --------------------------------------------------------------------------------------------

def test_shipped_table_parses_and_every_entry_is_found() -> None:
    models = [k for k in SHIPPED_JSON if not k.startswith("_")]
    assert len(models) > 10
    for model in models:
        entry = SHIPPED_JSON[model]
        assert SHIPPED.price(model) == Price(float(entry["input"]), float(entry["output"])), model


def test_shipped_prices_are_sane() -> None:
    for model, entry in SHIPPED_JSON.items():
        if model.startswith("_"):
            continue
        assert model == model.lower() and "/" not in model, model  # keys are matched lowercase, without provider
        assert 0 <= entry["input"] < 1000 and 0 <= entry["output"] < 1000, model


def test_comment_keys_are_not_models() -> None:
    assert "_comment" in SHIPPED_JSON
    assert SHIPPED.price("_comment") is None


# --- matching -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "key"), [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4", "gpt-4"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("gpt-4.1-2025-04-14", "gpt-4.1"),
    ("o1-mini", "o1-mini"),
    ("o1-preview", "o1"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash"),
])
def test_longest_prefix_wins(model: str, key: str) -> None:
    assert SHIPPED.price(model) == SHIPPED.price(key)
    entry = SHIPPED_JSON[key]
    assert SHIPPED.price(model) == Price(entry["input"], entry["output"])


def test_mini_is_not_priced_as_its_prefix() -> None:
    mini, full = SHIPPED.price("gpt-4o-mini"), SHIPPED.price("gpt-4o")
    assert mini is not None and full is not None and mini != full
    assert SHIPPED.cost_usd("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert SHIPPED.cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)


@pytest.mark.parametrize(("model", "key"), [
    ("openai/gpt-4o-2024-08-06", "gpt-4o"),
    ("openai/gpt-4o-mini", "gpt-4o-mini"),
    ("anthropic/claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("openrouter/openai/gpt-4o", "gpt-4o"),
    ("OpenAI/GPT-4o-Mini", "gpt-4o-mini"),
])
def test_provider_prefix_is_dropped(model: str, key: str) -> None:
    assert SHIPPED.price(model) == SHIPPED.price(key) is not None


@pytest.mark.parametrize("model", ["GPT-4O", "Gpt-4o-Mini-2024", "CLAUDE-3-OPUS-20240229"])
def test_matching_is_case_insensitive(model: str) -> None:
    assert SHIPPED.price(model) == SHIPPED.price(model.lower()) is not None


@pytest.mark.parametrize("model", ["my-finetune", "chatgpt-4o-latest", "4o", "gpt", "", "openai/", "x/gpt-"])
def test_unknown_model_has_no_price_and_costs_nothing(model: str) -> None:
    assert SHIPPED.price(model) is None
    assert SHIPPED.cost_usd(model, 1000, 1000) == 0.0


def test_prefix_must_be_at_the_start() -> None:
    assert SHIPPED.price("ft:gpt-4o:org") is None
    assert SHIPPED.price("azure-gpt-4o") is None


# --- cost ---------------------------------------------------------------------------------------------------------

def test_cost_per_million_tokens() -> None:
    table = PriceTable({"m": Price(input=3.0, output=15.0)})
    assert table.cost_usd("m", 1_000_000, 0) == pytest.approx(3.0)
    assert table.cost_usd("m", 0, 1_000_000) == pytest.approx(15.0)
    assert table.cost_usd("m", 1000, 500) == pytest.approx((1000 * 3 + 500 * 15) / 1e6)
    assert table.cost_usd("m", 0, 0) == 0.0
    assert table.cost_usd("", 1000, 1000) == 0.0


@given(st.integers(0, 10**12), st.integers(0, 10**12))
@settings(max_examples=100, deadline=None, database=None)
def test_cost_is_linear_and_non_negative(input_tokens: int, output_tokens: int) -> None:
    table = PriceTable({"m": Price(input=0.5, output=1.5)})
    cost = table.cost_usd("m", input_tokens, output_tokens)
    assert cost >= 0
    assert cost == pytest.approx((input_tokens * 0.5 + output_tokens * 1.5) / 1e6)


def test_lookups_are_stable_and_the_cache_stays_bounded() -> None:
    table = PriceTable({"m": Price(1, 1)})
    for i in range(10_000):
        assert table.price(f"unknown-{i}") is None
    assert table.price("m-1") == Price(1, 1)
    assert len(table._cache) <= 4096
    assert table.price("m-1") == Price(1, 1)


# --- override files -----------------------------------------------------------------------------------------------

def test_override_extends_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "_comment": "local prices",
        "gpt-4o": {"input": 1.0, "output": 2.0},
        "My-Local-Model": {"input": 0.01, "output": 0.02},
    })
    table = PriceTable.load(path)
    assert table.price("gpt-4o-2024-08-06") == Price(1.0, 2.0)  # overridden
    assert table.price("my-local-model-7b") == Price(0.01, 0.02)  # added, matched case-insensitively
    assert table.price("gpt-4o-mini") == SHIPPED.price("gpt-4o-mini")  # untouched shipped entries remain
    assert table.price("claude-3-opus") == SHIPPED.price("claude-3-opus")
    assert table.price("_comment") is None


def test_a_longer_override_key_beats_a_shipped_prefix(tmp_path: Path) -> None:
    table = PriceTable.load(write(tmp_path, {"gpt-4o-mini-tts": {"input": 0.6, "output": 12}}))
    assert table.price("gpt-4o-mini-tts-2025") == Price(0.6, 12.0)
    assert table.price("gpt-4o-mini-2024") == SHIPPED.price("gpt-4o-mini")


def test_a_shorter_override_key_does_not_beat_a_longer_shipped_one(tmp_path: Path) -> None:
    table = PriceTable.load(write(tmp_path, {"gpt": {"input": 99, "output": 99}}))
    assert table.price("gpt-4o") == SHIPPED.price("gpt-4o")
    assert table.price("gpt-neo") == Price(99.0, 99.0)


def test_integer_and_numeric_string_prices_are_accepted(tmp_path: Path) -> None:
    table = PriceTable.load(write(tmp_path, {"a": {"input": 1, "output": "2.5"}, "b": {"input": 0, "output": 0}}))
    assert table.price("a") == Price(1.0, 2.5)
    assert table.price("b") == Price(0.0, 0.0)


def test_an_empty_override_changes_nothing(tmp_path: Path) -> None:
    table = PriceTable.load(write(tmp_path, {}))
    for model in ("gpt-4o", "gpt-4o-mini", "o1", "claude-3-opus"):
        assert table.price(model) == SHIPPED.price(model)


@pytest.mark.parametrize("content", [
    pytest.param("{not json", id="invalid-json"),
    pytest.param("", id="empty-file"),
    pytest.param("[]", id="list"),
    pytest.param('"gpt-4o"', id="string"),
    pytest.param("null", id="null"),
    pytest.param('{"m": 2.5}', id="entry-not-object"),
    pytest.param('{"m": {"input": 1}}', id="missing-output"),
    pytest.param('{"m": {"output": 1}}', id="missing-input"),
    pytest.param('{"m": {"input": "cheap", "output": 1}}', id="non-numeric"),
    pytest.param('{"m": {"input": null, "output": 1}}', id="null-price"),
    pytest.param('{"m": {"input": [1], "output": 1}}', id="list-price"),
    pytest.param('{"m": {"input": -1, "output": 1}}', id="negative"),
    pytest.param('{"m": {"input": NaN, "output": 1}}', id="nan"),
    pytest.param('{"m": {"input": Infinity, "output": 1}}', id="infinity"),
])
def test_malformed_override_is_a_value_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(ValueError):
        PriceTable.load(write(tmp_path, content, raw=True))


def test_malformed_entry_message_names_the_file_and_model(tmp_path: Path) -> None:
    path = write(tmp_path, {"good": {"input": 1, "output": 1}, "bad-model": {"input": 1}})
    with pytest.raises(ValueError, match="bad-model") as info:
        PriceTable.load(path)
    assert str(path) in str(info.value)
    assert "'input' and 'output'" in str(info.value)
