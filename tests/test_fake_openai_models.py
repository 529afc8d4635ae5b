"""The fake server's models: its own table, the models routes, and the per-request rules.

Driven through the real ``openai`` client in strict mode, like ``test_fake_openai.py`` (whose
helpers these tests share). Every test that depends on a model's lifecycle pins the server's
"today", so none of them changes meaning when the calendar passes a shutdown date.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import openai
import pytest
from openai.types.shared import ChatModel, ReasoningEffort, ResponsesModel

from tests.fake_openai import catalog
from tests.test_fake_openai import (
    LONG_SYSTEM_PROMPT,
    TODAY,
    by_custom_id,
    client_for,
    content_of,
    read_jsonl,
    request_line,
    run_batch,
)


def pinned(**scenario) -> dict:
    return {"today": TODAY, **scenario}


def run_one(server, body_changes: dict, *, model: str, scenario: dict | None = None) -> dict:
    """Run a batch of one good line and one line with ``body_changes``; return the second line's result."""
    server.set_scenario(pinned(**(scenario or {})))
    client = client_for(server)
    lines = [request_line("good", model=model), request_line("probe", model=model, **body_changes)]
    batch = run_batch(client, lines)
    assert batch.status == "completed"
    files = [file_id for file_id in (batch.output_file_id, batch.error_file_id) if file_id]
    results = by_custom_id([line for file_id in files for line in read_jsonl(client, file_id)])
    assert results["good"]["response"]["status_code"] == 200
    return results["probe"]


def usage_of(line: dict) -> dict:
    return line["response"]["body"]["usage"]


def reasoning_of(line: dict) -> int:
    return usage_of(line)["completion_tokens_details"]["reasoning_tokens"]


def finish_reason(line: dict) -> str:
    return line["response"]["body"]["choices"][0]["finish_reason"]


# ---- the table itself, against the installed openai package ----------------------------

REQUIRED = [
    "gpt-6.1-terra", "gpt-6.1-sol", "gpt-6-luna", "gpt-6-sol", "gpt-6-astra", "gpt-5.6-luna", "gpt-5.6-terra",
    "gpt-5.6-sol", "gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.2", "gpt-5.1", "gpt-5", "gpt-5-mini",
    "gpt-5-nano", "o3", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o3-mini", "o4-mini",
]  # fmt: skip


def test_the_table_covers_every_model_the_project_needs():
    assert set(REQUIRED) <= set(catalog.MODELS)


def test_every_model_and_snapshot_in_the_table_is_a_chat_model_of_the_openai_package():
    known = set(ChatModel.__args__)
    responses_only = {spec.id for spec in catalog.MODELS.values() if spec.responses_only}
    assert (set(catalog.MODELS) | set(catalog.SNAPSHOTS)) - responses_only <= known


def test_a_responses_only_model_is_no_chat_model_of_the_openai_package_and_is_documented():
    responses_only = {spec.id for spec in catalog.MODELS.values() if spec.responses_only}
    listed = set(ChatModel.__args__) | {
        value for part in ResponsesModel.__args__ if hasattr(part, "__args__") for value in part.__args__
    }
    assert responses_only and not responses_only & set(ChatModel.__args__)
    assert responses_only <= listed | set(catalog.NOT_IN_THE_PACKAGE)
    assert not set(catalog.NOT_IN_THE_PACKAGE) & listed  # an exception only for what the package lacks


def test_every_effort_in_the_table_is_one_the_openai_package_knows():
    known = set(ReasoningEffort.__args__[0].__args__)
    for spec in catalog.MODELS.values():
        assert set(spec.efforts) <= known and (spec.default_effort is None or spec.default_effort in spec.efforts)


def announced_shutdowns() -> dict[str, str]:
    """``{model id: date}`` from the "Deprecated values" note of the installed package's chat_model.py."""
    source = (Path(openai.__file__).parent / "types" / "shared" / "chat_model.py").read_text()
    note = source.split('"""Deprecated values:', 1)[1]
    dates = {}
    for entry in re.split(r"\n- ", note):
        match = re.search(r"shutdown\s+date:\s+(\d{4}-\d{2}-\d{2})", entry)
        if match:
            for model_id in re.findall(r'"([^"]+)"', entry.split(":", 1)[0]):
                dates[model_id] = match.group(1)
    return dates


