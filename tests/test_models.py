"""Specification of the model catalogue (lesson_batch.models): facts, the unknown-model rule,
the truncation ladder, prices and lifecycle. Dates are always given, never the calendar's."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from lesson_batch import models

REQUIRED = [
    "gpt-6.1-terra", "gpt-6.1-sol", "gpt-6-luna", "gpt-6-sol", "gpt-6-astra",
    "gpt-5.6-luna", "gpt-5.6-terra", "gpt-5.6-sol", "gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano",
    "gpt-5.2", "gpt-5.1", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini",
]
REASONING = [name for name in REQUIRED if not name.startswith("gpt-4")]


# --- the table --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED)
def test_every_model_the_tool_supports_has_a_complete_entry(name):
    info = models.CATALOGUE[name]
    assert info.in_catalogue
    assert info.max_output_tokens and info.max_output_tokens >= 16_384
    assert info.batch_price is not None
    assert 0 < info.batch_price.cached_input < info.batch_price.input < info.batch_price.output
    assert info.batch_chat_completions is True


@pytest.mark.parametrize("name", REASONING)
def test_every_reasoning_model_lists_its_efforts_in_the_apis_order_with_its_default_among_them(name):
    info = models.CATALOGUE[name]
    assert info.reasoning
    assert info.efforts and set(info.efforts) <= set(models.EFFORTS)
    assert list(info.efforts) == sorted(info.efforts, key=models.EFFORTS.index)
    assert info.default_effort in info.efforts


def test_the_default_model_is_gpt_6_1_terra_a_reasoning_model_with_batch_prices_half_its_list_price():
    info = models.lookup(models.DEFAULT_MODEL)
    assert models.DEFAULT_MODEL == "gpt-6.1-terra"
    assert info.reasoning and info.default_effort == "medium"
    assert info.efforts == ("none", "low", "medium", "high", "xhigh", "max")
    assert info.max_output_tokens == 128_000
    # list price per 1M tokens: $1.00 input, $0.05 cached input, $5.00 output
    assert info.batch_price == models.Price(0.50, 0.025, 2.50)
    assert info.shutdown is None and info.flex is True


def test_the_cheaper_choice_is_gpt_6_luna_and_it_costs_less():
    assert models.CHEAPER_MODEL == "gpt-6-luna"
    million = 1_000_000
    assert models.batch_cost("gpt-6-luna", million, million) < models.batch_cost(models.DEFAULT_MODEL, million, million)


@pytest.mark.parametrize("name, shutdown, replacement", [
    ("gpt-5", "2026-12-11", "gpt-6.1-sol"), ("gpt-5-mini", "2026-12-11", "gpt-6.1-terra"),
    ("gpt-5-nano", "2026-12-11", "gpt-6-luna"), ("gpt-4o", "2027-01-14", "gpt-6-luna"),
    ("gpt-4o-mini", "2027-01-14", "gpt-6-luna"), ("gpt-4.1", "2027-01-14", "gpt-6-luna"),
    ("gpt-4.1-mini", "2027-01-14", "gpt-6-luna"),
])
def test_announced_shutdowns_carry_their_date_and_replacement(name, shutdown, replacement):
    info = models.CATALOGUE[name]
    assert (info.shutdown, info.replacement) == (date.fromisoformat(shutdown), replacement)


def test_the_table_is_dated():
    assert date.fromisoformat(models.CATALOGUE_DATE) >= date(2026, 12, 2)


# --- names the table does not list ------------------------------------------------------------


def test_a_dated_snapshot_takes_its_familys_entry():
    snapshot = models.lookup("gpt-5-mini-2025-08-07")
    assert snapshot.name == "gpt-5-mini-2025-08-07"
    assert snapshot.batch_price == models.CATALOGUE["gpt-5-mini"].batch_price
    assert snapshot.shutdown == date(2026, 12, 11)


def test_a_fine_tuned_model_keeps_its_base_rules_and_shutdown_but_not_its_price():
    tuned = models.lookup("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert not tuned.reasoning and tuned.max_output_tokens == 16_384
    assert tuned.shutdown == date(2027, 1, 14)
    assert tuned.batch_price is None


@pytest.mark.parametrize("name", ["gpt-7", "gpt-6.3-nova", "gpt-5.9-mini", "gpt-10-x", "o5", "o9-mini"])
def test_an_unknown_gpt_5_or_later_or_o_series_name_is_a_reasoning_model_with_nothing_else_known(name):
    info = models.lookup(name)
    assert not info.in_catalogue
    assert info.reasoning
    assert info.efforts is None and info.default_effort is None  # no effort sent unless asked
    assert info.batch_price is None and info.max_output_tokens is None and info.shutdown is None


@pytest.mark.parametrize("name", ["gpt-4.5-preview", "gpt-3.5-turbo-instruct", "my-own-model", "davinci"])
def test_any_other_unknown_name_is_not_a_reasoning_model(name):
    info = models.lookup(name)
    assert not info.in_catalogue and not info.reasoning and info.batch_price is None


def test_an_unknown_reasoning_model_takes_any_effort_the_api_defines_and_temperature_only_with_none():
    assert models.settings_problem("gpt-7", "minimal", None, None) is None
    assert models.settings_problem("gpt-7", "none", 0.3, None) is None
    assert "only with --reasoning-effort none" in models.settings_problem("gpt-7", None, 0.3, None)
    assert "--reasoning-effort takes one of" in models.settings_problem("gpt-7", "extreme", None, None)


@pytest.mark.parametrize("name", ["my-own-model", "gpt-4.5-preview"])
def test_an_unknown_model_that_does_not_reason_takes_temperature_and_no_effort(name):
    assert models.lookup(name).temperature == models.TEMPERATURE_ALWAYS
    assert models.settings_problem(name, None, 0.7, None) is None
    assert "not a reasoning model" in models.settings_problem(name, "low", None, None)



def test_a_budget_of_exactly_the_models_maximum_output_is_accepted_and_one_more_is_not():
    assert models.settings_problem("gpt-4o", None, None, 16_384) is None
    assert models.settings_problem("gpt-4o", None, None, 16_385) == (
        "--max-completion-tokens 16,385 is above what gpt-4o can write: at most 16,384 output tokens"
    )


def test_a_budget_of_exactly_the_responses_minimum_is_accepted_and_one_less_is_not():
    assert models.endpoint_problem("gpt-6.1-terra", "responses", models.RESPONSES_MIN_OUTPUT_TOKENS) is None
    assert models.RESPONSES_MIN_OUTPUT_TOKENS == 16  # the API's own minimum (the comment above it in models.py)
    assert models.endpoint_problem("gpt-5.4-pro", None, 15) == (
        "--max-completion-tokens 15 is below what the Responses API takes: at least 16 (max_output_tokens)"
    )
    assert "at least 16 (max_output_tokens)" in models.endpoint_problem("gpt-6.1-terra", "responses", 15)
    assert models.endpoint_problem("gpt-6.1-terra", "chat", 15) is None  # Chat Completions has no such minimum

# --- the truncation ladder --------------------------------------------------------------------


def test_a_retry_recorded_for_another_model_is_fitted_to_the_model_now_asked_for():
    """A lesson's retry budget and effort recorded after a truncation, when the model has changed
    since: the budget within the model's maximum output, the recorded effort if the model takes
    it, else the nearest below it, else the model's lowest; no effort for a model that does not
    reason (mutation run of 2026-12-07, models.py ``fit_retry``)."""
    assert models.fit_retry("gpt-5.1", 20_000, "medium") == (20_000, "medium")
    assert models.fit_retry("gpt-5.1", 20_000, "xhigh") == (20_000, "high")  # the nearest below
    assert models.fit_retry("gpt-5", 20_000, "none") == (20_000, "minimal")  # none below: its lowest
    assert models.fit_retry("gpt-5.4-pro", 20_000, "low") == (20_000, "medium")
    assert models.fit_retry("gpt-4o", 20_000, "low") == (16_384, None)  # not a reasoning model
    assert models.fit_retry("gpt-7", 20_000, "low") == (20_000, "low")  # its efforts are not known
    assert models.fit_retry("gpt-5.1", 20_000, "extreme") == (20_000, "high")  # not an effort this version knows



@pytest.mark.parametrize("name, budget", [
    ("gpt-6.1-terra", 16_000), ("gpt-5-mini", 16_000), ("gpt-7", 16_000),  # reasoning: room for hidden reasoning
    ("gpt-4o", 8_000), ("gpt-4.1", 8_000), ("my-own-model", 8_000),  # a plain lesson of ~3,500 tokens, with room
])
def test_the_default_budget_is_16_000_for_a_reasoning_model_and_8_000_for_any_other(name, budget):
    assert models.default_budget(name) == budget

def _ladder(model, budget, effort=None):
    """Every step the truncation ladder takes from ``budget`` and ``effort`` (at most 20: a ladder
    that never ends would retry a truncated lesson, and pay for it, until its attempts run out)."""
    steps = []
    while (step := models.retry_settings(model, budget, effort)) is not None and len(steps) < 20:
        steps.append(step)
        budget, effort = step
    return steps


def test_the_ladder_doubles_the_budget_to_the_cap_then_lowers_the_effort_to_none():
    assert _ladder("gpt-6.1-terra", 16_000) == [(32_000, None), (64_000, None), (64_000, "low"), (64_000, "none")]


def test_the_ladder_starts_lowering_from_the_effort_asked_for():
    assert _ladder("gpt-6.1-terra", 64_000, "max") == [(64_000, "xhigh"), (64_000, "high"), (64_000, "medium"),
                                                        (64_000, "low"), (64_000, "none")]


def test_the_ladder_stops_at_the_lowest_effort_each_model_accepts():
    assert _ladder("gpt-6.1-sol", 64_000)[-1] == (64_000, "low")
    assert _ladder("gpt-5-mini", 64_000)[-1] == (64_000, "minimal")
    assert _ladder("gpt-5.1", 64_000) == []  # it runs at none by default: nothing lower


@pytest.mark.parametrize("name", REASONING)
@pytest.mark.parametrize("start", [None, "high"])
def test_the_ladder_never_produces_an_effort_the_model_rejects(name, start):
    info = models.CATALOGUE[name]
    if start is not None and start not in info.efforts:
        start = info.efforts[-1]
    for budget, effort in _ladder(name, models.default_budget(name), start):
        assert effort is None or effort in info.efforts
        assert budget <= info.max_output_tokens


def test_the_ladder_of_a_model_that_does_not_reason_stops_at_its_maximum_output():
    assert _ladder("gpt-4o-mini", 8_000) == [(16_000, None), (16_384, None)]


def test_the_ladder_of_an_unknown_reasoning_model_raises_only_the_budget():
    assert _ladder("gpt-7", 16_000, "high") == [(32_000, "high"), (64_000, "high")]


def test_the_ladder_keeps_a_budget_the_user_set_above_the_cap_and_only_lowers_the_effort():
    assert _ladder("gpt-6.1-terra", 100_000, "low") == [(100_000, "none")]


# --- estimates and prices ---------------------------------------------------------------------


def test_expected_output_grows_with_the_effort_and_uses_the_models_default():
    none = models.expected_output_tokens("gpt-6.1-terra", "none", 64_000)
    medium = models.expected_output_tokens("gpt-6.1-terra", None, 64_000)
    high = models.expected_output_tokens("gpt-6.1-terra", "high", 64_000)
    assert none == models.EXPECTED_LESSON_TOKENS < medium < high
    assert medium == models.expected_output_tokens("gpt-6.1-terra", "medium", 64_000)
    assert models.expected_output_tokens("gpt-5.4", None, 64_000) == none  # gpt-5.4 runs at none by default


# Standard (list) prices in USD per 1M tokens, input / cached input / output, as the sources named
# above models.CATALOGUE give them; the Batch price the catalogue holds is half of each (OpenAI's
# model pages: "Batch and Flex prices are 50% lower"; the Batch guide's 50% discount). Checked
# again for issue 19: gpt-6-luna $0.10 / $0.01 / $0.50 and gpt-5.6-luna $0.20 / $0.02 / $1.20 on
# OpenAI's model pages; gpt-5.4-mini $0.75 / $0.075 / $4.50 (verdent.ai and bswen.com, quoting
# OpenAI's pricing page); gpt-6.2-sol, gpt-6.2-astra and gpt-5.6-sol's list price as issue 22 gives
# them (checked on 2026-12-07; gpt-6.2-astra's cached price was not found: None). A change to a
# price in the catalogue changes its row here, with its source.
LIST_PRICES = {
    "gpt-6.2-sol": (2.00, 0.10, 10.00),
    "gpt-6.2-astra": (8.00, None, 40.00),
    "gpt-6.1-terra": (1.00, 0.05, 5.00),
    "gpt-6.1-sol": (2.00, 0.10, 10.00),
    "gpt-6-luna": (0.10, 0.01, 0.50),
    "gpt-6-sol": (2.00, 0.20, 10.00),
    "gpt-6-astra": (10.00, 1.00, 50.00),
    "gpt-5.6-sol": (5.00, 0.50, 30.00),  # the list price, not the promotion that ended 2026-11-21
    "gpt-5.6-terra": (2.00, 0.20, 12.00),
    "gpt-5.6-luna": (0.20, 0.02, 1.20),
    "gpt-5.5": (5.00, 0.50, 30.00),
    "gpt-5.4": (2.50, 0.25, 15.00),
    "gpt-5.4-mini": (0.75, 0.075, 4.50),
    "gpt-5.4-pro": (30.00, None, 180.00),  # OpenAI's gpt-5.4-pro page, read 2026-12-07 (no cached price)
    "gpt-5.4-nano": (0.20, 0.02, 1.25),
    "gpt-5.2": (1.75, 0.175, 14.00),
    "gpt-5.1": (1.25, 0.125, 10.00),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
}


def half(list_price: float | None) -> float | None:
    return None if list_price is None else list_price / 2


@pytest.mark.parametrize("name, list_price", sorted(LIST_PRICES.items()))
def test_every_models_batch_price_is_half_its_list_price(name, list_price):
    price = models.CATALOGUE[name].batch_price
    assert price is not None
    assert (price.input, price.output) == pytest.approx((half(list_price[0]), half(list_price[2])), rel=1e-9)
    assert price.cached_input == (None if list_price[1] is None else pytest.approx(half(list_price[1]), rel=1e-9))


def test_every_priced_model_has_its_price_pinned_above():
    assert {name for name, info in models.CATALOGUE.items() if info.batch_price is not None} == set(LIST_PRICES)


# Every other fact the catalogue holds about each model, as its sources (named above
# model_catalogue.CATALOGUE) give it: the reasoning_effort values it accepts, lowest first, and its
# default; how it takes temperature ("always"; "with effort none"; "never"); its maximum output
# tokens; its announced shutdown date and the replacement OpenAI names; whether it takes flex
# (None: no source says); whether it bills prompt-cache writes (GPT-5.6 and later). Checked again
# for issue 19: gpt-6.1-terra none..max, default medium, 128,000 output (OpenAI's page as quoted by
# apidog.com, docs.litellm.ai and the Gemini Enterprise model card); gpt-5.4-mini none (default)
# ..xhigh, 128K output (docs.anyfast.ai); gpt-5.4 none..xhigh, default none (replicate.com). A
# change to a fact in the catalogue changes its row here, with its source. A model that does not
# reason accepts no effort: "-".
NONE_TO_MAX = "none low medium high xhigh max"
LOW_TO_MAX = "low medium high xhigh max"
NONE_TO_XHIGH = "none low medium high xhigh"
GPT5 = "minimal low medium high"
ALWAYS, WITH_NONE, NEVER = "always", "with effort none", "never"
FACTS = {  # name: (efforts, default, temperature, max output, shutdown, replacement, flex, bills cache writes)
    "gpt-6.2-sol": (LOW_TO_MAX, "medium", NEVER, 128_000, None, None, None, True),
    "gpt-6.2-astra": (LOW_TO_MAX, "medium", NEVER, 128_000, None, None, None, True),
    "gpt-6.1-terra": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, True, True),
    "gpt-6.1-sol": (LOW_TO_MAX, "medium", NEVER, 128_000, None, None, True, True),
    "gpt-6-luna": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, True, True),
    "gpt-6-sol": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, None, True),
    "gpt-6-astra": (LOW_TO_MAX, "medium", NEVER, 128_000, None, None, True, True),
    "gpt-5.6-sol": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, True, True),
    "gpt-5.6-terra": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, True, True),
    "gpt-5.6-luna": (NONE_TO_MAX, "medium", WITH_NONE, 128_000, None, None, True, True),
    "gpt-5.5": (NONE_TO_XHIGH, "medium", WITH_NONE, 128_000, None, None, True, False),
    "gpt-5.4": (NONE_TO_XHIGH, "none", WITH_NONE, 128_000, None, None, True, False),
    "gpt-5.4-mini": (NONE_TO_XHIGH, "none", WITH_NONE, 128_000, None, None, True, False),
    "gpt-5.4-nano": (NONE_TO_XHIGH, "none", WITH_NONE, 128_000, "2027-04-01", None, True, False),
    "gpt-5.4-pro": ("medium high xhigh", "medium", NEVER, 128_000, None, None, None, False),
    "gpt-5.2": (NONE_TO_XHIGH, "none", WITH_NONE, 128_000, None, None, None, False),
    "gpt-5.1": ("none low medium high", "none", WITH_NONE, 128_000, "2027-04-01", None, None, False),
    "gpt-5": (GPT5, "medium", NEVER, 128_000, "2026-12-11", "gpt-6.1-sol", True, False),
    "gpt-5-mini": (GPT5, "medium", NEVER, 128_000, "2026-12-11", "gpt-6.1-terra", True, False),
    "gpt-5-nano": (GPT5, "medium", NEVER, 128_000, "2026-12-11", "gpt-6-luna", True, False),
    "gpt-4.1": ("-", None, ALWAYS, 32_768, "2027-01-14", "gpt-6-luna", None, False),
    "gpt-4.1-mini": ("-", None, ALWAYS, 32_768, "2027-01-14", "gpt-6-luna", None, False),
    "gpt-4o": ("-", None, ALWAYS, 16_384, "2027-01-14", "gpt-6-luna", None, False),
    "gpt-4o-mini": ("-", None, ALWAYS, 16_384, "2027-01-14", "gpt-6-luna", None, False),
    "o3": ("low medium high", "medium", NEVER, None, "2026-12-11", "gpt-6.1-sol", True, False),
    "o3-mini": ("low medium high", "medium", NEVER, None, "2026-10-23", "gpt-5.6-sol", None, False),
    "o4-mini": ("low medium high", "medium", NEVER, None, "2026-10-23", "gpt-5.6-terra", None, False),
    "gpt-4.1-nano": ("-", None, ALWAYS, None, "2026-10-23", None, None, False),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_every_models_facts_are_those_its_sources_give(name):
    efforts, default, temperature, max_output, shutdown, replacement, flex, cache_writes = FACTS[name]
    info = models.lookup(name)
    assert info.in_catalogue and info.reasoning is (efforts != "-")
    assert info.efforts == (() if efforts == "-" else tuple(efforts.split()))
    assert info.default_effort == default and info.temperature == temperature
    assert info.max_output_tokens == max_output
    assert (info.shutdown, info.replacement) == (shutdown and date.fromisoformat(shutdown), replacement)
    assert info.flex is flex and info.bills_cache_writes is cache_writes
    # every model takes Batch requests on Chat Completions but gpt-5.4-pro, offered on the Responses API only
    on_chat = name != "gpt-5.4-pro"
    assert (info.batch_chat_completions, info.responses_only) == (on_chat, not on_chat)


def test_every_catalogued_model_has_its_facts_pinned_above():
    assert set(models.CATALOGUE) == set(FACTS)


# Every dated snapshot the catalogue lists, with its own announced shutdown date and replacement
# (openai 3.63.0, types/shared/chat_model.py; OpenAI's deprecations page, see SNAPSHOTS).
SNAPSHOT_FACTS = {  # name: (family, shutdown, replacement)
    "gpt-5.5-2026-04-23": ("gpt-5.5", None, None),
    "gpt-5.4-mini-2026-03-17": ("gpt-5.4-mini", None, None),
    "gpt-5.4-nano-2026-03-17": ("gpt-5.4-nano", "2027-04-01", None),
    "gpt-5.2-2025-12-11": ("gpt-5.2", None, None),
    "gpt-5.1-2025-11-13": ("gpt-5.1", "2027-04-01", None),
    "gpt-5-2025-08-07": ("gpt-5", "2026-12-11", "gpt-6.1-sol"),
    "gpt-5-mini-2025-08-07": ("gpt-5-mini", "2026-12-11", "gpt-6.1-terra"),
    "gpt-5-nano-2025-08-07": ("gpt-5-nano", "2026-12-11", "gpt-6-luna"),
    "o3-2025-04-16": ("o3", "2026-12-11", "gpt-6.1-sol"),
    "gpt-4.1-2025-04-14": ("gpt-4.1", "2027-01-14", "gpt-6-luna"),
    "gpt-4.1-mini-2025-04-14": ("gpt-4.1-mini", "2027-01-14", "gpt-6-luna"),
    "gpt-4o-2024-11-20": ("gpt-4o", "2027-01-14", "gpt-6-luna"),
    "gpt-4o-2024-08-06": ("gpt-4o", "2027-01-14", "gpt-6-luna"),
    "gpt-4o-mini-2024-07-18": ("gpt-4o-mini", "2027-01-14", "gpt-6-luna"),
    "gpt-4o-2024-05-13": ("gpt-4o", "2026-10-23", "gpt-5.6-sol"),
    "gpt-4.1-nano-2025-04-14": ("gpt-4.1-nano", "2026-10-23", None),
    "o4-mini-2025-04-16": ("o4-mini", "2026-10-23", "gpt-5.6-terra"),
    "o3-mini-2025-01-31": ("o3-mini", "2026-10-23", "gpt-5.6-sol"),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOT_FACTS))
def test_every_listed_snapshot_has_its_familys_rules_and_price_and_its_own_shutdown(name):
    family, shutdown, replacement = SNAPSHOT_FACTS[name]
    info = models.lookup(name)
    assert (info.shutdown, info.replacement) == (shutdown and date.fromisoformat(shutdown), replacement)
    expected = dataclasses.replace(models.CATALOGUE[family], name=name, shutdown=info.shutdown, replacement=replacement)
    assert info == expected and info.lifecycle_note is None


def test_every_listed_snapshot_is_pinned_above():
    assert set(models.SNAPSHOTS) == set(SNAPSHOT_FACTS)


@pytest.mark.parametrize("name", sorted(LIST_PRICES))
def test_a_million_tokens_of_each_kind_cost_the_batch_price(name):
    """What the tool bills with (``batch_cost``) reads the pinned price, not some other figure."""
    standard_input, cached_input, output = LIST_PRICES[name]
    assert models.batch_cost(name, 1_000_000, 0) == pytest.approx(standard_input / 2)
    # cached tokens of a model whose cached price is not known are counted at the input price
    cached = standard_input if cached_input is None else cached_input
    assert models.batch_cost(name, 1_000_000, 0, cached_tokens=1_000_000) == pytest.approx(cached / 2)
    assert models.batch_cost(name, 0, 1_000_000) == pytest.approx(output / 2)


def test_batch_cost_prices_input_cached_input_and_output():
    # gpt-6.1-terra at Batch prices: $0.50 input, $0.025 cached input, $2.50 output per 1M tokens
    cost = models.batch_cost("gpt-6.1-terra", input_tokens=1_000_000, output_tokens=2_000_000, cached_tokens=400_000)
    assert cost == pytest.approx(0.6 * 0.50 + 0.4 * 0.025 + 2 * 2.50)


def test_one_token_costs_its_own_price_when_no_cached_or_cache_written_tokens_are_given():
    """Counted to the token, as a plan's estimate calls it (no cached, no cache-written tokens):
    a million tokens hide a one-token slip inside approx's tolerance; one token does not."""
    # gpt-6.1-terra at Batch prices: $0.50 input, $0.025 cached input, $2.50 output per 1M tokens;
    # it bills cache writes, so a token counted as written would cost $0.625 per 1M.
    assert models.batch_cost("gpt-6.1-terra", 1, 0) == pytest.approx(0.50 / 1_000_000, rel=1e-12)
    assert models.batch_cost("gpt-6.1-terra", 0, 1) == pytest.approx(2.50 / 1_000_000, rel=1e-12)


