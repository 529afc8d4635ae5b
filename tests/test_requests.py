"""Specification of the Batch API request lines (lesson_batch.requests): the body each model gets.

The model facts themselves (the catalogue, the ladder, prices, lifecycle) are specified in
tests/test_models.py; what a user sees of them, through the scripts, in tests/test_model_rules.py.
"""

from __future__ import annotations

import json

import pytest

from lesson_batch import models
from lesson_batch.curriculum import load_curriculum
from lesson_batch.prompt import PromptBuilder, load_template
from lesson_batch.requests import RequestSettings, RequestSettingsError, build_request, parse_efforts

REASONING_MODELS = ["gpt-6.1-terra", "gpt-6.1-sol", "gpt-6-luna", "gpt-5.4", "gpt-5-mini", "gpt-5-mini-2025-08-07"]
NON_REASONING_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini"]

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
    assert record["body"]["model"] == "gpt-6.1-terra"
    assert record["body"]["max_completion_tokens"] == models.default_budget("gpt-6.1-terra")


def test_body_messages_are_the_prompt_builder_messages(builder):
    _, record = request_line(builder)
    assert record["body"]["messages"] == builder.messages(builder.curriculum.lesson("M0-L001"))
    assert record["body"]["messages"][-1] == {
        "role": "user", "content": "M0-L001: First Steps\nKey topics: what it is."
    }


def test_non_ascii_text_is_written_as_utf8(builder):
    request, record = request_line(builder, lesson_id="M0-L002")
    assert "Données — Unicode".encode("utf-8") in request.line
    assert record["body"]["messages"][-1]["content"].startswith("M0-L002: Données — Unicode")


def test_estimated_prompt_tokens_grow_with_the_prompt(builder):
    short, _ = request_line(builder, lesson_id="M1-L001")
    longer, _ = request_line(builder, lesson_id="M0-L001")
    assert 0 < short.prompt_tokens < longer.prompt_tokens


# --- reasoning models -------------------------------------------------------------------------


@pytest.mark.parametrize("model", REASONING_MODELS)
def test_reasoning_model_body_has_no_temperature_no_effort_and_no_max_tokens_by_default(builder, model):
    _, record = request_line(builder, RequestSettings(model=model))
    assert record["body"]["model"] == model
    assert "temperature" not in record["body"]
    assert "max_tokens" not in record["body"]
    assert "reasoning_effort" not in record["body"]
    assert record["body"]["max_completion_tokens"] >= 16_000


@pytest.mark.parametrize("effort", ["none", "low", "medium", "high", "xhigh", "max"])
def test_every_effort_the_model_accepts_is_sent_when_given(builder, effort):
    request, record = request_line(builder, RequestSettings(model="gpt-6.1-terra", reasoning_effort=effort))
    assert record["body"]["reasoning_effort"] == effort
    assert request.reasoning_effort == effort


@pytest.mark.parametrize("model, effort, accepted", [
    ("gpt-6.1-terra", "minimal", "none, low, medium (default), high, xhigh, max"),
    ("gpt-6.1-sol", "none", "low, medium (default), high, xhigh, max"),
    ("gpt-5.1", "minimal", "none (default), low, medium, high"),
    ("gpt-5-mini", "none", "minimal, low, medium (default), high"),
    ("gpt-5-mini", "xhigh", "minimal, low, medium (default), high"),
])
def test_an_effort_the_model_does_not_accept_is_a_settings_error_naming_what_it_accepts(model, effort, accepted):
    with pytest.raises(RequestSettingsError) as error:
        RequestSettings(model=model, reasoning_effort=effort)
    assert str(error.value) == f"{model} does not accept --reasoning-effort {effort}; it accepts {accepted}"


@pytest.mark.parametrize("model", ["gpt-5-mini", "gpt-5", "gpt-6.1-sol", "gpt-6-astra"])
def test_temperature_on_a_model_that_never_takes_it_is_a_settings_error(model):
    with pytest.raises(RequestSettingsError, match="does not accept --temperature"):
        RequestSettings(model=model, temperature=0.5)


