"""Specification of the true costs in a report (lesson_batch.report): prompt-cache writes, and a
batch's own usage set against the sum of its lines."""

from __future__ import annotations

import pytest

from lesson_batch import models
from lesson_batch.report import Report
from lesson_batch.result_files import TokenUsage
from lesson_batch.text.processing import format_report

LINES = TokenUsage(prompt_tokens=10_000, completion_tokens=4_000, cached_tokens=2_000, reasoning_tokens=1_000,
                   cache_write_tokens=3_000)
SAME = {"input_tokens": 10_000, "cached_tokens": 2_000, "output_tokens": 4_000, "reasoning_tokens": 1_000}


def report(batch_usage=None, usage=LINES, model="gpt-6.1-terra") -> Report:
    made = Report(label="batch b1", usage=usage, batch_usage=batch_usage)
    made.models_used[model] += 1
    return made


def test_the_cost_includes_cache_writes_at_1_25_times_the_input_price_and_says_how_much():
    made = report()
    # gpt-6.1-terra at Batch prices: $0.50 input, $0.025 cached, $2.50 output per 1M tokens
    assert made.actual_cost == pytest.approx((5_000 * 0.50 + 3_000 * 0.625 + 2_000 * 0.025 + 4_000 * 2.50) / 1e6)
    assert made.cache_write_cost == pytest.approx(3_000 * 0.625 / 1e6)
    text = "\n".join(format_report(made))
    assert "10,000 input (2,000 cached, 3,000 written to the prompt cache)" in text
    assert f"of which cache writes {models.format_small_cost(made.cache_write_cost)}" in text
    payload = made.as_json()
    assert payload["usage"]["cache_write_tokens"] == 3_000
    assert payload["cache_write_cost_usd"] == pytest.approx(round(made.cache_write_cost, 4))


def test_a_batch_usage_equal_to_its_lines_is_said_to_match():
    made = report(SAME)
    assert made.batch_usage_difference == {}
    assert "    it matches the sum of the batch's result lines" in format_report(made)


def test_a_batch_usage_unlike_its_lines_is_told_count_by_count_with_both_costs():
    made = report({**SAME, "input_tokens": 10_500, "output_tokens": 3_900})
    assert made.batch_usage_difference == {"input_tokens": 500, "output_tokens": -100}
    text = "\n".join(format_report(made))
    assert "the batch counts 500 more input tokens, 100 fewer output tokens than its lines" in text
    assert f"by the batch's figures it costs {models.format_cost(made.batch_usage_cost)}" in text
    assert made.as_json()["batch_usage_minus_lines"] == {"input_tokens": 500, "output_tokens": -100}


def test_without_a_batch_usage_nothing_is_compared():
    made = report(None)
    assert made.batch_usage_difference == {} and "the batch's own usage" not in "\n".join(format_report(made))


def test_a_total_over_batches_compares_only_when_every_batch_had_its_own_usage():
    total = Report(label="total")
    total.merge(report(SAME))
    total.merge(report(SAME))
    assert total.batch_usage == {name: 2 * value for name, value in SAME.items()}
    assert total.batch_usage_difference == {}
    total.merge(report(None))
    assert not total.batch_usage_complete
    assert "the batch's own usage" not in "\n".join(format_report(total))
    assert total.as_json()["batch_usage"] is None
