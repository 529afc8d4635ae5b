"""Specification of planning (lesson_batch.plan): selection, skipping, estimates and the plan text."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lesson_batch import models
from lesson_batch.plan import History, PlanOptions, SelectionError, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.shards import ShardLimits
from lesson_batch.text.plan import format_plan

CURRICULUM = """\
# Plan Course
# M0: Basics
## L001: One [F]
## L002: Two [F]
## L003: Three [I]
# M1: Practice
## L001: Four [I]
## L002: Five [A]
# M2: Depth
## L001: Six [A]
"""
ALL_IDS = ["M0-L001", "M0-L002", "M0-L003", "M1-L001", "M1-L002", "M2-L001"]

TEMPLATE = "<!-- system -->\nRules for {curriculum_name}.\n## Objectives\n<!-- user -->\n{lesson_id}: {lesson_title}\n"


@pytest.fixture
def options(tmp_path):
    (tmp_path / "curriculum.md").write_text(CURRICULUM, encoding="utf-8")
    (tmp_path / "prompt.md").write_text(TEMPLATE, encoding="utf-8")
    return PlanOptions(
        curriculum_path=tmp_path / "curriculum.md",
        template_path=tmp_path / "prompt.md",
        output_dir=tmp_path / "lessons",
        work_dir=tmp_path / "work",
    )


def requested_ids(plan):
    return [lesson_id for shard in plan.shards for lesson_id in shard.lesson_ids]


def ids_in_files(plan):
    return [
        json.loads(line)["custom_id"]
        for shard in plan.shards
        for line in shard.path.read_text(encoding="utf-8").splitlines()
    ]


def write_lesson(options, lesson_id):
    options.output_dir.mkdir(parents=True, exist_ok=True)
    (options.output_dir / f"{lesson_id}.md").write_text(f"# {lesson_id}\n", encoding="utf-8")


# --- selection --------------------------------------------------------------------------------


def test_without_selection_every_lesson_is_requested_in_curriculum_order(options):
    plan = make_plan(options)
    assert [lesson.id for lesson in plan.selected] == ALL_IDS
    assert plan.to_request == ALL_IDS
    assert requested_ids(plan) == ALL_IDS
    assert ids_in_files(plan) == ALL_IDS


def test_modules_selects_the_lessons_of_those_modules(options):
    plan = make_plan(replace(options, modules=("M2", "M0")))
    assert plan.to_request == ["M0-L001", "M0-L002", "M0-L003", "M2-L001"]


def test_modules_are_matched_whatever_their_case(options):
    assert make_plan(replace(options, modules=("m1",))).to_request == ["M1-L001", "M1-L002"]


def test_lessons_selects_those_lessons_in_curriculum_order(options):
    plan = make_plan(replace(options, lessons=("M2-L001", "m0-l002")))
    assert plan.to_request == ["M0-L002", "M2-L001"]


def test_limit_keeps_the_first_selected_lessons(options):
    assert make_plan(replace(options, limit=2)).to_request == ["M0-L001", "M0-L002"]


def test_limit_counts_only_lessons_still_to_generate(options):
    options.output_dir.mkdir(parents=True, exist_ok=True)
    (options.output_dir / "M0-L001.md").write_text("# done\n")
    plan = make_plan(replace(options, limit=2))
    assert plan.to_request == ["M0-L002", "M0-L003"]
    assert "left for a later run (--limit): " in format_plan(plan)


def test_limit_applies_after_modules(options):
    assert make_plan(replace(options, modules=("M1", "M2"), limit=2)).to_request == ["M1-L001", "M1-L002"]


def test_modules_and_lessons_together_select_lessons_in_both(options):
    plan = make_plan(replace(options, modules=("M0",), lessons=("M0-L003", "M1-L001")))
    assert plan.to_request == ["M0-L003"]


def test_unknown_module_is_a_selection_error_naming_it_and_the_modules_there_are(options):
    with pytest.raises(SelectionError) as caught:
        make_plan(replace(options, modules=("M0", "M99")))
    message = str(caught.value)
    assert "M99" in message
    assert "M0, M1, M2" in message


@pytest.mark.parametrize("value", ["X1", "M", "1", "M1-L001", "Mx"])
def test_malformed_module_code_is_a_selection_error(options, value):
    with pytest.raises(SelectionError, match="--modules"):
        make_plan(replace(options, modules=(value,)))


def test_unknown_lesson_is_a_selection_error_naming_it(options):
    with pytest.raises(SelectionError) as caught:
        make_plan(replace(options, lessons=("M0-L001", "M0-L099")))
    assert "M0-L099" in str(caught.value)
    assert "M0-L001" not in str(caught.value)


@pytest.mark.parametrize("value", ["M0-L1", "M0L001", "L001", "M0-L000", "M0-L1000", "lesson one"])
def test_malformed_lesson_id_is_a_selection_error(options, value):
    with pytest.raises(SelectionError, match="--lessons"):
        make_plan(replace(options, lessons=(value,)))


def test_limit_below_one_is_a_selection_error(options):
    with pytest.raises(SelectionError, match="--limit"):
        make_plan(replace(options, limit=0))


def test_a_selection_error_writes_no_request_file(options):
    with pytest.raises(SelectionError):
        make_plan(replace(options, modules=("M99",)))
    assert not options.work_dir.exists() or list(options.work_dir.iterdir()) == []


def test_selection_error_is_a_value_error():
    assert issubclass(SelectionError, ValueError)


# --- what is skipped --------------------------------------------------------------------------


def test_a_lesson_whose_file_exists_is_skipped(options):
    write_lesson(options, "M0-L002")
    plan = make_plan(options)
    assert plan.skipped_existing == ["M0-L002"]
    assert "M0-L002" not in plan.to_request
    assert "M0-L002" not in ids_in_files(plan)
    assert len(plan.selected) == len(ALL_IDS)


def test_force_requests_lessons_whose_file_exists(options):
    write_lesson(options, "M0-L002")
    plan = make_plan(replace(options, force=True))
    assert plan.skipped_existing == []
    assert plan.to_request == ALL_IDS


def test_a_lesson_in_flight_is_never_requested(options):
    plan = make_plan(options, History(in_flight=frozenset({"M1-L001"})))
    assert plan.skipped_in_flight == ["M1-L001"]
    assert "M1-L001" not in ids_in_files(plan)


def test_a_lesson_in_flight_is_not_requested_even_with_force(options):
    write_lesson(options, "M1-L001")
    plan = make_plan(replace(options, force=True), History(in_flight=frozenset({"M1-L001", "M2-L001"})))
    assert plan.skipped_in_flight == ["M1-L001", "M2-L001"]
    assert plan.to_request == ["M0-L001", "M0-L002", "M0-L003", "M1-L002"]
    assert ids_in_files(plan) == plan.to_request


def test_a_lesson_in_flight_by_flex_is_not_requested_even_with_force(options):
    write_lesson(options, "M0-L002")
    plan = make_plan(replace(options, force=True), History(in_flex=frozenset({"M0-L002"})))
    assert plan.skipped_in_flex == ["M0-L002"]
    assert "M0-L002" not in ids_in_files(plan) and len(plan.to_request) == len(ALL_IDS) - 1


def test_lessons_in_flight_by_flex_count_against_the_limit(options):
    history = History(in_flex=frozenset({"M0-L001"}), in_flight=frozenset({"M0-L002"}))
    plan = make_plan(replace(options, limit=3), history)
    assert (plan.skipped_in_flex, plan.skipped_in_flight) == (["M0-L001"], ["M0-L002"])
    assert plan.to_request == ["M0-L003"]


def test_when_every_lesson_is_done_or_in_flight_no_request_file_is_written(options):
    for lesson_id in ALL_IDS[:-1]:
        write_lesson(options, lesson_id)
    plan = make_plan(options, History(in_flight=frozenset({ALL_IDS[-1]})))
    assert (plan.to_request, plan.shards) == ([], [])
    assert list(options.work_dir.glob("*.jsonl")) == []


def test_a_new_plan_replaces_the_request_files_of_the_previous_one(options):
    make_plan(replace(options, limits=ShardLimits(max_requests=2)))
    assert len(list(options.work_dir.glob("*.jsonl"))) == 3
    plan = make_plan(replace(options, lessons=("M0-L001",)))
    assert [path.name for path in options.work_dir.glob("*.jsonl")] == ["datagov_lessons_input.jsonl"]
    assert ids_in_files(plan) == ["M0-L001"]


# --- requests and estimates -------------------------------------------------------------------


def test_request_files_follow_the_shard_limits(options):
    plan = make_plan(replace(options, limits=ShardLimits(max_requests=4)))
    assert [shard.lesson_ids for shard in plan.shards] == [ALL_IDS[:4], ALL_IDS[4:]]


def test_requests_use_the_chosen_settings(options):
    settings = RequestSettings(model="gpt-4.1", temperature=0.2, max_completion_tokens=9_000)
    plan = make_plan(replace(options, settings=settings))
    body = json.loads(plan.shards[0].path.read_text(encoding="utf-8").splitlines()[0])["body"]
    assert (body["model"], body["temperature"], body["max_completion_tokens"]) == ("gpt-4.1", 0.2, 9_000)


def test_a_retry_budget_from_history_is_used_for_that_lesson_only(options):
    plan = make_plan(options, History(retry_budgets={"M0-L002": (32_000, "low")}))
    budgets = dict(zip(plan.shards[0].lesson_ids, plan.shards[0].budgets, strict=True))
    assert budgets["M0-L002"] == (32_000, "low")
    assert budgets["M0-L001"] == (models.default_budget(models.DEFAULT_MODEL), None)


def test_output_estimate_without_history_is_the_typical_lesson_size(options):
    plan = make_plan(options)
    typical = models.expected_output_tokens(models.DEFAULT_MODEL, None, models.default_budget(models.DEFAULT_MODEL))
    assert plan.output_tokens == typical * len(ALL_IDS)


def test_measured_output_tokens_replace_the_typical_estimate(options):
    history = History(measured_output_tokens={"M0-L001": 1_000, "M0-L002": 3_000})
    plan = make_plan(replace(options, force=True), history)
    # measured lessons count what they measured; the others count the measured mean
    assert plan.output_tokens == 1_000 + 3_000 + 4 * 2_000


def test_a_lesson_measured_before_is_estimated_at_its_own_size_not_the_mean(options):
    """The totals above are the same either way (the mean keeps the sum): each lesson's own
    estimate, one lesson a request file, tells them apart."""
    history = History(measured_output_tokens={"M0-L001": 1_000, "M0-L002": 3_000})
    plan = make_plan(replace(options, force=True, limits=ShardLimits(max_requests=1)), history)
    assert [(shard.lesson_ids, shard.output_tokens) for shard in plan.shards] == [
        (["M0-L001"], 1_000), (["M0-L002"], 3_000),
        *[([lesson_id], 2_000) for lesson_id in ALL_IDS[2:]],
    ]


def test_measured_output_tokens_change_the_estimated_cost(options):
    without = make_plan(options)
    with_history = make_plan(options, History(measured_output_tokens={"M9-L001": 12_000}))
    assert with_history.output_tokens == 12_000 * len(ALL_IDS)
    assert with_history.estimated_cost > without.estimated_cost


def test_output_estimate_never_exceeds_the_lesson_budget(options):
    settings = RequestSettings(max_completion_tokens=2_000)
    plan = make_plan(replace(options, settings=settings), History(measured_output_tokens={"M0-L001": 50_000}))
    assert plan.output_tokens == 2_000 * len(ALL_IDS)


def test_prompt_tokens_and_cost_add_up_over_the_shards(options):
    plan = make_plan(replace(options, limits=ShardLimits(max_requests=4)))
    assert plan.prompt_tokens == sum(shard.prompt_tokens for shard in plan.shards) > 0
    assert plan.estimated_cost == pytest.approx(
        models.batch_cost(models.DEFAULT_MODEL, plan.prompt_tokens, plan.output_tokens,
                          cache_write_tokens=plan.cache_write_tokens)
    )


LONG_RULES = "Keep to the curriculum entry. " * 800  # a system part long enough to be cached


def test_the_estimate_counts_the_first_prompt_of_each_input_file_as_a_cache_write_where_the_model_bills_writes(options):
    # gpt-6.1-terra (a GPT-6 model) bills cache writes at 1.25x its $0.50 Batch input price.
    options.template_path.write_text(TEMPLATE.replace("Rules", LONG_RULES + "Rules"), encoding="utf-8")
    plan = make_plan(replace(options, limits=ShardLimits(max_requests=4)))
    assert len(plan.shards) > 1
    first_prompts = sum(shard.first_prompt_tokens for shard in plan.shards)
    assert plan.cache_write_tokens == first_prompts > 0
    without_writes = models.batch_cost(models.DEFAULT_MODEL, plan.prompt_tokens, plan.output_tokens)
    assert plan.estimated_cost == pytest.approx(without_writes + first_prompts * 0.25 * 0.50 / 1_000_000)
    assert "written to the prompt cache" in format_plan(plan)


def test_a_prompt_too_short_to_be_cached_has_no_cache_writes(options):
    plan = make_plan(options)
    assert plan.shards and all(shard.first_prompt_tokens < models.PROMPT_CACHE_MIN_TOKENS for shard in plan.shards)
    assert plan.cache_write_tokens == 0
    assert "prompt cache" not in format_plan(plan).replace("prompt-cache writes billed", "")


def test_the_estimate_has_no_cache_writes_for_a_model_that_does_not_bill_them(options):
    plan = make_plan(replace(options, settings=RequestSettings(model="gpt-5.4")))
    assert plan.cache_write_tokens == 0
    assert plan.estimated_cost == pytest.approx(models.batch_cost("gpt-5.4", plan.prompt_tokens, plan.output_tokens))
    assert "prompt cache" not in format_plan(plan)


def test_plan_carries_curriculum_and_template_warnings(options):
    options.curriculum_path.write_text(CURRICULUM + "## L002: Seven [Z]\n", encoding="utf-8")
    options.template_path.write_text(TEMPLATE + "{mystery}\n", encoding="utf-8")
    warnings = make_plan(options).warnings
    assert any("[Z]" in warning for warning in warnings)
    assert any("{mystery}" in warning for warning in warnings)


# --- the plan text ----------------------------------------------------------------------------


def test_plan_text_names_the_curriculum_and_lessons_found(options):
    text = format_plan(make_plan(options))
    assert options.curriculum_path.name in text
    assert "Plan Course" in text
    assert "3 modules, 6 lessons" in text


def test_plan_text_names_selected_skipped_and_requested_lessons(options):
    write_lesson(options, "M0-L001")
    text = format_plan(make_plan(options, History(in_flight=frozenset({"M0-L002"}))))
    assert "Selected: 6 lessons" in text
    assert "already generated (skipped): 1" in text
    assert "in a batch not yet processed (skipped): 1" in text
    assert "to request: 4" in text


def test_plan_text_lists_every_input_file(options):
    plan = make_plan(replace(options, limits=ShardLimits(max_requests=4)))
    text = format_plan(plan)
    assert "Input files: 2" in text
    for shard in plan.shards:
        assert f"{shard.path.name}: {shard.request_count:,} requests" in text


def test_plan_text_names_the_model_its_kind_effort_and_budget(options):
    settings = RequestSettings(model="gpt-6.1-sol", reasoning_effort="high")
    text = format_plan(make_plan(replace(options, settings=settings)))
    assert "Model: gpt-6.1-sol (reasoning model, effort high), max_completion_tokens 16,000" in text


def test_plan_text_names_the_models_default_effort_and_its_batch_price(options):
    text = format_plan(make_plan(options))
    assert "Model: gpt-6.1-terra (reasoning model, effort medium (its default)), max_completion_tokens 16,000" in text
    assert (f"Batch price per 1M tokens: $0.50 input, $0.025 cached input, $2.50 output "
            f"(model table of {models.CATALOGUE_DATE})") in text


def test_plan_text_says_when_a_model_is_not_in_the_table(options):
    text = format_plan(make_plan(replace(options, settings=RequestSettings(model="gpt-7"))))
    assert (
        "Model: gpt-7 (not in the model table; a reasoning model by its name, effort the model's own (none sent))"
    ) in text


def test_plan_text_gives_estimated_tokens_and_cost(options):
    plan = make_plan(options)
    text = format_plan(plan)
    assert f"~{plan.prompt_tokens:,} input + ~{plan.output_tokens:,} output" in text
    assert f"Estimated cost: {models.format_cost(plan.estimated_cost)} (at Batch API prices)" in text


def test_plan_text_says_unknown_price_for_a_model_without_a_price(options):
    plan = make_plan(replace(options, settings=RequestSettings(model="my-own-model")))
    assert plan.estimated_cost is None
    text = format_plan(plan)
    assert "Estimated cost: unknown price" in text
    assert "the price of my-own-model is not known" in text
    assert "Batch price: unknown (my-own-model has no price in the model table" in text


def test_the_plan_counts_lessons_requested_again_with_a_larger_budget(options):
    plan = make_plan(options, History(retry_budgets={"M0-L002": (32_000, None)}))
    assert "1 truncated before: requested again with a larger budget or a lower effort" in format_plan(plan)


def test_the_plan_counts_each_lesson_requested_again_after_truncating(options):
    plan = make_plan(options, History(retry_budgets={"M0-L002": (32_000, None), "M1-L001": (48_000, "low")}))
    assert plan.retried == 2
    assert "2 truncated before: requested again with a larger budget or a lower effort" in format_plan(plan)


def test_a_plan_without_retries_does_not_mention_them(options):
    assert "truncated before" not in format_plan(make_plan(options))


# --- retries and the attempts cap -------------------------------------------------------------


def test_a_lesson_requested_again_after_truncation_is_estimated_at_its_whole_new_budget(options):
    history = History(retry_budgets={"M0-L002": (32_000, None)}, measured_output_tokens={"M0-L001": 5_000})
    plan = make_plan(replace(options, force=True), history)
    others = (len(ALL_IDS) - 1) * 5_000  # the measured mean stands for every other lesson
    assert plan.output_tokens == 32_000 + others


def test_lessons_tried_max_attempts_times_are_held_back_and_listed(options):
    plan = make_plan(replace(options, max_attempts=3), History(attempts={"M0-L002": 3, "M1-L001": 2}))
    assert plan.held_for_attention == ["M0-L002"]
    assert "M0-L002" not in plan.to_request and "M1-L001" in plan.to_request
    assert "need a person, tried 3 times already (held back): 1: M0-L002" in format_plan(plan)


def test_with_max_attempts_1_a_lesson_never_tried_is_requested_and_one_tried_once_is_held(options):
    """A lesson with no attempt recorded has run 0 times, not 1: even the smallest cap requests it."""
    plan = make_plan(replace(options, lessons=("M0-L001", "M0-L002"), max_attempts=1), History(attempts={"M0-L002": 1}))
    assert plan.to_request == ["M0-L001"] and plan.held_for_attention == ["M0-L002"]


def test_the_plan_names_the_attempts_cap_it_held_lessons_at(options):
    plan = make_plan(replace(options, max_attempts=2), History(attempts={"M0-L002": 2, "M1-L001": 1}))
    assert plan.max_attempts == 2 and plan.held_for_attention == ["M0-L002"]
    assert "need a person, tried 2 times already (held back): 1: M0-L002" in format_plan(plan)


def test_a_higher_max_attempts_requests_a_held_lesson_again(options):
    plan = make_plan(replace(options, max_attempts=4), History(attempts={"M0-L002": 3}))
    assert plan.held_for_attention == [] and "M0-L002" in plan.to_request


def test_force_requests_a_held_lesson_again(options):
    plan = make_plan(replace(options, lessons=("M0-L002",), force=True), History(attempts={"M0-L002": 3}))
    assert plan.to_request == ["M0-L002"] and plan.held_for_attention == []


def test_held_lessons_do_not_count_as_left_for_a_later_run(options):
    plan = make_plan(replace(options, limit=2), History(attempts={"M0-L001": 3}))
    text = format_plan(plan)
    assert plan.to_request == ["M0-L002", "M0-L003"]
    assert "left for a later run (--limit): 3" in text


# --- efforts by complexity --------------------------------------------------------------------

MIX = (("F", "low"), ("I", "medium"), ("A", "high"))


def test_the_plan_requests_each_lesson_at_its_tags_effort_and_records_it_per_lesson(options):
    plan = make_plan(replace(options, settings=RequestSettings(efforts_by_complexity=MIX)))
    efforts = dict(zip(plan.shards[0].lesson_ids, (effort for _budget, effort in plan.shards[0].budgets), strict=True))
    assert efforts == {"M0-L001": "low", "M0-L002": "low", "M0-L003": "medium", "M1-L001": "medium",
                       "M1-L002": "high", "M2-L001": "high"}
    assert plan.retried == 0


def test_the_plan_shows_the_mix_with_the_lessons_and_estimate_at_each_effort(options):
    plan = make_plan(replace(options, settings=RequestSettings(efforts_by_complexity=MIX)))
    text = format_plan(plan)
    assert "effort by complexity: [F] low, [I] medium, [A] high; any other lesson: medium (the model's default)" in text
    budget = models.default_budget(models.DEFAULT_MODEL)
    for effort, tag in (("low", "F"), ("medium", "I"), ("high", "A")):
        share = plan.efforts[effort]
        assert share.lessons == 2 and share.tags == {tag}
        assert share.output_tokens == 2 * models.expected_output_tokens(models.DEFAULT_MODEL, effort, budget)
        cost = models.batch_cost(models.DEFAULT_MODEL, share.prompt_tokens, share.output_tokens)
        assert f"    {effort}: 2 lessons ([{tag}]), ~{share.output_tokens:,} output tokens, " \
               f"estimated {models.format_cost(cost)}" in text


def test_the_shares_of_a_mix_add_up_to_the_plan_s_lessons_and_tokens(options):
    plan = make_plan(replace(options, settings=RequestSettings(efforts_by_complexity=MIX)))
    shares = plan.efforts.values()
    assert sum(share.lessons for share in shares) == len(plan.to_request) == len(ALL_IDS)
    assert sum(share.prompt_tokens for share in shares) == plan.prompt_tokens
    assert sum(share.output_tokens for share in shares) == plan.output_tokens


def test_the_estimate_of_a_mix_sums_the_expected_output_at_each_lessons_effort(options):
    single = make_plan(replace(options, settings=RequestSettings(reasoning_effort="medium")))
    mixed = make_plan(replace(options, settings=RequestSettings(efforts_by_complexity=MIX)))
    budget = models.default_budget(models.DEFAULT_MODEL)
    expected = sum(
        2 * models.expected_output_tokens(models.DEFAULT_MODEL, effort, budget) for effort in ("low", "medium", "high")
    )
    assert mixed.output_tokens == expected != single.output_tokens


def test_the_status_command_for_held_lessons_names_the_work_dir(options):
    plan = make_plan(options, History(attempts={"M0-L001": 3}, fails_unchanged=frozenset({"M0-L002"})))
    assert plan.held_for_attention == ["M0-L001"] and plan.held_unchanged == ["M0-L002"]
    lines = [line for line in format_plan(plan).splitlines() if "need a person" in line]
    assert len(lines) == 2
    status_here = f"check_batch_status.py --work-dir {options.work_dir}"
    assert all(status_here in line or "--work-dir work" in line for line in lines)


def test_a_plan_with_nothing_to_request_gives_no_token_estimate(options):
    (options.output_dir).mkdir()
    plan = make_plan(replace(options, lessons=("M0-L001",)), History(in_flight=frozenset({"M0-L001"})))
    assert plan.to_request == []
    text = format_plan(plan)
    assert "Estimated cost: $0.00 (nothing to request)" in text and "Estimated tokens" not in text


# --- lessons saved before elsewhere -----------------------------------------------------------


def test_paying_again_for_lessons_saved_elsewhere_is_estimated_at_exactly_their_own_requests(options):
    """The price of paying again counts the prompts and expected output of the lessons recorded as
    saved in another folder, each once, and no other lesson's."""
    measured = {"M0-L001": 7_000, "M0-L003": 3_000, "M1-L001": 11_000}
    history = History(saved={"M0-L001": "/old/lessons", "M0-L003": None}, measured_output_tokens=measured)
    plan = make_plan(options, history)
    alone = make_plan(replace(options, lessons=("M0-L001", "M0-L003"), work_dir=options.work_dir.parent / "alone"),
                      history)
    assert plan.to_request == ALL_IDS and plan.saved_before == {"M0-L001": "/old/lessons", "M0-L003": None}
    assert alone.output_tokens == 10_000
    assert plan.saved_before_cost == models.batch_cost(models.DEFAULT_MODEL, alone.prompt_tokens, alone.output_tokens)