@pytest.mark.parametrize("model", ["gpt-6.1-terra", "gpt-6-luna", "gpt-5.5"])
def test_temperature_on_a_newer_reasoning_model_needs_effort_none(builder, model):
    with pytest.raises(RequestSettingsError, match="only with --reasoning-effort none"):
        RequestSettings(model=model, temperature=0.5)
    with pytest.raises(RequestSettingsError, match="only with --reasoning-effort none"):
        RequestSettings(model=model, temperature=0.5, reasoning_effort="low")
    _, record = request_line(builder, RequestSettings(model=model, temperature=0.5, reasoning_effort="none"))
    assert (record["body"]["temperature"], record["body"]["reasoning_effort"]) == (0.5, "none")


@pytest.mark.parametrize("model", ["gpt-5.1", "gpt-5.2", "gpt-5.4"])
def test_temperature_is_accepted_where_the_model_runs_at_effort_none_by_default(builder, model):
    _, record = request_line(builder, RequestSettings(model=model, temperature=0.2))
    assert record["body"]["temperature"] == 0.2


def test_default_budget_of_a_reasoning_model_leaves_room_for_a_lesson_after_medium_reasoning():
    budget = models.default_budget("gpt-6.1-terra")
    assert budget >= 16_000
    assert budget >= models.EXPECTED_LESSON_TOKENS + models.EXPECTED_REASONING_TOKENS["high"]


# --- other models -----------------------------------------------------------------------------


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
    with pytest.raises(RequestSettingsError, match="not a reasoning model"):
        RequestSettings(model=model, reasoning_effort="low")


def test_unknown_reasoning_effort_is_a_settings_error():
    with pytest.raises(RequestSettingsError, match="reasoning-effort"):
        RequestSettings(model="gpt-5", reasoning_effort="extreme")


@pytest.mark.parametrize("budget", [0, -1])
def test_budget_below_one_is_a_settings_error(budget):
    with pytest.raises(RequestSettingsError):
        RequestSettings(max_completion_tokens=budget)


@pytest.mark.parametrize("model, limit", [("gpt-4o", 16_384), ("gpt-4.1-mini", 32_768), ("gpt-6.1-terra", 128_000)])
def test_budget_above_the_model_maximum_output_is_a_settings_error_naming_the_maximum(model, limit):
    RequestSettings(model=model, max_completion_tokens=limit)
    with pytest.raises(RequestSettingsError, match=f"at most {limit:,} output tokens"):
        RequestSettings(model=model, max_completion_tokens=limit + 1)


def test_settings_error_is_a_value_error():
    assert issubclass(RequestSettingsError, ValueError)


# --- budgets ----------------------------------------------------------------------------------


def test_explicit_budget_is_used_instead_of_the_default(builder):
    request, record = request_line(builder, RequestSettings(max_completion_tokens=20_000))
    assert record["body"]["max_completion_tokens"] == 20_000
    assert request.max_completion_tokens == 20_000


def test_retry_budget_and_effort_override_the_settings(builder):
    settings = RequestSettings(model="gpt-6.1-terra", reasoning_effort="high", max_completion_tokens=16_000)
    request, record = request_line(builder, settings, budget=64_000, effort="low")
    assert (record["body"]["max_completion_tokens"], record["body"]["reasoning_effort"]) == (64_000, "low")
    assert (request.max_completion_tokens, request.reasoning_effort) == (64_000, "low")


def test_retry_budget_alone_keeps_the_settings_effort(builder):
    settings = RequestSettings(model="gpt-6.1-terra", reasoning_effort="high")
    _, record = request_line(builder, settings, budget=32_000)
    assert (record["body"]["max_completion_tokens"], record["body"]["reasoning_effort"]) == (32_000, "high")