def test_the_cost_of_cache_writes_is_unknown_for_a_model_without_a_price():
    """Asked by the processing report (``report.py``) and the flex run status, for any model."""
    assert models.cache_write_cost("my-own-model", 1_000) is None
    assert models.cache_write_cost("my-own-model", 0) is None
    assert models.cache_write_cost("gpt-6.1-terra", 1_000_000) == pytest.approx(0.625, rel=1e-12)  # 1.25 x $0.50


def test_an_unknown_model_has_no_price_and_is_shown_as_unknown_price():
    assert models.batch_cost("my-own-model", 1_000, 1_000) is None
    assert models.format_cost(None) == "unknown price"
    assert models.format_cost(1234.5) == "$1,234.50"


def test_a_flex_answer_costs_its_cached_and_cache_written_tokens_at_their_own_prices():
    """gpt-5.6-terra at Batch prices: $1 input, $0.10 cached input, $6 output, cache writes at
    1.25x the input ($1.25), per 1M tokens; standard prices (tier "default") are twice that
    (mutation run of 2026-12-07, models.py ``answer_cost``)."""
    tokens = dict(input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=400_000, cache_write_tokens=200_000)
    batch = 0.4 * 1.00 + 0.2 * 1.25 + 0.4 * 0.10 + 1.0 * 6.00  # uncached, written, cached, output
    assert models.answer_cost("gpt-5.6-terra", service_tier="flex", **tokens) == pytest.approx(batch)
    assert models.answer_cost("gpt-5.6-terra", service_tier="default", **tokens) == pytest.approx(2 * batch)


