"""The fake server's ``POST /v1/chat/completions``: direct requests, with flex behaviour.

Driven through the real ``openai`` client in strict mode. A chat request is checked with the
same rules as a batch line, answered with the same lesson as the batch line with the same
body, and hit by the same lesson faults (keyed by the lesson id in its user message).
"""

from __future__ import annotations

import time

import openai
import pytest

from tests.test_fake_openai import MODEL, SYSTEM_PROMPT, TODAY, client_for, content_of, read_jsonl, run_batch

REFUSAL = "I'm very sorry, but I can't assist with that request."


def chat_body(lesson_id: str = "M0-L001", *, model: str = MODEL, **changes) -> dict:
    user = f"Curriculum: Data\nLesson id: {lesson_id}\nLesson title: Lesson {lesson_id}\nPrerequisites: M0-L000 (Intro)"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return {"model": model, "messages": messages, **changes}


def flex(lesson_id: str = "M0-L001", **changes) -> dict:
    return chat_body(lesson_id, service_tier="flex", **changes)


def statuses(server) -> list[int]:
    return [entry.status for entry in server.chat_requests()]


# ---- answers --------------------------------------------------------------------------


def test_a_flex_request_gets_the_same_lesson_as_the_batch_line_with_the_same_body(fake_openai):
    client = client_for(fake_openai)
    body = chat_body()
    batch = run_batch(client, [{"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions", "body": body}])
    answer = client.chat.completions.create(**body, service_tier="flex")
    assert answer.choices[0].message.content == content_of(read_jsonl(client, batch.output_file_id)[0])
    assert answer.choices[0].message.content.startswith("# Lesson M0-L001\n")


@pytest.mark.parametrize("requested, served", [("flex", "flex"), (None, "default"), ("auto", "default"),
                                               ("fast", "priority")])  # fmt: skip
def test_the_answer_says_the_tier_that_served_it(fake_openai, requested, served):
    body = chat_body() if requested is None else chat_body(service_tier=requested)
    assert client_for(fake_openai).chat.completions.create(**body).service_tier == served


def test_served_tier_answers_flex_requests_at_another_tier(fake_openai):
    fake_openai.set_scenario({"flex": {"served_tier": "default"}})
    assert client_for(fake_openai).chat.completions.create(**flex()).service_tier == "default"


def test_latency_ms_delays_every_flex_answer(fake_openai):
    fake_openai.set_scenario({"flex": {"latency_ms": 200}})
    started = time.monotonic()
    client_for(fake_openai).chat.completions.create(**flex())
    assert time.monotonic() - started >= 0.2


# ---- refusals the API makes -----------------------------------------------------------


def test_flex_on_a_model_without_flex_is_a_400(fake_openai):
    fake_openai.set_scenario({"today": TODAY})
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(fake_openai).chat.completions.create(**flex(model="gpt-4.1-mini"))
    assert (caught.value.param, caught.value.code) == ("service_tier", "unsupported_value")
    assert caught.value.body["message"] == "Unsupported value: 'service_tier' does not support 'flex' with this model."


def test_the_same_body_without_flex_is_served_at_standard(fake_openai):
    fake_openai.set_scenario({"today": TODAY})
    answer = client_for(fake_openai).chat.completions.create(**chat_body(model="gpt-4.1-mini"))
    assert answer.service_tier == "default"


def test_a_chat_request_is_checked_like_a_batch_line(fake_openai):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(fake_openai).chat.completions.create(**flex(model="gpt-6.1-terra", reasoning_effort="minimal"))
    assert caught.value.param == "reasoning_effort"
    assert caught.value.body["message"].startswith("Unsupported value: 'minimal' is not supported with the")


def test_a_chat_request_for_a_model_that_is_gone_is_404_model_not_found(fake_openai):
    fake_openai.set_scenario({"today": "2027-01-14"})
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(fake_openai).chat.completions.create(**chat_body(model="gpt-4o"))
    assert caught.value.code == "model_not_found"


# ---- capacity 429s --------------------------------------------------------------------


def test_capacity_429_refuses_the_first_n_flex_requests(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 2}})
    client = client_for(fake_openai)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**flex())
        assert caught.value.status_code == 429
    client.chat.completions.create(**flex())
    assert statuses(fake_openai) == [429, 429, 200]


def test_capacity_429_every_and_burst_repeat_a_pattern(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": {"every": 2, "burst": 1}}})
    client = client_for(fake_openai)
    for _ in range(6):
        try:
            client.chat.completions.create(**flex())
        except openai.RateLimitError:
            pass
    assert statuses(fake_openai) == [200, 200, 429, 200, 200, 429]


def test_capacity_429s_carry_retry_after(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 1, "retry_after_s": 2}})
    with pytest.raises(openai.RateLimitError) as caught:
        client_for(fake_openai).chat.completions.create(**flex())
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "2000")
    assert caught.value.body["message"].startswith("Resource Unavailable")


def test_capacity_429s_only_refuse_flex_requests(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 5}})
    client_for(fake_openai).chat.completions.create(**chat_body())
    assert statuses(fake_openai) == [200]


