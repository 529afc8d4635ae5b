"""What the tool knows about models: one dated catalogue, and the rules that read it.

Every question about a model (does it reason, which ``reasoning_effort`` values and which
``temperature`` it takes, how many output tokens it may write, what it costs at Batch prices,
when it shuts down and what replaces it) is answered here, from ``CATALOGUE`` (the dated data, with
its sources, in ``model_catalogue.py``). Nothing else in the tool looks at a model's name.

A name the catalogue does not list is resolved in this order: a dated snapshot
(``gpt-5-mini-2025-08-07``) or a fine-tuned model (``ft:gpt-4o-mini-2024-07-18:org::id``) takes
its family's rules and price, and the lifecycle ``SNAPSHOTS`` records for that very snapshot (a
snapshot can shut down before its family: ``gpt-4o-2024-05-13`` did). A snapshot ``SNAPSHOTS``
does not list has no known shutdown date: it never inherits its family's, and the plan says so
(the API's own ``shutdown_date`` is checked before anything is uploaded). Anything else follows
the unknown-model rule: ``gpt-N…`` with N >= 5 and the
o-series (``o1``, ``o3``, ``o4-mini``, …) are reasoning models, every other name is not. An
unknown reasoning model gets no ``reasoning_effort`` unless one is asked for (any value the API
defines is let through: the model's own list is not known), ``temperature`` only with effort
``none``, no output limit beyond the tool's own cap, and an unknown price ("unknown price" in
the plan, never a guess).

Reasoning models spend hidden reasoning tokens out of ``max_completion_tokens``. When a lesson
comes back truncated, ``retry_settings`` climbs a ladder that fits the model: double the budget
up to the model's maximum output (and never above ``LADDER_CAP``), then lower the effort one
accepted value at a time, down to the lowest the model takes (``none`` where it exists). It
never produces a value the model rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from .model_catalogue import (
    CACHE_WRITE_MULTIPLIER,
    CATALOGUE,
    CATALOGUE_DATE,
    EFFORTS,
    SNAPSHOTS,
    TEMPERATURE_ALWAYS,
    TEMPERATURE_NEVER,
    TEMPERATURE_WITH_NONE,
    ModelInfo,
    Price,
)

DEFAULT_MODEL = "gpt-6.1-terra"
CHEAPER_MODEL = "gpt-6-luna"

DEFAULT_BUDGET_REASONING = 16_000
DEFAULT_BUDGET_PLAIN = 8_000
# The truncation ladder never asks for more than this, whatever the model allows: a ~2,000-word
# lesson needs ~3,500 tokens, so a budget this size that still truncates is a prompt problem,
# not a budget one (and every step up is paid for).
LADDER_CAP = 64_000

# Expected size of one generated lesson (about 2,000 words of Markdown), before any measurement,
# and the reasoning tokens expected on top of it at each effort.
EXPECTED_LESSON_TOKENS = 3_500
EXPECTED_REASONING_TOKENS = {
    "none": 0, "minimal": 200, "low": 1_000, "medium": 2_500, "high": 6_000, "xhigh": 10_000, "max": 16_000,
}

# Days before a shutdown date from which a model is warned about.
SHUTDOWN_WARNING_DAYS = 30

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_GPT_GENERATION = re.compile(r"^gpt-(\d+)")
_O_SERIES = re.compile(r"^o\d")


def lookup(model: str) -> ModelInfo:
    """The catalogue entry for ``model``, its family's for a snapshot or fine-tune, else the
    unknown-model rule's answer."""
    name = model.strip()
    fine_tuned = name.startswith("ft:")
    if fine_tuned:
        name = name[3:].split(":", 1)[0]
    base = name.lower()
    snapshot = SNAPSHOTS.get(base)
    family = snapshot.family if snapshot else _SNAPSHOT_SUFFIX.sub("", base)
    info = CATALOGUE.get(family)
    if info is None:
        return _unknown(model, family)
    if snapshot is not None:  # its own lifecycle, never its family's
        info = replace(info, shutdown=snapshot.shutdown, replacement=snapshot.replacement)
    elif family != base:  # a dated snapshot the table does not list: its shutdown is not known
        known = (
            f"{family} shuts down on {info.shutdown.isoformat()}" if info.shutdown
            else f"{family} has no shutdown date announced"
        )
        info = replace(
            info, shutdown=None, replacement=None,
            lifecycle_note=(
                f"the model table has no shutdown date for the snapshot {name} ({known}; a snapshot can shut "
                "down earlier than its family); the API's own date is checked before anything is uploaded"
            ),
        )
    if fine_tuned:  # a fine-tune keeps its base model's rules and shutdown date, not its price
        return replace(info, name=model, batch_price=None)
    return info if info.name == model else replace(info, name=model)