def test_a_cost_below_a_cent_is_shown_to_two_significant_digits_and_any_other_in_cents():
    assert models.format_small_cost(0.0011234) == "$0.0011"
    assert models.format_small_cost(0.0) == "$0.00"
    assert models.format_small_cost(0.5) == "$0.50"
    assert models.format_small_cost(12.345) == "$12.35"
    assert models.format_small_cost(None) == "unknown price"


def test_prices_are_shown_with_cents_and_finer_fractions_kept():
    assert models.format_price(models.Price(0.5, 0.025, 2.5)) == "$0.50 input, $0.025 cached input, $2.50 output"


@pytest.mark.parametrize("tier, discounted", [(None, True), ("default", True), ("batch", True), ("flex", True),
                                              ("priority", False), ("scale", False)])
def test_service_tiers_billed_at_batch_rates(tier, discounted):
    assert models.billed_at_batch_rates(tier) is discounted


# --- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("today, status", [
    ("2026-11-01", "active"), ("2026-11-11", "retiring"), ("2026-12-02", "retiring"), ("2026-12-09", "retiring"),
    ("2026-12-10", "too_late"), ("2026-12-11", "shut_down"), ("2027-03-01", "shut_down"),
])
def test_lifecycle_of_gpt_5_mini_by_date(today, status):
    verdict = models.catalogue_lifecycle("gpt-5-mini", date.fromisoformat(today))
    assert verdict.status == status
    if status != "active":
        assert "2026-12-11" in verdict.message and "gpt-6.1-terra" in verdict.message


