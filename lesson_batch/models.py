"""What the tool knows about models: which ones reason, their token budgets, and their prices.

Reasoning models (the gpt-5 family except the chat variants, and the o-series) take
``max_completion_tokens`` and ``reasoning_effort`` but no ``temperature``, and their hidden
reasoning tokens are billed as output and count against the budget. The budget therefore
leaves room for a full lesson after the reasoning; when a lesson still comes back truncated,
the retry raises the budget (``next_budget``) and, at the cap, lowers the effort.

Prices are the published standard prices per million tokens, dated; the Batch API charges half.
A model that is not in the table has an unknown price: the plan says so rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MODEL = "gpt-5-mini"
REASONING_EFFORTS = ("minimal", "low", "medium", "high")

DEFAULT_BUDGET_REASONING = 16_000
DEFAULT_BUDGET_PLAIN = 8_000
# Retries of truncated lessons raise the budget up to these caps: reasoning models allow 100k+
# output tokens; 16,384 is the output limit of the smallest non-reasoning models (gpt-4o family).
BUDGET_CAP_REASONING = 64_000
BUDGET_CAP_PLAIN = 16_384

# Expected size of one generated lesson (about 2,000 words of Markdown), before any measurement.
EXPECTED_LESSON_TOKENS = 3_500
EXPECTED_REASONING_TOKENS = {None: 2_500, "minimal": 200, "low": 1_000, "medium": 2_500, "high": 6_000}

BATCH_DISCOUNT = 0.5
PRICES_AS_OF = "2025-08"


@dataclass(frozen=True)
class Price:
    """Standard (non-batch) USD per million tokens."""

    input: float
    cached_input: float
    output: float


PRICES = {
    "gpt-5": Price(1.25, 0.125, 10.00),
    "gpt-5-mini": Price(0.25, 0.025, 2.00),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "gpt-4.1": Price(2.00, 0.50, 8.00),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-4o": Price(2.50, 1.25, 10.00),
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
    "o3": Price(2.00, 0.50, 8.00),
    "o3-mini": Price(1.10, 0.55, 4.40),
    "o4-mini": Price(1.10, 0.275, 4.40),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def base_model(model: str) -> str:
    """``gpt-5-mini-2025-08-07`` -> ``gpt-5-mini``: snapshots share their family's price."""
    return _DATE_SUFFIX.sub("", model)


def is_reasoning_model(model: str) -> bool:
    name = base_model(model).lower()
    if name.startswith("gpt-5"):
        return "chat" not in name
    return re.match(r"o\d", name) is not None


def default_budget(model: str) -> int:
    return DEFAULT_BUDGET_REASONING if is_reasoning_model(model) else DEFAULT_BUDGET_PLAIN


def budget_cap(model: str) -> int:
    return BUDGET_CAP_REASONING if is_reasoning_model(model) else BUDGET_CAP_PLAIN


def next_budget(model: str, budget: int, effort: str | None) -> tuple[int, str | None]:
    """The budget and effort for retrying a lesson that came back truncated."""
    cap = budget_cap(model)
    if budget < cap:
        return min(cap, budget * 2), effort
    if is_reasoning_model(model):
        current = effort or "medium"
        index = REASONING_EFFORTS.index(current) if current in REASONING_EFFORTS else 2
        return budget, REASONING_EFFORTS[max(0, index - 1)]
    return budget, effort


def expected_output_tokens(model: str, effort: str | None, budget: int) -> int:
    expected = EXPECTED_LESSON_TOKENS
    if is_reasoning_model(model):
        expected += EXPECTED_REASONING_TOKENS.get(effort, EXPECTED_REASONING_TOKENS[None])
    return min(expected, budget)


def price_of(model: str) -> Price | None:
    return PRICES.get(base_model(model))


def batch_cost(model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float | None:
    """USD at Batch API prices, or None when the model's price is unknown."""
    price = price_of(model)
    if price is None:
        return None
    uncached = max(0, input_tokens - cached_tokens)
    standard = (uncached * price.input + cached_tokens * price.cached_input + output_tokens * price.output) / 1_000_000
    return standard * BATCH_DISCOUNT


def format_cost(cost: float | None) -> str:
    return "unknown price" if cost is None else f"${cost:,.2f}"


# Flex (service_tier "flex" on Chat Completions) is billed at Batch prices; an answer the API
# served at another tier ("default": standard processing) is billed at that tier's price.
# https://developers.openai.com/api/docs/guides/flex-processing ("Tokens are priced at Batch API rates")
FLEX_TIER = "flex"


def supports_flex(model: str) -> bool | None:
    """Whether ``model`` takes service_tier "flex" (None: not known, try it)."""
    return None


def answer_cost(model: str, input_tokens: int, output_tokens: int, cached_tokens: int, service_tier: str | None) -> float | None:
    """USD for one Chat Completions answer: Batch prices when flex served it, standard otherwise."""
    cost = batch_cost(model, input_tokens, output_tokens, cached_tokens)
    if cost is None or service_tier in (FLEX_TIER, None):
        return cost
    return cost / BATCH_DISCOUNT