def _unknown(model: str, name: str) -> ModelInfo:
    generation = _GPT_GENERATION.match(name)
    reasoning = bool(generation and int(generation.group(1)) >= 5) or bool(_O_SERIES.match(name))
    if reasoning:
        return ModelInfo(model, True, None, None, TEMPERATURE_WITH_NONE, None, None, None, None, None, None, False)
    return ModelInfo(model, False, (), None, TEMPERATURE_ALWAYS, None, None, None, None, None, None, False)


# --------------------------------------------------------------------------- settings


def effective_effort(info: ModelInfo, effort: str | None) -> str | None:
    """The effort a request runs at: the one asked for, else the model's default (None: not known)."""
    return effort or info.default_effort


def describe_efforts(info: ModelInfo) -> str:
    if not info.efforts:
        return ""
    return ", ".join(f"{value} (default)" if value == info.default_effort else value for value in info.efforts)


def settings_problem(model: str, effort: str | None, temperature: float | None, budget: int | None) -> str | None:
    """Why these options cannot make a request the model accepts (a usage error), or None."""
    info = lookup(model)
    if effort is not None:
        if not info.reasoning:
            return f"{model} is not a reasoning model: leave out --reasoning-effort"
        if effort not in EFFORTS:
            return f"--reasoning-effort takes one of {', '.join(EFFORTS)}; {effort!r} is not one"
        if info.efforts is not None and effort not in info.efforts:
            return (
                f"{model} does not accept --reasoning-effort {effort}; "
                f"it accepts {describe_efforts(info)}"
            )
    if temperature is not None and info.temperature != TEMPERATURE_ALWAYS:
        running = effective_effort(info, effort)
        if info.temperature == TEMPERATURE_NEVER:
            return f"{model} is a reasoning model and does not accept --temperature; leave it out"
        if running != "none":
            shown = f"effort {running}" if running else "its default effort"
            return (
                f"{model} accepts --temperature only with --reasoning-effort none (it would run at {shown}); "
                "add --reasoning-effort none or leave out --temperature"
            )
    if budget is not None and info.max_output_tokens is not None and budget > info.max_output_tokens:
        return (
            f"--max-completion-tokens {budget:,} is above what {model} can write: "
            f"at most {info.max_output_tokens:,} output tokens"
        )
    return None


# The Responses API refuses a smaller ``max_output_tokens`` (400 integer_below_min_value: "Invalid
# 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead.",
# as quoted in vectorize-io/hindsight issue #58).
RESPONSES_MIN_OUTPUT_TOKENS = 16


def responses_only(model: str) -> bool:
    """Whether the catalogue says ``model`` is offered on the Responses API only."""
    return lookup(model).responses_only


def endpoint_for(model: str, endpoint: str | None) -> str:
    """The API a run's requests go to: ``chat`` or ``responses`` as asked (``--endpoint``), else
    ``responses`` for a model offered there only, else ``chat``."""
    if endpoint is not None:
        return endpoint
    return "responses" if responses_only(model) else "chat"


def endpoint_problem(model: str, endpoint: str | None, budget: int | None) -> str | None:
    """Why requests for ``model`` cannot go to ``endpoint`` (a usage error), or None."""
    if endpoint == "chat" and responses_only(model):
        return (
            f"{model} is offered on the Responses API only: use --endpoint responses "
            "(or leave out --endpoint, and it is chosen for you)"
        )
    if endpoint_for(model, endpoint) == "responses" and budget is not None and budget < RESPONSES_MIN_OUTPUT_TOKENS:
        return (
            f"--max-completion-tokens {budget} is below what the Responses API takes: "
            f"at least {RESPONSES_MIN_OUTPUT_TOKENS} (max_output_tokens)"
        )
    return None


def default_budget(model: str) -> int:
    info = lookup(model)
    budget = DEFAULT_BUDGET_REASONING if info.reasoning else DEFAULT_BUDGET_PLAIN
    return min(budget, info.max_output_tokens or budget)


def ladder_cap(model: str, budget: int) -> int:
    """The largest budget the truncation ladder may ask for, starting from ``budget``."""
    info = lookup(model)
    cap = max(LADDER_CAP, budget)
    return min(cap, info.max_output_tokens) if info.max_output_tokens else cap


def retry_settings(model: str, budget: int, effort: str | None) -> tuple[int, str | None] | None:
    """The budget and effort for retrying a lesson that came back truncated, or None when the
    ladder has no step left (the budget is at its cap and the effort at its lowest)."""
    cap = ladder_cap(model, budget)
    if budget < cap:
        return min(cap, budget * 2), effort
    lower = lower_effort(model, effort)
    return (budget, lower) if lower is not None else None