def test_a_model_without_a_shutdown_date_is_active_on_any_date():
    assert models.catalogue_lifecycle("gpt-6.1-terra", date(2030, 1, 1)).status == "active"


def test_a_shut_down_model_without_a_recorded_replacement_points_to_the_default_model():
    verdict = models.catalogue_lifecycle("gpt-4.1-nano", date(2026, 12, 2))
    assert verdict.status == "shut_down"
    assert "gpt-6.1-terra" in verdict.message and "2026-10-23" in verdict.message


# --- the models of December (issue 22) --------------------------------------------------------


def test_gpt_6_2_sol_is_in_the_table_at_half_its_list_price_with_efforts_low_to_max():
    info = models.lookup("gpt-6.2-sol")
    assert info.in_catalogue and info.reasoning
    # list price per 1M tokens: $2 input, $0.10 cached input, $10 output
    assert info.batch_price == models.Price(1.00, 0.05, 5.00)
    assert info.efforts == ("low", "medium", "high", "xhigh", "max") and info.default_effort == "medium"
    assert info.max_output_tokens == 128_000 and info.shutdown is None
    assert info.flex is None  # its page does not say
    assert info.bills_cache_writes


def test_gpt_6_2_sol_refuses_effort_none_naming_low_to_max():
    assert models.settings_problem("gpt-6.2-sol", "none", None, None) == (
        "gpt-6.2-sol does not accept --reasoning-effort none; it accepts low, medium (default), high, xhigh, max"
    )