def test_the_client_retries_a_capacity_429(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 1}})
    client_for(fake_openai, max_retries=2).chat.completions.create(**flex())
    assert [(entry.status, entry.retry_count) for entry in fake_openai.chat_requests()] == [(429, 0), (200, 1)]


# ---- lesson faults, found by the lesson id in the user message ------------------------------


def test_a_lesson_fault_hits_the_chat_request_for_that_lesson(fake_openai):
    fake_openai.set_scenario({"faults": {"fail_400": ["M0-L002"]}})
    client = client_for(fake_openai)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**flex("M0-L002"))
    client.chat.completions.create(**flex("M0-L001"))
    logged = [(entry.lesson, entry.status) for entry in fake_openai.chat_requests()]
    assert logged == [("M0-L002", 400), ("M0-L001", 200)]


def test_truncate_on_a_chat_request_spends_the_budget_on_reasoning(fake_openai):
    fake_openai.set_scenario({"faults": {"truncate": ["M0-L001"]}})
    answer = client_for(fake_openai).chat.completions.create(**flex(max_completion_tokens=700))
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == ("", "length")
    assert answer.usage.completion_tokens_details.reasoning_tokens == 700


def test_refusal_answers_with_null_content_and_the_refusal_text(fake_openai):
    fake_openai.set_scenario({"faults": {"refusal": ["M0-L001"]}})
    message = client_for(fake_openai).chat.completions.create(**flex()).choices[0].message
    assert (message.content, message.refusal) == (None, REFUSAL)


def test_wrong_tier_answers_a_flex_request_at_the_default_tier(fake_openai):
    fake_openai.set_scenario({"faults": {"wrong_tier": ["M0-L001"]}})
    assert client_for(fake_openai).chat.completions.create(**flex()).service_tier == "default"


def test_a_fault_given_as_a_count_is_shared_by_the_batch_and_chat_paths(fake_openai):
    fake_openai.set_scenario({"faults": {"fail_500": {"M0-L001": 1}}})
    client = client_for(fake_openai)
    body = chat_body()
    batch = run_batch(client, [{"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions", "body": body}])
    assert batch.request_counts.failed == 1
    assert client.chat.completions.create(**body, service_tier="flex").choices[0].finish_reason == "stop"


def test_without_a_lesson_id_line_the_first_lesson_like_id_is_used(fake_openai):
    body = flex()
    body["messages"][1]["content"] = "Please write lesson M3-L014, after M3-L013."
    client_for(fake_openai).chat.completions.create(**body)
    assert [entry.lesson for entry in fake_openai.chat_requests()] == ["M3-L014"]


def test_unreadable_answers_a_flex_request_200_with_its_usage_and_no_choices(fake_openai):
    fake_openai.set_scenario({"flex": {"unreadable": {"M0-L001": 1}}})
    client = client_for(fake_openai)
    raw = client.chat.completions.with_raw_response.create(**flex())
    body = raw.http_response.json()
    assert raw.http_response.status_code == 200
    assert "choices" not in body and body["usage"]["completion_tokens"] > 0
    assert client.chat.completions.create(**flex()).choices[0].finish_reason == "stop"  # only the first time
    assert statuses(fake_openai) == [200, 200]


def test_drop_connection_closes_a_flex_request_without_an_answer(fake_openai):
    fake_openai.set_scenario({"flex": {"drop_connection": {"M0-L001": 1}}})
    client = client_for(fake_openai)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**flex())
    client.chat.completions.create(**chat_body(service_tier="flex"))
    assert statuses(fake_openai) == [0, 200]  # 0: logged with no answer


def test_flex_lesson_faults_leave_requests_without_flex_alone(fake_openai):
    fake_openai.set_scenario({"flex": {"unreadable": ["M0-L001"], "drop_connection": ["M0-L002"]}})
    client = client_for(fake_openai)
    assert client.chat.completions.create(**chat_body("M0-L001")).choices
    assert client.chat.completions.create(**chat_body("M0-L002")).choices


# ---- the request log ------------------------------------------------------------------


def test_each_chat_request_is_logged_with_its_body_and_lesson(fake_openai):
    body = flex("M1-L007")
    client_for(fake_openai).chat.completions.create(**body)
    [entry] = fake_openai.chat_requests("M1-L007")
    assert (entry.method, entry.path, entry.status, entry.lesson) == ("POST", "/v1/chat/completions", 200, "M1-L007")
    assert entry.body == body


def test_chat_requests_counts_the_paid_requests_of_one_lesson(fake_openai):
    fake_openai.set_scenario({"flex": {"capacity_429": 1}})
    client = client_for(fake_openai, max_retries=2)
    for lesson_id in ("M0-L001", "M0-L002", "M0-L001"):
        client.chat.completions.create(**flex(lesson_id))
    paid = [entry for entry in fake_openai.chat_requests("M0-L001") if entry.status == 200]
    assert len(paid) == 2 and len(fake_openai.chat_requests("M0-L001")) == 3
