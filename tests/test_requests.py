"""Specification of the Batch API request lines (lesson_batch.requests) and model facts (lesson_batch.models)."""

from __future__ import annotations

import json

import pytest

from lesson_batch import models
from lesson_batch.curriculum import load_curriculum
from lesson_batch.prompt import PromptBuilder, load_template
from lesson_batch.requests import RequestSettings, RequestSettingsError, build_request

REASONING_MODELS = ["gpt-5-mini", "gpt-5", "gpt-5-nano", "o3", "o4-mini", "gpt-5-mini-2025-08-07"]
NON_REASONING_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-5-chat-latest"]

CURRICULUM = """\
# Test Course
# M0: Basics
## L001: First Steps [F]
Key topics: what it is.
## L002: Données — Unicode [I]
# M1: Practice
## L001: Applying It [A]
"""

TEMPLATE = """\
<!-- system -->
You write lessons for {curriculum_name}.
## Objectives
<!-- user -->
{lesson_id}: {lesson_title}
{notes}
"""


@pytest.fixture
def builder(tmp_path):
    (tmp_path / "curriculum.md").write_text(CURRICULUM, encoding="utf-8")
    (tmp_path / "prompt.md").write_text(TEMPLATE, encoding="utf-8")
    curriculum = load_curriculum(tmp_path / "curriculum.md")
    return PromptBuilder(load_template(tmp_path / "prompt.md"), curriculum)


def request_line(builder, settings=None, lesson_id="M0-L001", **overrides):
    request = build_request(builder, builder.curriculum.lesson(lesson_id), settings or RequestSettings(), **overrides)
    return request, json.loads(request.line)


# --- the line ---------------------------------------------------------------------------------


def test_each_lesson_gives_one_jsonl_line_with_its_id_as_custom_id(builder):
    requests = [build_request(builder, lesson, RequestSettings()) for lesson in builder.curriculum.lessons]
    for request in requests:
        assert request.line.endswith(b"\n")
        assert request.line.count(b"\n") == 1
    assert [json.loads(request.line)["custom_id"] for request in requests] == ["M0-L001", "M0-L002", "M1-L001"]
    assert [request.lesson_id for request in requests] == ["M0-L001", "M0-L002", "M1-L001"]


def test_line_has_exactly_the_batch_api_input_fields(builder):
    _, record = request_line(builder)
    assert set(record) == {"custom_id", "method", "url", "body"}
    assert record["method"] == "POST"
    assert record["url"] == "/v1/chat/completions"


def test_default_body_holds_model_messages_and_max_completion_tokens_only(builder):
    _, record = request_line(builder)
    assert set(record["body"]) == {"model", "messages", "max_completion_tokens"}
    assert record["body"]["model"] == "gpt-5-mini"
    assert record["body"]["max_completion_tokens"] == models.default_budget("gpt-5-mini")


def test_body_messages_are_the_prompt_builder_messages(builder):
    _, record = request_line(builder)
    assert record["body"]["messages"] == builder.messages(builder.curriculum.lesson("M0-L001"))
    assert record["body"]["messages"][-1] == {"role": "user", "content": "M0-L001: First Steps\nKey topics: what it is."}


def test_non_ascii_text_is_written_as_utf8(builder):
    request, record = request_line(builder, lesson_id="M0-L002")
    assert "Données — Unicode".encode("utf-8") in request.line
    assert record["body"]["messages"][-1]["content"].startswith("M0-L002: Données — Unicode")


def test_estimated_prompt_tokens_grow_with_the_prompt(builder):
    short, _ = request_line(builder, lesson_id="M1-L001")
    longer, _ = request_line(builder, lesson_id="M0-L001")
    assert 0 < short.prompt_tokens < longer.prompt_tokens


# --- reasoning models -------------------------------------------------------------------------


def test_default_model_is_gpt_5_mini_and_it_reasons():
    assert models.DEFAULT_MODEL == "gpt-5-mini"
    assert models.is_reasoning_model(models.DEFAULT_MODEL)


@pytest.mark.parametrize("model", REASONING_MODELS)
def test_reasoning_model_is_recognised(model):
    assert models.is_reasoning_model(model)