def test_gpt_6_2_astra_has_its_batch_price_with_the_cached_price_not_known():
    info = models.lookup("gpt-6.2-astra")
    assert info.in_catalogue and info.efforts == ("low", "medium", "high", "xhigh", "max")
    assert info.batch_price == models.Price(4.00, None, 20.00)
    assert models.format_price(info.batch_price) == "$4.00 input, cached input not known, $20.00 output"


def test_cached_tokens_of_a_model_whose_cached_price_is_unknown_are_counted_at_the_input_price():
    assert models.batch_cost("gpt-6.2-astra", 1_000_000, 0, cached_tokens=1_000_000) == pytest.approx(4.00)


def test_gpt_5_6_sol_is_at_its_list_price_with_a_note_that_a_promotion_may_be_lower():
    info = models.lookup("gpt-5.6-sol")
    assert info.batch_price == models.Price(2.50, 0.25, 15.00)
    assert "promotion" in info.price_note and "lower" in info.price_note


def test_o3_names_its_replacement():
    assert models.lookup("o3").replacement == "gpt-6.1-sol"
    assert "gpt-6.1-sol" in models.catalogue_lifecycle("o3", date(2026, 12, 7)).message


def test_a_snapshot_that_shut_down_before_its_family_has_its_own_date_and_replacement():
    snapshot = models.lookup("gpt-4o-2024-05-13")
    assert snapshot.shutdown == date(2026, 10, 23) and snapshot.replacement == "gpt-5.6-sol"
    assert snapshot.batch_price == models.CATALOGUE["gpt-4o"].batch_price  # its family's rules and price
    verdict = models.catalogue_lifecycle("gpt-4o-2024-05-13", date(2026, 12, 7))
    assert verdict.status == "shut_down"
    assert "2026-10-23" in verdict.message and "gpt-5.6-sol" in verdict.message
    assert models.catalogue_lifecycle("gpt-4o", date(2026, 12, 7)).status == "active"