def test_a_retry_effort_recorded_for_another_model_becomes_one_this_model_accepts(builder):
    # "minimal" was the ladder's last step on gpt-5-mini; gpt-6.1-terra rejects it but takes "none"
    _, record = request_line(builder, RequestSettings(model="gpt-6.1-terra"), budget=64_000, effort="minimal")
    assert record["body"]["reasoning_effort"] == "none"
    _, record = request_line(builder, RequestSettings(model="gpt-6.1-sol"), budget=64_000, effort="minimal")
    assert record["body"]["reasoning_effort"] == "low"


def test_a_retry_budget_above_the_model_maximum_is_brought_down_to_it(builder):
    _, record = request_line(builder, RequestSettings(model="gpt-4o"), budget=64_000)
    assert record["body"]["max_completion_tokens"] == 16_384
    assert "reasoning_effort" not in record["body"]


def test_a_retry_effort_is_not_sent_to_a_model_that_does_not_reason(builder):
    _, record = request_line(builder, RequestSettings(model="gpt-4.1"), budget=16_000, effort="low")
    assert "reasoning_effort" not in record["body"]


def test_a_retry_never_lowers_the_budget_below_this_runs_own(builder):
    _, record = request_line(builder, RequestSettings(max_completion_tokens=40_000), budget=32_000, effort="low")
    assert record["body"]["max_completion_tokens"] == 40_000


# --- efforts by complexity --------------------------------------------------------------------


@pytest.mark.parametrize("text, parsed", [
    ("high", ("high", ())),
    ("F=low,I=medium,A=high", (None, (("F", "low"), ("I", "medium"), ("A", "high")))),
    ("a=HIGH, f=low", (None, (("F", "low"), ("A", "high")))),
    ("F=low,A=high,medium", ("medium", (("F", "low"), ("A", "high")))),
])
def test_the_effort_option_takes_one_value_or_one_per_complexity_tag(text, parsed):
    assert parse_efforts(text) == parsed


@pytest.mark.parametrize("text, words", [
    ("extreme", "'extreme' is not one"), ("X=low", "'X' is not a complexity tag"), ("F=low,F=high", "gives F twice"),
    ("low,high", "more than one plain effort"), ("F=", "'' is not one"), (",", "needs a value"),
])
def test_a_malformed_effort_option_is_refused_in_plain_words(text, words):
    with pytest.raises(ValueError, match=words):
        parse_efforts(text)


@pytest.mark.parametrize("lesson_id, effort", [("M0-L001", "low"), ("M0-L002", "medium"), ("M1-L001", "high")])
def test_each_lesson_is_requested_at_the_effort_of_its_complexity_tag(builder, lesson_id, effort):
    settings = RequestSettings(efforts_by_complexity=(("F", "low"), ("I", "medium"), ("A", "high")))
    request, record = request_line(builder, settings, lesson_id)
    assert record["body"]["reasoning_effort"] == request.reasoning_effort == effort


def test_a_lesson_whose_tag_has_no_effort_gets_the_plain_value_else_the_models_default(builder):
    with_plain = RequestSettings(reasoning_effort="xhigh", efforts_by_complexity=(("F", "low"),))
    assert request_line(builder, with_plain, "M1-L001")[1]["body"]["reasoning_effort"] == "xhigh"
    without = RequestSettings(efforts_by_complexity=(("F", "low"),))
    assert "reasoning_effort" not in request_line(builder, without, "M1-L001")[1]["body"]


def test_every_effort_of_the_mix_is_checked_against_the_model_naming_the_tag_and_what_it_accepts():
    with pytest.raises(RequestSettingsError) as error:
        RequestSettings(model="gpt-6.2-sol", efforts_by_complexity=(("F", "none"), ("A", "high")))
    assert str(error.value) == (
        "for lessons tagged [F]: gpt-6.2-sol does not accept --reasoning-effort none; "
        "it accepts low, medium (default), high, xhigh, max"
    )


def test_a_retry_after_truncation_keeps_its_own_lower_effort_over_the_mix(builder):
    settings = RequestSettings(efforts_by_complexity=(("F", "high"),))
    _, record = request_line(builder, settings, "M0-L001", budget=32_000, effort="low")
    assert record["body"]["reasoning_effort"] == "low"