@pytest.mark.parametrize("model", REASONING_MODELS)
def test_reasoning_model_body_has_no_temperature_and_no_max_tokens(builder, model):
    _, record = request_line(builder, RequestSettings(model=model))
    assert record["body"]["model"] == model
    assert "temperature" not in record["body"]
    assert "max_tokens" not in record["body"]
    assert "reasoning_effort" not in record["body"]
    assert record["body"]["max_completion_tokens"] >= 16_000


@pytest.mark.parametrize("effort", models.REASONING_EFFORTS)
def test_reasoning_effort_is_sent_when_given(builder, effort):
    request, record = request_line(builder, RequestSettings(model="o4-mini", reasoning_effort=effort))
    assert record["body"]["reasoning_effort"] == effort
    assert request.reasoning_effort == effort


@pytest.mark.parametrize("model", REASONING_MODELS)
def test_temperature_on_a_reasoning_model_is_a_settings_error(model):
    with pytest.raises(RequestSettingsError, match="temperature"):
        RequestSettings(model=model, temperature=0.5)


def test_default_budget_of_a_reasoning_model_leaves_room_for_a_lesson_after_reasoning():
    budget = models.default_budget("gpt-5-mini")
    assert budget >= 16_000
    assert budget >= models.EXPECTED_LESSON_TOKENS + max(
        tokens for effort, tokens in models.EXPECTED_REASONING_TOKENS.items() if effort is not None
    )


# --- other models -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", NON_REASONING_MODELS)
def test_non_reasoning_model_is_recognised(model):
    assert not models.is_reasoning_model(model)


@pytest.mark.parametrize("model", NON_REASONING_MODELS)
def test_non_reasoning_model_body_has_no_temperature_unless_given(builder, model):
    _, record = request_line(builder, RequestSettings(model=model))
    assert set(record["body"]) == {"model", "messages", "max_completion_tokens"}


@pytest.mark.parametrize("model", NON_REASONING_MODELS)
def test_non_reasoning_model_body_has_the_temperature_when_given(builder, model):
    _, record = request_line(builder, RequestSettings(model=model, temperature=0.3))
    assert record["body"]["temperature"] == 0.3
    assert "reasoning_effort" not in record["body"]
    assert "max_tokens" not in record["body"]


def test_temperature_zero_is_sent_not_dropped(builder):
    _, record = request_line(builder, RequestSettings(model="gpt-4.1", temperature=0.0))
    assert record["body"]["temperature"] == 0.0


@pytest.mark.parametrize("model", NON_REASONING_MODELS)
def test_reasoning_effort_on_a_non_reasoning_model_is_a_settings_error(model):
    with pytest.raises(RequestSettingsError, match="reasoning"):
        RequestSettings(model=model, reasoning_effort="low")


def test_unknown_reasoning_effort_is_a_settings_error():
    with pytest.raises(RequestSettingsError, match="reasoning-effort"):
        RequestSettings(model="gpt-5", reasoning_effort="extreme")


@pytest.mark.parametrize("budget", [0, -1])
def test_budget_below_one_is_a_settings_error(budget):
    with pytest.raises(RequestSettingsError):
        RequestSettings(max_completion_tokens=budget)


def test_settings_error_is_a_value_error():
    assert issubclass(RequestSettingsError, ValueError)


# --- budgets ----------------------------------------------------------------------------------


def test_explicit_budget_is_used_instead_of_the_default(builder):
    request, record = request_line(builder, RequestSettings(max_completion_tokens=20_000))
    assert record["body"]["max_completion_tokens"] == 20_000
    assert request.max_completion_tokens == 20_000


def test_retry_budget_and_effort_override_the_settings(builder):
    settings = RequestSettings(model="gpt-5", reasoning_effort="high", max_completion_tokens=16_000)
    request, record = request_line(builder, settings, budget=64_000, effort="low")
    assert (record["body"]["max_completion_tokens"], record["body"]["reasoning_effort"]) == (64_000, "low")
    assert (request.max_completion_tokens, request.reasoning_effort) == (64_000, "low")