def test_shutdown_dates_match_the_ones_the_openai_package_announces():
    announced = announced_shutdowns()
    for model_id in [*catalog.MODELS, *catalog.SNAPSHOTS]:
        assert catalog.spec_for(model_id).shutdown_date == announced.get(model_id), model_id


@pytest.mark.parametrize(
    "model, efforts, default, max_output, flex",
    [
        ("gpt-6.1-terra", ("none", "low", "medium", "high", "xhigh", "max"), "medium", 128_000, True),
        ("gpt-6-luna", ("none", "low", "medium", "high", "xhigh", "max"), "medium", 128_000, True),
        ("gpt-6.1-sol", ("low", "medium", "high", "xhigh", "max"), "medium", 128_000, True),
        ("gpt-5.1", ("none", "low", "medium", "high"), "none", 128_000, True),
        ("gpt-5-mini", ("minimal", "low", "medium", "high"), "medium", 128_000, True),
        ("gpt-4o-mini", (), None, 16_384, False),
    ],
)
def test_the_table_holds_the_checked_facts(model, efforts, default, max_output, flex):
    spec = catalog.MODELS[model]
    facts = (spec.efforts, spec.default_effort, spec.max_output_tokens, spec.flex)
    assert facts == (efforts, default, max_output, flex)


# ---- GET /v1/models -------------------------------------------------------------------


def test_the_model_list_has_each_served_model_with_its_shutdown_date(fake_openai):
    fake_openai.set_scenario(pinned())
    models = {model.id: model for model in client_for(fake_openai).models.list()}
    assert models["gpt-6.1-terra"].shutdown_date is None
    assert models["gpt-5-mini"].shutdown_date == "2026-12-11"
    assert models["gpt-5-mini-2025-08-07"].shutdown_date == "2026-12-11"
    assert {(m.object, m.owned_by) for m in models.values()} == {("model", "system")}


def test_the_model_list_leaves_out_models_already_gone(fake_openai):
    fake_openai.set_scenario(pinned())
    listed = {model.id for model in client_for(fake_openai).models.list()}
    assert not {"o3-mini", "o4-mini", "gpt-4.1-nano"} & listed


def test_a_model_is_retrieved_with_its_shutdown_date(fake_openai):
    fake_openai.set_scenario(pinned())
    model = client_for(fake_openai).models.retrieve("gpt-4o")
    assert (model.id, model.object, model.shutdown_date) == ("gpt-4o", "model", "2027-01-14")
    assert model.created == int(datetime.datetime(2024, 5, 13, tzinfo=datetime.timezone.utc).timestamp())


def test_a_model_is_gone_from_its_shutdown_date_on(fake_openai):
    client = client_for(fake_openai)
    fake_openai.set_scenario({"today": "2026-12-10"})
    assert client.models.retrieve("gpt-5-mini").shutdown_date == "2026-12-11"
    fake_openai.set_scenario({"today": "2026-12-11"})
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-5-mini")
    assert caught.value.code == "model_not_found"
    assert caught.value.body["message"] == "The model `gpt-5-mini` does not exist or you do not have access to it."


def test_an_unknown_model_is_404_model_not_found(fake_openai):
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(fake_openai).models.retrieve("gpt-9-imaginary")
    assert (caught.value.status_code, caught.value.code) == (404, "model_not_found")


def test_without_a_today_the_server_lives_in_the_real_date(fake_openai):
    before = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    today = fake_openai.today
    after = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert today in (before, after)


def test_models_can_change_a_shutdown_date(fake_openai):
    fake_openai.set_scenario(pinned(models={"gpt-6.1-terra": {"shutdown_date": "2026-12-03"}}))
    assert client_for(fake_openai).models.retrieve("gpt-6.1-terra").shutdown_date == "2026-12-03"


def test_models_can_make_a_model_unknown(fake_openai):
    fake_openai.set_scenario(pinned(models={"gpt-6.1-terra": None}))
    client = client_for(fake_openai)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-6.1-terra")
    assert "gpt-6.1-terra" not in {model.id for model in client.models.list()}