@pytest.mark.parametrize("name, shutdown", [
    ("gpt-4o-2024-11-20", "2027-01-14"), ("o4-mini-2025-04-16", "2026-10-23"), ("gpt-5.1-2025-11-13", "2027-04-01"),
    ("gpt-5.5-2026-04-23", None), ("o3-2025-04-16", "2026-12-11"),
])
def test_every_snapshot_the_sdk_names_has_its_own_announced_date(name, shutdown):
    assert models.lookup(name).shutdown == (date.fromisoformat(shutdown) if shutdown else None)


def test_a_snapshot_the_table_does_not_list_never_inherits_its_familys_date():
    info = models.lookup("gpt-4o-2099-01-01")
    assert info.shutdown is None and info.replacement is None
    assert info.batch_price == models.CATALOGUE["gpt-4o"].batch_price
    verdict = models.catalogue_lifecycle("gpt-4o-2099-01-01", date(2026, 12, 7))
    assert verdict.status == "unknown"
    assert "no shutdown date for the snapshot gpt-4o-2099-01-01" in verdict.message
    assert "gpt-4o shuts down on 2027-01-14" in verdict.message


def test_a_snapshot_the_table_does_not_list_of_a_family_with_no_shutdown_date_says_so():
    """The default model's own snapshots, for one: their family has no announced shutdown."""
    info = models.lookup("gpt-6.1-terra-2026-10-26")
    assert info.shutdown is None and info.batch_price == models.CATALOGUE["gpt-6.1-terra"].batch_price
    verdict = models.catalogue_lifecycle("gpt-6.1-terra-2026-10-26", date(2026, 12, 7))
    assert verdict.status == "unknown"
    assert "gpt-6.1-terra has no shutdown date announced" in verdict.message

