"""Model prices (USD per 1M tokens) and the cost of a span computed from its token counts.

The shipped table is ``threadline/data/prices.json``; ``THREADLINE_PRICE_TABLE`` names a JSON file of the same shape
whose entries override or extend it. A model name matches the longest table key that is a prefix of it, case
insensitively, after dropping a ``provider/`` prefix (``openai/gpt-4o-2024-08-06`` → ``gpt-4o``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Price:
    """Prices in USD per 1,000,000 tokens."""

    input: float
    output: float


def _parse(raw: object, origin: str) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ValueError(f"{origin}: must be a JSON object of model name -> {{'input': ..., 'output': ...}}")
    table: dict[str, Price] = {}
    for model, entry in raw.items():
        if model.startswith("_"):
            continue
        problem = ValueError(f"{origin}: price of {model!r} must be an object with 'input' and 'output', "
                             f"non-negative numbers (USD/1M)")
        if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
            raise problem
        try:
            price = Price(float(entry["input"]), float(entry["output"]))
        except (TypeError, ValueError):
            raise problem from None
        if not (0 <= price.input < math.inf and 0 <= price.output < math.inf):
            raise problem
        table[model.lower()] = price
    return table


class PriceTable:
    """Looks up prices by model name and computes cost in USD."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self._prices = prices
        self._keys = sorted(prices, key=len, reverse=True)
        self._cache: dict[str, Price | None] = {}

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, extended by ``override`` (a JSON file). Raises ValueError on a malformed file."""
        shipped = json.loads(resources.files("threadline").joinpath("data/prices.json").read_text())
        prices = _parse(shipped, "prices.json")
        if override is not None:
            prices.update(_parse(json.loads(override.read_text()), str(override)))
        return cls(prices)

    def price(self, model: str) -> Price | None:
        """The price of ``model``, or None when no key matches."""
        if model not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:  # model names come from clients: keep the cache bounded
                self._cache.clear()
            name = model.lower().rsplit("/", 1)[-1]
            self._cache[model] = next((self._prices[k] for k in self._keys if name.startswith(k)), None)
        return self._cache[model]

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of one call; 0.0 for an unknown model or no tokens."""
        price = self.price(model) if model else None
        if price is None:
            return 0.0
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