def test_models_can_add_a_model_that_follows_another_ones_rules(fake_openai):
    probe = run_one(
        fake_openai, {"reasoning_effort": "minimal"}, model="gpt-7-nova",
        scenario={"models": {"gpt-7-nova": {"like": "gpt-5.1", "shutdown_date": "2030-01-01"}}},
    )  # fmt: skip
    assert probe["response"]["status_code"] == 400
    assert "with the 'gpt-7-nova' model" in probe["response"]["body"]["error"]["message"]
    assert client_for(fake_openai).models.retrieve("gpt-7-nova").shutdown_date == "2030-01-01"


# ---- per-request rules on batch lines (the line fails, the batch completes) -------------------


@pytest.mark.parametrize(
    "model, changes, status, param, code, message",
    [
        (
            "gpt-5.1", {"reasoning_effort": "minimal"}, 400, "reasoning_effort", "unsupported_value",
            "Unsupported value: 'minimal' is not supported with the 'gpt-5.1' model. "
            "Supported values are: 'none', 'low', 'medium', and 'high'.",
        ),
        (
            "gpt-6.1-terra", {"max_tokens": 4000}, 400, "max_tokens", "unsupported_parameter",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        ),
        (
            "gpt-5-mini", {"temperature": 0.2}, 400, "temperature", "unsupported_value",
            "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
        ),
        (
            "gpt-6.1-terra", {"temperature": 0.2}, 400, "temperature", "unsupported_value",
            "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
        ),
        (
            "gpt-6.1-terra", {"temperature": 0.2, "reasoning_effort": "low"}, 400, "temperature", "unsupported_value",
            "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
        ),
        (
            "gpt-6-luna", {"max_completion_tokens": 200_000}, 400, "max_completion_tokens", None,
            "max_completion_tokens is too large: 200000. This model supports at most 128000 completion tokens, "
            "whereas you provided 200000.",
        ),
        (
            "gpt-4o", {"max_tokens": 20_000}, 400, "max_tokens", None,
            "max_tokens is too large: 20000. This model supports at most 16384 completion tokens, "
            "whereas you provided 20000.",
        ),
        (
            "gpt-4o", {"reasoning_effort": "low"}, 400, "reasoning_effort", "unsupported_parameter",
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
        ),
    ],
    ids=["effort", "max_tokens", "temperature-gpt-5", "temperature-default-effort", "temperature-effort-low",
         "budget", "budget-max_tokens", "effort-on-non-reasoning"],
)  # fmt: skip
def test_a_line_the_model_rejects_gets_the_apis_400_in_the_error_file(
    fake_openai, model, changes, status, param, code, message
):
    probe = run_one(fake_openai, changes, model=model)
    assert probe["response"]["status_code"] == status
    error = probe["response"]["body"]["error"]
    assert (error["type"], error["param"], error["code"], error["message"]) == (
        "invalid_request_error", param, code, message,
    )  # fmt: skip


@pytest.mark.parametrize(
    "model, changes",
    [
        ("gpt-6.1-terra", {"temperature": 0.2, "reasoning_effort": "none"}),
        ("gpt-5.1", {"temperature": 0.2}),  # its default effort is none
        ("gpt-5-mini", {"temperature": 1}),
        ("gpt-4o", {"temperature": 0.2, "max_tokens": 16_384}),
        ("gpt-6.1-terra", {"reasoning_effort": "max", "max_completion_tokens": 128_000}),
        ("gpt-5-mini", {"reasoning_effort": "minimal"}),
    ],
)
def test_a_line_the_model_accepts_is_answered(fake_openai, model, changes):
    assert run_one(fake_openai, changes, model=model)["response"]["status_code"] == 200


def test_a_line_for_a_model_that_is_gone_gets_404_model_not_found(fake_openai):
    fake_openai.set_scenario({"today": "2026-12-11"})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a", model="gpt-5-mini")])
    assert (batch.status, batch.request_counts.failed) == ("completed", 1)
    [line] = read_jsonl(client, batch.error_file_id)
    assert line["response"]["status_code"] == 404
    assert line["response"]["body"]["error"]["code"] == "model_not_found"


