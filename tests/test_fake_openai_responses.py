"""The fake server's Responses API: ``POST /v1/responses`` directly (flex) and in batches.

Driven through the real ``openai`` client in strict mode (``client.responses.create`` validates
every answer against the SDK's ``Response`` type), and batch lines validated with
``Response.model_validate``. A Responses request is checked by its own rules, and answered with
the same lesson, faults and token counts as the chat request it amounts to.
"""

from __future__ import annotations

import openai
import pytest
from openai.types.responses import Response

from tests.test_fake_openai import (
    LONG_SYSTEM_PROMPT,
    MODEL,
    SYSTEM_PROMPT,
    TODAY,
    client_for,
    jsonl,
    poll_until_done,
    read_jsonl,
)

RESPONSES = "/v1/responses"
REFUSAL = "I'm very sorry, but I can't assist with that request."


def body(lesson_id: str = "M0-L001", *, model: str = MODEL, **changes) -> dict:
    user = f"Curriculum: Data\nLesson id: {lesson_id}\nLesson title: Lesson {lesson_id}"
    return {"model": model, "instructions": SYSTEM_PROMPT, "input": user, "max_output_tokens": 16_000, **changes}


def flex(lesson_id: str = "M0-L001", **changes) -> dict:
    return body(lesson_id, service_tier="flex", **changes)


def run_responses_batch(client: openai.OpenAI, bodies: dict[str, dict]):
    lines = [{"custom_id": custom_id, "method": "POST", "url": RESPONSES, "body": b} for custom_id, b in bodies.items()]
    upload = client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=RESPONSES, completion_window="24h")
    return poll_until_done(client, batch.id)


def bad_request(client: openai.OpenAI, **request) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**request)
    return caught.value.body


# ---- answers --------------------------------------------------------------------------


def test_a_response_holds_the_lesson_in_a_message_item_after_a_reasoning_item(fake_openai):
    answer = client_for(fake_openai).responses.create(**body())
    assert (answer.object, answer.status, answer.incomplete_details) == ("response", "completed", None)
    assert [item.type for item in answer.output] == ["reasoning", "message"]
    assert answer.output_text.startswith("# Lesson M0-L001\n")
    assert "## Worked example" in answer.output_text


def test_its_usage_has_the_responses_fields(fake_openai):
    usage = client_for(fake_openai).responses.create(**body()).usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens
    assert usage.input_tokens_details.cache_write_tokens == 0


@pytest.mark.parametrize("requested, served", [("flex", "flex"), (None, "default")])
def test_the_answer_says_the_tier_that_served_it(fake_openai, requested, served):
    request = body() if requested is None else body(service_tier=requested)
    assert client_for(fake_openai).responses.create(**request).service_tier == served


def test_a_direct_request_gets_the_same_lesson_as_the_batch_line_with_the_same_body(fake_openai):
    client = client_for(fake_openai)
    batch = run_responses_batch(client, {"M0-L001": body()})
    assert batch.endpoint == RESPONSES and batch.request_counts.completed == 1
    (line,) = read_jsonl(client, batch.output_file_id)
    in_batch = Response.model_validate(line["response"]["body"]).output_text
    assert in_batch == client.responses.create(**flex()).output_text


def test_every_batch_line_is_a_response_object_the_sdk_accepts(fake_openai):
    client = client_for(fake_openai)
    batch = run_responses_batch(client, {f"M0-L00{n}": body(f"M0-L00{n}") for n in range(1, 4)})
    lines = read_jsonl(client, batch.output_file_id)
    assert len(lines) == 3
    for line in lines:
        answer = Response.model_validate(line["response"]["body"])
        assert answer.status == "completed" and answer.output_text.startswith(f"# Lesson {line['custom_id']}\n")


def test_a_batch_reports_the_shared_instructions_as_cached_after_the_first_request(fake_openai):
    client = client_for(fake_openai)
    bodies = {lesson: body(lesson, instructions=LONG_SYSTEM_PROMPT) for lesson in ("M0-L001", "M0-L002")}
    batch = run_responses_batch(client, bodies)
    cached = sorted(
        line["response"]["body"]["usage"]["input_tokens_details"]["cached_tokens"]
        for line in read_jsonl(client, batch.output_file_id)
    )
    assert cached[0] == 0 and cached[1] > 0