def lower_effort(model: str, effort: str | None) -> str | None:
    """The next accepted effort below the one a request ran at, or None when there is none
    (or the model's accepted values are not known, so no lower value is safe to send)."""
    info = lookup(model)
    running = effective_effort(info, effort)
    if not info.efforts or running not in info.efforts:
        return None
    index = info.efforts.index(running)
    return info.efforts[index - 1] if index > 0 else None


def fit_retry(model: str, budget: int, effort: str | None) -> tuple[int, str | None]:
    """A retry budget and effort recorded earlier, made valid for ``model`` (the model may have
    changed since): the budget within its maximum output, the effort one it accepts (the
    nearest below, else its lowest), no effort for a model that does not reason."""
    info = lookup(model)
    if info.max_output_tokens:
        budget = min(budget, info.max_output_tokens)
    if effort is None or info.efforts is None:
        return budget, effort if info.reasoning else None
    if effort in info.efforts:
        return budget, effort
    if not info.efforts:
        return budget, None
    rank = EFFORTS.index(effort) if effort in EFFORTS else len(EFFORTS)
    below = [value for value in info.efforts if EFFORTS.index(value) < rank]
    return budget, below[-1] if below else info.efforts[0]


def expected_output_tokens(model: str, effort: str | None, budget: int) -> int:
    info = lookup(model)
    expected = EXPECTED_LESSON_TOKENS
    if info.reasoning:
        running = effective_effort(info, effort) or "medium"
        expected += EXPECTED_REASONING_TOKENS.get(running, EXPECTED_REASONING_TOKENS["medium"])
    return min(expected, budget)


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True)
class Lifecycle:
    """Where a model stands on a given day: ``active``, ``retiring`` (shuts down within
    ``SHUTDOWN_WARNING_DAYS``), ``too_late`` (shuts down before a 24-hour batch could end) or
    ``shut_down``."""

    status: str
    message: str | None = None


def lifecycle(model: str, shutdown: date | None, today: date, replacement: str | None = None) -> Lifecycle:
    """Judge a shutdown date (from the catalogue or from the API) against ``today``."""
    if shutdown is None:
        return Lifecycle("active")
    use = _what_to_use(model, replacement)
    days = (shutdown - today).days
    if days <= 0:
        return Lifecycle("shut_down", f"{model} was shut down on {shutdown.isoformat()}; {use}")
    if days <= 1:
        return Lifecycle(
            "too_late",
            f"{model} shuts down on {shutdown.isoformat()}, before a batch submitted now could finish "
            f"(batches may take 24 hours); {use}",
        )
    if days <= SHUTDOWN_WARNING_DAYS:
        return Lifecycle("retiring", f"{model} shuts down on {shutdown.isoformat()} (in {days} days); {use}")
    return Lifecycle("active")


def catalogue_lifecycle(model: str, today: date) -> Lifecycle:
    info = lookup(model)
    if info.lifecycle_note:
        return Lifecycle("unknown", info.lifecycle_note)
    return lifecycle(model, info.shutdown, today, info.replacement)


CATALOGUE_STALE_DAYS = 60  # older than this, the plan says how old the model table is


def catalogue_age_note(today: date) -> str | None:
    """What to say about the model table's age on ``today``: nothing while it is recent."""
    days = (today - date.fromisoformat(CATALOGUE_DATE)).days
    if days <= CATALOGUE_STALE_DAYS:
        return None
    return (
        f"note: the model table (prices, limits, shutdown dates in lesson_batch/model_catalogue.py) was checked on "
        f"{CATALOGUE_DATE}, {days} days ago: prices and shutdown dates may have changed since (the API's "
        "answer about the model is asked before anything is uploaded, and wins)"
    )


def _what_to_use(model: str, replacement: str | None) -> str:
    info = lookup(model)
    replacement = replacement or info.replacement
    if replacement:
        return f"use --model {replacement} (its replacement) instead"
    other = CHEAPER_MODEL if DEFAULT_MODEL in (model, _SNAPSHOT_SUFFIX.sub("", model)) else DEFAULT_MODEL
    return f"no replacement is recorded in the model table; choose another model, for example --model {other}"


def unknown_to_api_message(model: str, today: date | None = None) -> str:
    info = lookup(model)
    if today is not None and info.shutdown is not None and info.shutdown <= today:
        why = f"the model table says it was shut down on {info.shutdown.isoformat()}"
    else:
        why = "it may have been shut down, be misspelt, or not be available to this key"
    return (
        f"the API does not know the model {model} ({why}); nothing was uploaded. "
        f"{_what_to_use(model, None).capitalize()}."
    )