def test_a_dated_snapshot_follows_its_familys_rules(fake_openai):
    probe = run_one(fake_openai, {"reasoning_effort": "none"}, model="gpt-5-mini-2025-08-07")
    message = probe["response"]["body"]["error"]["message"]
    assert message.startswith("Unsupported value: 'none' is not supported with the 'gpt-5-mini-2025-08-07' model.")


# ---- reasoning tokens -----------------------------------------------------------------


EFFORT_RANGES = {"minimal": (24, 48), "low": (160, 320), "medium": (480, 960), "high": (1200, 2400)}


@pytest.mark.parametrize("effort", ["minimal", "low", "medium", "high"])
def test_reasoning_tokens_grow_with_the_effort(fake_openai, effort):
    low, high = EFFORT_RANGES[effort]
    assert low <= reasoning_of(run_one(fake_openai, {"reasoning_effort": effort}, model="gpt-5-mini")) < high


def test_effort_none_spends_no_reasoning_tokens(fake_openai):
    assert reasoning_of(run_one(fake_openai, {"reasoning_effort": "none"}, model="gpt-6.1-terra")) == 0


@pytest.mark.parametrize("model, default", [("gpt-6.1-terra", "medium"), ("gpt-5.1", None)])
def test_without_an_effort_the_model_reasons_at_its_default(fake_openai, model, default):
    reasoning = reasoning_of(run_one(fake_openai, {}, model=model))
    if default is None:
        assert reasoning == 0
    else:
        low, high = EFFORT_RANGES[default]
        assert low <= reasoning < high


def test_a_budget_spent_on_reasoning_leaves_empty_content_and_finish_reason_length(fake_openai):
    probe = run_one(fake_openai, {"reasoning_effort": "high", "max_completion_tokens": 1000}, model="gpt-6.1-terra")
    assert (content_of(probe), finish_reason(probe)) == ("", "length")
    assert usage_of(probe)["completion_tokens"] == reasoning_of(probe) == 1000


def test_a_lesson_longer_than_the_budget_left_is_cut_with_finish_reason_length(fake_openai):
    probe = run_one(fake_openai, {"reasoning_effort": "none", "max_completion_tokens": 100}, model="gpt-6.1-terra")
    assert finish_reason(probe) == "length"
    assert usage_of(probe)["completion_tokens"] == 100
    assert 0 < len(content_of(probe)) <= 400


# ---- the models of December (issue 22) -------------------------------------------------------


def test_gpt_6_2_sol_and_astra_are_served_and_refuse_effort_none(fake_openai):
    for model in ("gpt-6.2-sol", "gpt-6.2-astra"):
        assert catalog.MODELS[model].efforts == ("low", "medium", "high", "xhigh", "max")
        probe = run_one(fake_openai, {"reasoning_effort": "none"}, model=model)
        assert probe["response"]["status_code"] == 400
        assert probe["response"]["body"]["error"]["param"] == "reasoning_effort"


def test_a_snapshot_keeps_its_own_shutdown_date_not_its_familys(fake_openai):
    client = client_for(fake_openai)
    fake_openai.set_scenario({"today": "2026-10-22"})
    assert client.models.retrieve("gpt-4o-2024-05-13").shutdown_date == "2026-10-23"
    fake_openai.set_scenario({"today": "2026-10-23"})
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o-2024-05-13")
    assert client.models.retrieve("gpt-4o").shutdown_date == "2027-01-14"


def test_a_model_that_bills_cache_writes_reports_the_first_prompt_written_and_the_later_ones_read(fake_openai):
    fake_openai.set_scenario(pinned())
    client = client_for(fake_openai)
    lines = [request_line(key, model="gpt-6.1-terra", system=LONG_SYSTEM_PROMPT) for key in ("a", "b")]
    batch = run_batch(client, lines)
    results = by_custom_id(read_jsonl(client, batch.output_file_id))
    first, second = (usage_of(results[key])["prompt_tokens_details"] for key in ("a", "b"))
    assert first["cache_write_tokens"] > 0 and first["cached_tokens"] == 0
    assert second["cache_write_tokens"] == 0 and second["cached_tokens"] == first["cache_write_tokens"]


def test_a_model_before_gpt_5_6_reports_no_cache_writes(fake_openai):
    probe = run_one(fake_openai, {}, model="gpt-5.4")
    assert "cache_write_tokens" not in usage_of(probe)["prompt_tokens_details"]