def test_retry_budget_alone_keeps_the_settings_effort(builder):
    settings = RequestSettings(model="gpt-5", reasoning_effort="high")
    _, record = request_line(builder, settings, budget=32_000)
    assert (record["body"]["max_completion_tokens"], record["body"]["reasoning_effort"]) == (32_000, "high")


def test_next_budget_doubles_the_budget():
    assert models.next_budget("gpt-5-mini", 16_000, "medium") == (32_000, "medium")
    assert models.next_budget("gpt-4o-mini", 8_000, None) == (16_000, None)


def test_next_budget_stops_at_the_cap():
    assert models.next_budget("gpt-5-mini", 40_000, None) == (models.budget_cap("gpt-5-mini"), None)


def test_non_reasoning_models_are_capped_at_their_output_limit():
    assert models.next_budget("gpt-4o-mini", 16_000, None) == (16_384, None)
    assert models.next_budget("gpt-4o-mini", 16_384, None) == (16_384, None)


def test_next_budget_at_the_cap_lowers_the_reasoning_effort_one_step():
    cap = models.budget_cap("gpt-5")
    assert models.next_budget("gpt-5", cap, "high") == (cap, "medium")
    assert models.next_budget("gpt-5", cap, "medium") == (cap, "low")
    assert models.next_budget("gpt-5", cap, "low") == (cap, "minimal")
    assert models.next_budget("gpt-5", cap, "minimal") == (cap, "minimal")


def test_next_budget_at_the_cap_treats_the_model_default_effort_as_medium():
    cap = models.budget_cap("gpt-5-mini")
    assert models.next_budget("gpt-5-mini", cap, None) == (cap, "low")


def test_next_budget_from_the_default_reaches_the_cap_then_lowers_effort():
    budget, effort = models.default_budget("gpt-5-mini"), None
    steps = []
    for _ in range(4):
        budget, effort = models.next_budget("gpt-5-mini", budget, effort)
        steps.append((budget, effort))
    assert steps == [(32_000, None), (64_000, None), (64_000, "low"), (64_000, "minimal")]


def test_next_budget_at_the_cap_leaves_a_non_reasoning_model_unchanged():
    cap = models.budget_cap("gpt-4.1")
    assert models.next_budget("gpt-4.1", cap, None) == (cap, None)


# --- prices -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-5-mini", "gpt-5", "o3", "o4-mini", "gpt-4o-mini", "gpt-4.1"])
def test_known_model_costs_half_its_list_price(model):
    price = models.price_of(model)
    assert price is not None
    cost = models.batch_cost(model, input_tokens=2_000_000, output_tokens=3_000_000)
    assert cost == pytest.approx((2 * price.input + 3 * price.output) * 0.5)


def test_gpt_5_mini_batch_cost_uses_the_published_price():
    # list price per million tokens (2025-08): input $0.25, output $2.00; the Batch API charges half
    assert models.batch_cost("gpt-5-mini", 1_000_000, 1_000_000) == pytest.approx(1.125)


def test_cached_input_tokens_cost_the_cached_price():
    price = models.price_of("gpt-4.1")
    cost = models.batch_cost("gpt-4.1", input_tokens=1_000_000, output_tokens=0, cached_tokens=400_000)
    assert cost == pytest.approx((0.6 * price.input + 0.4 * price.cached_input) * 0.5)


def test_dated_snapshot_is_priced_like_its_family():
    assert models.price_of("gpt-5-mini-2025-08-07") == models.price_of("gpt-5-mini")
    assert models.batch_cost("gpt-5-mini-2025-08-07", 1000, 1000) == models.batch_cost("gpt-5-mini", 1000, 1000)


def test_unknown_model_has_no_price():
    assert models.price_of("my-finetuned-model") is None
    assert models.batch_cost("my-finetuned-model", 1000, 1000) is None


def test_unknown_price_is_shown_as_unknown_price():
    assert models.format_cost(None) == "unknown price"


def test_known_cost_is_shown_in_dollars():
    assert models.format_cost(1234.5) == "$1,234.50"