# --------------------------------------------------------------------------- prices


def price_of(model: str) -> Price | None:
    return lookup(model).batch_price


# The API caches only a prompt prefix of this many tokens or more (OpenAI's prompt caching
# announcement, openai.com/index/api-prompt-caching: "prompts longer than 1,024 tokens"): a shorter
# prompt is neither read from nor written to the cache.
PROMPT_CACHE_MIN_TOKENS = 1024


def bills_cache_writes(model: str) -> bool:
    return lookup(model).bills_cache_writes


def cache_write_price(model: str) -> float | None:
    """USD per 1M tokens written to the prompt cache at Batch prices (the input price for a model
    that does not bill writes); None when the price is unknown."""
    info = lookup(model)
    if info.batch_price is None:
        return None
    return info.batch_price.input * (CACHE_WRITE_MULTIPLIER if info.bills_cache_writes else 1.0)


def batch_cost(
    model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
) -> float | None:
    """USD at Batch API prices, or None when the model's price is unknown. ``cache_write_tokens``
    are part of the uncached input; a model that bills them pays ``CACHE_WRITE_MULTIPLIER`` times
    the input price for them."""
    price = price_of(model)
    if price is None:
        return None
    uncached = max(0, input_tokens - cached_tokens)
    written = min(cache_write_tokens, uncached)
    return (
        (uncached - written) * price.input + written * cache_write_price(model)
        + cached_tokens * price.cached_or_input + output_tokens * price.output
    ) / 1_000_000


def cache_write_cost(model: str, cache_write_tokens: int) -> float | None:
    """What the cache writes among a request's input cost, in USD at Batch prices (None: unknown)."""
    per_million = cache_write_price(model)
    return None if per_million is None else cache_write_tokens * per_million / 1_000_000


def format_cost(cost: float | None) -> str:
    return "unknown price" if cost is None else f"${cost:,.2f}"


def format_small_cost(cost: float | None) -> str:
    """A cost that may be below a cent, shown to two significant digits then ($0.0011)."""
    if cost is not None and 0 < cost < 0.01:
        return f"${cost:.2g}"
    return format_cost(cost)


def format_price(price: Price) -> str:
    def dollars(value: float) -> str:
        return f"${value:.2f}" if round(value, 2) == value else f"${value:g}"

    cached = "cached input not known" if price.cached_input is None else f"{dollars(price.cached_input)} cached input"
    return f"{dollars(price.input)} input, {cached}, {dollars(price.output)} output"


# --------------------------------------------------------------------------- results

# service_tier values in a result that mean the request was billed at Batch rates. OpenAI's
# chat.completion has no "batch" tier (openai 3.57, types/chat/chat_completion.py: auto, default,
# flex, scale, priority, fast), and the real Batch API output lines this project keeps as test
# data carry "default" or no tier at all. "flex" is billed at Batch rates. Anything else
# ("priority", "scale", ...) was served, and billed, at another tier.
BATCH_RATE_TIERS = frozenset({None, "default", "batch", "flex"})


def billed_at_batch_rates(service_tier: str | None) -> bool:
    return service_tier in BATCH_RATE_TIERS


# --------------------------------------------------------------------------- flex

# Flex (service_tier "flex" on Chat Completions) is billed at Batch prices (OpenAI's flex guide,
# developers.openai.com/api/docs/guides/flex-processing: "Tokens are priced at Batch API rates").
# A flex request the API served at another tier ("default": standard processing) was billed at
# that tier: standard prices are twice the catalogue's Batch prices (the model pages: "Batch and
# Flex prices are 50% lower"); a dearer tier ("priority") is counted at standard, a lower bound.
FLEX_TIER = "flex"
STANDARD_TO_BATCH = 2.0


def supports_flex(model: str) -> bool | None:
    """Whether ``model`` takes service_tier "flex", per the catalogue (None: not known, try it)."""
    return lookup(model).flex


def answer_cost(
    model: str, input_tokens: int, output_tokens: int, cached_tokens: int, service_tier: str | None,
    cache_write_tokens: int = 0,
) -> float | None:
    """USD for one answer to a flex request: Batch prices when flex served it (or the answer does
    not say), standard prices when another tier did; None when the model's price is unknown."""
    cost = batch_cost(model, input_tokens, output_tokens, cached_tokens, cache_write_tokens)
    if cost is None or service_tier in (FLEX_TIER, None):
        return cost
    return cost * STANDARD_TO_BATCH