def test_a_fine_tune_of_a_snapshot_follows_that_snapshots_shutdown():
    assert models.lookup("ft:gpt-4o-2024-05-13:acme::x1").shutdown == date(2026, 10, 23)


@pytest.mark.parametrize("name, bills", [
    ("gpt-6.1-terra", True), ("gpt-6.2-sol", True), ("gpt-6-luna", True), ("gpt-5.6-luna", True),
    ("gpt-5.5", False), ("gpt-5.4", False), ("gpt-4o", False), ("gpt-7", False),
])
def test_cache_writes_are_billed_from_gpt_5_6_on(name, bills):
    assert models.bills_cache_writes(name) is bills


def test_cache_writes_cost_1_25_times_the_input_price_and_are_part_of_the_uncached_input():
    # gpt-6.1-terra at Batch prices: $0.50 input, $0.025 cached input, $2.50 output per 1M tokens
    cost = models.batch_cost("gpt-6.1-terra", input_tokens=1_000_000, output_tokens=0, cached_tokens=200_000,
                             cache_write_tokens=300_000)
    assert cost == pytest.approx(0.5 * 0.50 + 0.3 * 0.50 * 1.25 + 0.2 * 0.025)
    assert models.cache_write_cost("gpt-6.1-terra", 1_000_000) == pytest.approx(0.625)


def test_cache_writes_of_a_model_that_does_not_bill_them_cost_the_input_price():
    assert models.batch_cost("gpt-5.4", 1_000_000, 0, cache_write_tokens=1_000_000) == pytest.approx(
        models.batch_cost("gpt-5.4", 1_000_000, 0))


def test_the_model_page_shows_the_catalogue_as_it_is():
    from tests.model_table import table

    page = (Path(__file__).resolve().parent.parent / "docs" / "models.md").read_text(encoding="utf-8")
    assert table() in page, "docs/models.md: paste the output of python -m tests.model_table in place of its table"


def test_only_the_rules_in_models_read_the_dated_catalogue():
    """The catalogue's data is in model_catalogue.py; every other module asks models.py, so the rules
    that read it (snapshots, unknown models, fine-tunes) cannot be bypassed."""
    from tests.test_structure import import_graph

    readers = {module for module, imported in import_graph().items() if "model_catalogue" in imported}
    assert readers == {"models"}
