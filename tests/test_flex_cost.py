"""What a flex run has spent (``flex.cost.CostCap.count``): each answer at the price of the tier
it was served at, prompt-cache writes included, and what an answer served at another tier than
flex cost more than at flex prices (issue 19: mutants of this code passed the whole suite).

The amounts are computed here from the catalogue's Batch prices for the default model, which
bills prompt-cache writes at ``CACHE_WRITE_MULTIPLIER`` times its input price, and from the rule
that standard prices are twice the Batch ones.
"""

from __future__ import annotations

import pytest

from lesson_batch import models
from lesson_batch.flex import FlexReport
from lesson_batch.flex.cost import CostCap, worst_case_cost
from lesson_batch.flex.send import FlexRequest
from lesson_batch.report import Report
from lesson_batch.result_files import TokenUsage

MODEL = models.DEFAULT_MODEL
# 3,000 prompt tokens, 1,000 of them read from the prompt cache and 1,500 written to it; 2,000 out.
USAGE = TokenUsage(prompt_tokens=3_000, completion_tokens=2_000, cached_tokens=1_000, cache_write_tokens=1_500)


def at_batch_prices(usage: TokenUsage) -> float:
    price = models.price_of(MODEL)
    written = usage.cache_write_tokens
    uncached = usage.prompt_tokens - usage.cached_tokens - written
    return (uncached * price.input + written * price.input * models.CACHE_WRITE_MULTIPLIER
            + usage.cached_tokens * price.cached_input + usage.completion_tokens * price.output) / 1_000_000


def spending() -> tuple[CostCap, FlexReport]:
    report = FlexReport(run_id="flex-test", model=MODEL, requested=2, results=Report(label="flex run flex-test"))
    return CostCap(MODEL, None, report), report


def test_the_default_model_bills_cache_writes_above_its_input_price():
    """What the tests below rely on to tell a cost with cache writes from one without."""
    assert models.bills_cache_writes(MODEL) and models.CACHE_WRITE_MULTIPLIER > 1


@pytest.mark.parametrize("tier", ["flex", None], ids=["flex", "tier not said"])
def test_an_answer_served_at_flex_costs_batch_prices_with_its_cache_writes_and_nothing_more(tier):
    cap, report = spending()

    cap.count("M0-L001", USAGE, tier)

    assert report.cost == pytest.approx(at_batch_prices(USAGE))
    assert report.other_tier == []


def test_an_answer_served_at_the_standard_tier_costs_twice_and_its_extra_is_the_flex_price_once():
    cap, report = spending()

    cap.count("M0-L001", USAGE, "default")

    assert report.cost == pytest.approx(2 * at_batch_prices(USAGE))
    ((lesson_id, tier, extra),) = report.other_tier
    assert (lesson_id, tier) == ("M0-L001", "default")
    assert extra == pytest.approx(at_batch_prices(USAGE))


def test_the_costs_of_the_answers_of_a_run_add_up():
    cap, report = spending()

    cap.count("M0-L001", USAGE, "flex")
    cap.count("M0-L002", USAGE, "default")

    assert report.cost == pytest.approx(3 * at_batch_prices(USAGE))


def test_a_request_whose_worst_case_is_exactly_the_room_left_under_the_cap_may_be_sent():
    """The cap is a most: spending up to it, not only below it, is allowed."""
    request = FlexRequest("M0-L002", {}, budget=16_000, effort=None, prompt_tokens=2_000)
    in_flight = [FlexRequest("M0-L001", {}, budget=16_000, effort=None, prompt_tokens=1_000)]
    _, report = spending()
    report.cost = 0.01
    room = report.cost + worst_case_cost(MODEL, in_flight[0]) + worst_case_cost(MODEL, request)

    assert CostCap(MODEL, room, report).affords(request, in_flight)
    assert not CostCap(MODEL, room * 0.999, report).affords(request, in_flight)