def test_truncate_leaves_an_incomplete_response_with_only_its_reasoning(fake_openai):
    fake_openai.set_scenario({"faults": {"truncate": ["M0-L001"]}})
    answer = client_for(fake_openai).responses.create(**body(max_output_tokens=700))
    assert (answer.status, answer.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    assert [item.type for item in answer.output] == ["reasoning"] and answer.output_text == ""
    assert answer.usage.output_tokens == answer.usage.output_tokens_details.reasoning_tokens == 700


def test_a_lesson_cut_by_the_budget_is_an_incomplete_message(fake_openai):
    answer = client_for(fake_openai).responses.create(**body(model="gpt-4.1-mini", max_output_tokens=100))
    assert (answer.status, answer.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    (message,) = answer.output
    assert message.status == "incomplete" and 0 < len(answer.output_text) <= 400


def test_refusal_answers_with_a_refusal_part(fake_openai):
    fake_openai.set_scenario({"faults": {"refusal": ["M0-L001"]}})
    (message,) = [item for item in client_for(fake_openai).responses.create(**body()).output if item.type == "message"]
    assert [(part.type, part.refusal) for part in message.content] == [("refusal", REFUSAL)]


def test_a_fault_given_as_a_count_is_shared_by_the_responses_batch_and_direct_paths(fake_openai):
    fake_openai.set_scenario({"faults": {"fail_500": {"M0-L001": 1}}})
    client = client_for(fake_openai)
    batch = run_responses_batch(client, {"M0-L001": body()})
    assert batch.request_counts.failed == 1
    assert client.responses.create(**flex()).status == "completed"


# ---- refusals the API makes -----------------------------------------------------------


@pytest.mark.parametrize("chat_name, value, moved_to", [
    ("messages", [{"role": "user", "content": "x"}], "input"),
    ("max_completion_tokens", 100, "max_output_tokens"),
    ("reasoning_effort", "low", "reasoning.effort"),
])  # fmt: skip
def test_a_chat_completions_parameter_is_refused_with_where_it_moved(fake_openai, chat_name, value, moved_to):
    error = bad_request(client_for(fake_openai), **body(), extra_body={chat_name: value})
    assert (error["code"], error["param"]) == ("unsupported_parameter", None)
    assert error["message"] == (
        f"Unsupported parameter: '{chat_name}'. In the Responses API, this parameter has moved to '{moved_to}'. "
        "Try again with the new parameter."
    )


def test_max_output_tokens_below_16_is_refused(fake_openai):
    error = bad_request(client_for(fake_openai), **body(max_output_tokens=10))
    assert (error["param"], error["code"]) == ("max_output_tokens", "integer_below_min_value")
    assert error["message"] == (
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead."
    )


def test_max_output_tokens_above_the_models_maximum_is_refused(fake_openai):
    error = bad_request(client_for(fake_openai), **body(max_output_tokens=200_000))
    assert error["param"] == "max_output_tokens" and "at most 128000" in error["message"]


def test_an_effort_the_model_does_not_take_is_refused_naming_reasoning_effort(fake_openai):
    error = bad_request(client_for(fake_openai), **body(model="gpt-6.1-sol", reasoning={"effort": "none"}))
    assert (error["param"], error["code"]) == ("reasoning.effort", "unsupported_value")
    assert error["message"].startswith("Unsupported value: 'none' is not supported with the 'gpt-6.1-sol' model.")


def test_an_effort_on_a_model_that_does_not_reason_is_refused(fake_openai):
    fake_openai.set_scenario({"today": TODAY})
    error = bad_request(client_for(fake_openai), **body(model="gpt-4.1-mini", reasoning={"effort": "low"}))
    assert (error["param"], error["code"]) == ("reasoning.effort", "unsupported_parameter")


def test_temperature_with_a_reasoning_effort_is_refused(fake_openai):
    error = bad_request(client_for(fake_openai), **body(reasoning={"effort": "high"}, temperature=0.2))
    assert error["param"] == "temperature"


def test_flex_on_a_model_without_flex_is_a_400(fake_openai):
    fake_openai.set_scenario({"today": TODAY})
    error = bad_request(client_for(fake_openai), **flex(model="gpt-4.1-mini"))
    assert (error["param"], error["code"]) == ("service_tier", "unsupported_value")


def test_a_model_that_is_gone_is_404_model_not_found(fake_openai):
    fake_openai.set_scenario({"today": "2027-01-14"})
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(fake_openai).responses.create(**body(model="gpt-4o"))
    assert caught.value.code == "model_not_found"


def test_a_responses_only_model_is_served_on_responses_and_404_on_chat_completions(fake_openai):
    client = client_for(fake_openai)
    assert client.responses.create(**body(model="gpt-5.4-pro")).status == "completed"
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5.4-pro", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {
        "message": "This model is only supported in v1/responses and not in v1/chat/completions.",
        "type": "invalid_request_error", "param": "model", "code": None,
    }


def test_a_responses_line_that_breaks_a_rule_is_an_error_line_of_its_batch(fake_openai):
    client = client_for(fake_openai)
    batch = run_responses_batch(client, {"M0-L001": body(max_output_tokens=10), "M0-L002": body("M0-L002")})
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    (error_line,) = read_jsonl(client, batch.error_file_id)
    assert error_line["custom_id"] == "M0-L001" and error_line["response"]["status_code"] == 400
    assert error_line["response"]["body"]["error"]["code"] == "integer_below_min_value"


def test_a_chat_line_in_a_responses_batch_fails_validation_as_a_url_mismatch(fake_openai):
    client = client_for(fake_openai)
    line = {"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions", "body": body()}
    upload = client.files.create(file=("input.jsonl", jsonl([line])), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=RESPONSES, completion_window="24h")
    batch = poll_until_done(client, batch.id)
    assert batch.status == "failed" and batch.errors.data[0].code == "url_mismatch"


# ---- flex capacity and the log ---------------------------------------------------------


def test_capacity_429s_refuse_flex_responses_requests_too(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 1}})
    client = client_for(fake_openai)
    with pytest.raises(openai.RateLimitError):
        client.responses.create(**flex())
    client.responses.create(**flex())
    assert [entry.status for entry in fake_openai.responses_requests()] == [429, 200]


def test_flex_lesson_faults_hit_responses_requests_too(fake_openai):
    fake_openai.set_scenario({"flex": {"unreadable": ["M0-L001"], "drop_connection": ["M0-L002"]}})
    client = client_for(fake_openai)
    raw = client.responses.with_raw_response.create(**flex())
    assert "output" not in raw.http_response.json() and raw.http_response.json()["usage"]["output_tokens"] > 0
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(**flex("M0-L002"))
    assert [entry.status for entry in fake_openai.responses_requests()] == [200, 0]


def test_each_responses_request_is_logged_with_its_body_and_lesson(fake_openai):
    request = flex("M1-L007")
    client_for(fake_openai).responses.create(**request)
    [entry] = fake_openai.responses_requests("M1-L007")
    assert (entry.method, entry.path, entry.status, entry.lesson) == ("POST", RESPONSES, 200, "M1-L007")
    assert entry.body == request and fake_openai.chat_requests() == []
