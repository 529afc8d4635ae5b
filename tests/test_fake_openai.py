"""The fake OpenAI server, specified through the real ``openai`` client in strict mode.

Every test drives the server the way the project will: ``openai.OpenAI`` pointed at the
fixture's ``base_url`` with ``_strict_response_validation=True``, so each response must also
match the client's own models. One behaviour per test; the sections follow the API.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.fake_openai import FakeOpenAIServer, Scenario, ScenarioError, write_lesson
from tests.fake_openai.scenario import MODEL_OVERRIDE_KEYS
from tests.fake_openai.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-test-0123456789abcdef"
CHAT = "/v1/chat/completions"
SYSTEM_PROMPT = (
    "You write one lesson of a data course in Markdown.\n"
    "Use exactly these sections:\n"
    "## Why it matters\n"
    "## Worked example\n"
    "## Practice\n"
)
TERMINAL = {"completed", "failed", "expired", "cancelled"}
MODEL = "gpt-6-luna"  # no shutdown date announced: tests using it keep working whatever the calendar says
TODAY = "2026-12-02"  # the date the model table was checked; tests that need older models pin it


# ---- helpers --------------------------------------------------------------------------


def client_for(server: FakeOpenAIServer, *, max_retries: int = 0, api_key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key, base_url=server.base_url, _strict_response_validation=True, max_retries=max_retries
    )


def request_line(custom_id: str, *, model: str = MODEL, system: str = SYSTEM_PROMPT, **body) -> dict:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"Lesson title: Lesson {custom_id}"}]
    body = {"model": model, "messages": messages, **body}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}


def jsonl(lines: list) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


def upload(client: openai.OpenAI, lines: list, *, purpose: str = "batch", filename: str = "input.jsonl"):
    return client.files.create(file=(filename, jsonl(lines)), purpose=purpose)


def start_batch(client: openai.OpenAI, lines: list, **create_kwargs):
    input_file = upload(client, lines)
    return client.batches.create(
        input_file_id=input_file.id, endpoint=CHAT, completion_window="24h", **create_kwargs
    )


def poll_until_done(client: openai.OpenAI, batch_id: str, max_polls: int = 30):
    for _ in range(max_polls):
        batch = client.batches.retrieve(batch_id)
        if batch.status in TERMINAL:
            return batch
    raise AssertionError(f"batch {batch_id} still {batch.status} after {max_polls} polls")


def run_batch(client: openai.OpenAI, lines: list, **create_kwargs):
    return poll_until_done(client, start_batch(client, lines, **create_kwargs).id)


def read_jsonl(client: openai.OpenAI, file_id: str) -> list[dict]:
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def by_custom_id(lines: list[dict]) -> dict[str, dict]:
    return {line["custom_id"]: line for line in lines}


def content_of(line: dict) -> str:
    return line["response"]["body"]["choices"][0]["message"]["content"]


def http(server: FakeOpenAIServer, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """A plain HTTP call (for what the client cannot send): returns (status, headers, parsed JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    url = f"http://{server.host}:{server.port}{path}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


# ---- authentication -------------------------------------------------------------------


def test_a_request_without_an_api_key_gets_401(fake_openai):
    status, _, body = http(fake_openai, "GET", "/v1/batches")
    assert status == 401
    assert "didn't provide an API key" in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"


def test_any_non_empty_key_is_accepted_by_default(fake_openai):
    client_for(fake_openai, api_key="sk-whatever").batches.list()


def test_a_key_outside_valid_api_keys_gets_invalid_api_key_with_the_key_masked(fake_openai):
    fake_openai.set_scenario({"valid_api_keys": ["sk-test-the-good-one"]})
    with pytest.raises(openai.AuthenticationError) as caught:
        client_for(fake_openai, api_key=API_KEY).files.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert API_KEY not in caught.value.message
    assert "sk-test***cdef" in caught.value.message


def test_a_key_in_valid_api_keys_is_accepted(fake_openai):
    fake_openai.set_scenario({"valid_api_keys": [API_KEY]})
    assert client_for(fake_openai).files.list().data == []


# ---- files ----------------------------------------------------------------------------


def test_upload_returns_a_file_object_that_expires_after_30_days(fake_openai):
    content = jsonl([request_line("a")])
    uploaded = client_for(fake_openai).files.create(file=("lessons.jsonl", content), purpose="batch")
    assert uploaded.id.startswith("file-")
    assert (uploaded.filename, uploaded.purpose, uploaded.bytes) == ("lessons.jsonl", "batch", len(content))
    assert uploaded.status == "processed"
    assert uploaded.expires_at == uploaded.created_at + 30 * 24 * 3600


def test_upload_is_logged_with_filename_purpose_size_and_sha256(fake_openai):
    content = jsonl([request_line("a")])
    client_for(fake_openai).files.create(file=("lessons.jsonl", content), purpose="batch")
    [entry] = fake_openai.requests
    assert (entry.method, entry.path, entry.status) == ("POST", "/v1/files", 200)
    assert entry.upload == {
        "filename": "lessons.jsonl",
        "purpose": "batch",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_files_can_be_listed_filtered_by_purpose(fake_openai):
    client = client_for(fake_openai)
    batch_file = upload(client, [request_line("a")])
    upload(client, [request_line("b")], purpose="user_data")
    assert [f.id for f in client.files.list(purpose="batch")] == [batch_file.id]
    assert len(client.files.list().data) == 2


def test_a_file_can_be_retrieved_by_id(fake_openai):
    client = client_for(fake_openai)
    uploaded = upload(client, [request_line("a")])
    assert client.files.retrieve(uploaded.id) == uploaded


def test_file_content_returns_the_uploaded_bytes(fake_openai):
    client = client_for(fake_openai)
    uploaded = upload(client, [request_line("a"), request_line("b")])
    assert client.files.content(uploaded.id).content == jsonl([request_line("a"), request_line("b")])


def test_a_deleted_file_is_gone(fake_openai):
    client = client_for(fake_openai)
    uploaded = upload(client, [request_line("a")])
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_an_unknown_file_is_404_in_the_api_error_format(fake_openai):
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(fake_openai).files.content("file-doesnotexist")
    assert caught.value.body == {
        "message": "No such File object: file-doesnotexist",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }


def test_a_file_over_max_file_bytes_is_refused(fake_openai):
    fake_openai.set_scenario({"max_file_bytes": 100})
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(fake_openai).files.create(file=("big.jsonl", b"x" * 101), purpose="batch")
    assert caught.value.param == "file"


def test_a_batch_file_must_be_jsonl(fake_openai):
    with pytest.raises(openai.BadRequestError, match="Must be .jsonl"):
        client_for(fake_openai).files.create(file=("input.txt", b"{}\n"), purpose="batch")


def test_an_unknown_upload_purpose_is_refused(fake_openai):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(fake_openai).files.create(file=("input.jsonl", b"{}\n"), purpose="batch_output")
    assert (caught.value.param, caught.value.code) == ("purpose", "invalid_value")


# ---- creating a batch -----------------------------------------------------------------


def test_a_new_batch_is_validating_with_its_metadata_and_a_24h_expiry(fake_openai):
    batch = start_batch(client_for(fake_openai), [request_line("a")], metadata={"course": "sql"})
    assert batch.id.startswith("batch_")
    assert (batch.status, batch.endpoint, batch.completion_window) == ("validating", CHAT, "24h")
    assert batch.metadata == {"course": "sql"}
    assert batch.expires_at == batch.created_at + 24 * 3600
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (0, 0, 0)
    assert batch.output_file_id is None and batch.error_file_id is None and batch.errors is None


def test_the_create_request_body_is_logged(fake_openai):
    batch = start_batch(client_for(fake_openai), [request_line("a")])
    create = fake_openai.requests[-1]
    assert (create.method, create.path, create.status) == ("POST", "/v1/batches", 200)
    assert create.body == {"input_file_id": batch.input_file_id, "endpoint": CHAT, "completion_window": "24h"}
    assert [b["id"] for b in fake_openai.created_batches()] == [batch.id]


@pytest.mark.parametrize(
    "change, param",
    [
        ({"completion_window": "48h"}, "completion_window"),
        ({"endpoint": "/v1/unknown"}, "endpoint"),
        ({"input_file_id": "file-doesnotexist"}, "input_file_id"),
    ],
    ids=["completion_window", "endpoint", "missing_input_file"],
)
def test_create_refuses_bad_request_parameters_with_400(fake_openai, change, param):
    client = client_for(fake_openai)
    params = {"input_file_id": upload(client, [request_line("a")]).id, "endpoint": CHAT, "completion_window": "24h"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(**{**params, **change})
    assert caught.value.param == param
    assert fake_openai.batches == {}


def test_create_refuses_an_input_file_whose_purpose_is_not_batch(fake_openai):
    client = client_for(fake_openai)
    wrong = upload(client, [request_line("a")], purpose="user_data")
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(input_file_id=wrong.id, endpoint=CHAT, completion_window="24h")
    assert caught.value.param == "input_file_id"
    assert "purpose" in caught.value.message


def test_create_refuses_an_unknown_parameter(fake_openai):
    client = client_for(fake_openai)
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument"):
        start_batch(client, [request_line("a")], extra_body={"priority": "high"})


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
    ],
    ids=["17_pairs", "key_over_64", "value_over_512", "value_not_a_string"],
)
def test_create_enforces_the_metadata_limits(fake_openai, metadata):
    with pytest.raises(openai.BadRequestError) as caught:
        start_batch(client_for(fake_openai), [request_line("a")], metadata=metadata)
    assert caught.value.param.startswith("metadata")


def test_metadata_right_at_the_limits_is_accepted(fake_openai):
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assert start_batch(client_for(fake_openai), [request_line("a")], metadata=metadata).metadata == metadata


# ---- input file validation (the batch fails while validating) ------------------------------


def _bad(line_number: int, change) -> list:
    lines = [request_line("a"), request_line("b"), request_line("c")]
    lines[line_number - 1] = change(lines[line_number - 1])
    return lines


def _with_model(model):
    return lambda line: {**line, "body": {**line["body"], "model": model}}


def _without(field_name):
    return lambda line: {k: v for k, v in line.items() if k != field_name}


@pytest.mark.parametrize(
    "lines, code, param, line",
    [
        (_bad(2, lambda _: '{"custom_id": "b", '), "invalid_json_line", None, 2),
        (_bad(2, _without("custom_id")), "missing_required_parameter", "custom_id", 2),
        (_bad(2, _without("method")), "missing_required_parameter", "method", 2),
        (_bad(2, _without("url")), "missing_required_parameter", "url", 2),
        (_bad(2, _without("body")), "missing_required_parameter", "body", 2),
        (_bad(3, lambda line: {**line, "url": "/v1/embeddings"}), "url_mismatch", "url", 3),
        (_bad(3, lambda line: {**line, "custom_id": "a"}), "duplicate_custom_id", "custom_id", 3),
        (_bad(2, _with_model("gpt-4o")), "model_mismatch", "body.model", 2),
        ([], "empty_file", None, None),
    ],
    ids=["invalid_json", "no_custom_id", "no_method", "no_url", "no_body", "url", "duplicate", "two_models", "empty"],
)
def test_a_bad_input_file_fails_the_batch_with_a_line_numbered_error(fake_openai, lines, code, param, line):
    batch = run_batch(client_for(fake_openai), lines)
    assert batch.status == "failed"
    assert batch.failed_at is not None and batch.in_progress_at is None
    assert batch.errors.object == "list"
    first = batch.errors.data[0]
    assert (first.code, first.param, first.line) == (code, param, line)
    assert first.message


def test_more_requests_than_max_requests_per_batch_fail_the_batch(fake_openai):
    fake_openai.set_scenario({"max_requests_per_batch": 2})
    batch = run_batch(client_for(fake_openai), [request_line("a"), request_line("b"), request_line("c")])
    assert batch.status == "failed"
    assert [(e.code, e.line) for e in batch.errors.data] == [("too_many_tasks", None)]


# ---- the status machine ---------------------------------------------------------------


def test_a_batch_advances_one_step_per_poll_while_request_counts_grow(fake_openai):
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line(c) for c in "abcd"])
    seen = []
    for _ in range(5):
        polled = client.batches.retrieve(batch.id)
        seen.append((polled.status, polled.request_counts.completed, polled.request_counts.total))
    assert seen == [
        ("in_progress", 0, 4),
        ("in_progress", 2, 4),
        ("in_progress", 4, 4),
        ("finalizing", 4, 4),
        ("completed", 4, 4),
    ]


def test_a_completed_batch_has_every_timestamp_of_its_path_set(fake_openai):
    batch = run_batch(client_for(fake_openai), [request_line("a")])
    assert batch.status == "completed"
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    assert (batch.failed_at, batch.expired_at, batch.cancelling_at, batch.cancelled_at) == (None, None, None, None)


def test_polls_per_step_slows_the_batch_down(fake_openai):
    fake_openai.set_scenario({"polls_per_step": 2})
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line("a")])
    assert client.batches.retrieve(batch.id).status == "validating"
    assert client.batches.retrieve(batch.id).status == "in_progress"


def test_in_time_mode_a_batch_advances_without_being_polled(fake_openai):
    fake_openai.set_scenario({"advance": "time", "seconds_per_step": 0.02})
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line("a"), request_line("b")])
    time.sleep(0.3)
    assert fake_openai.batches[batch.id]["status"] == "completed"
    assert client.batches.retrieve(batch.id).output_file_id is not None


def test_the_batch_reports_its_model_and_usage_once_results_exist(fake_openai):
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line("a"), request_line("b")])
    assert batch.model is None and batch.usage is None
    in_progress = client.batches.retrieve(batch.id)
    assert in_progress.model == MODEL and in_progress.usage is None
    done = poll_until_done(client, batch.id)
    usages = [line["response"]["body"]["usage"] for line in read_jsonl(client, done.output_file_id)]
    assert done.usage.input_tokens == sum(u["prompt_tokens"] for u in usages)
    assert done.usage.output_tokens == sum(u["completion_tokens"] for u in usages)
    cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
    assert done.usage.input_tokens_details.cached_tokens == cached
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens


# ---- listing batches ------------------------------------------------------------------


def test_batches_are_listed_newest_first_in_pages(fake_openai):
    client = client_for(fake_openai)
    oldest, middle, newest = (start_batch(client, [request_line("a")]).id for _ in range(3))
    first_page = client.batches.with_raw_response.list(limit=2).http_response.json()
    assert [b["id"] for b in first_page["data"]] == [newest, middle]
    assert (first_page["object"], first_page["has_more"]) == ("list", True)
    assert (first_page["first_id"], first_page["last_id"]) == (newest, middle)
    second_page = client.batches.list(limit=2, after=middle)
    assert ([b.id for b in second_page.data], second_page.has_more) == ([oldest], False)


def test_the_client_auto_paginates_through_every_batch(fake_openai):
    client = client_for(fake_openai)
    created = [start_batch(client, [request_line("a")]).id for _ in range(5)]
    assert [b.id for b in client.batches.list(limit=2)] == created[::-1]


def test_batch_list_order_oldest_first_lists_the_oldest_batch_first(fake_openai):
    fake_openai.set_scenario({"batch_list_order": "oldest_first"})
    client = client_for(fake_openai)
    created = [start_batch(client, [request_line("a")]).id for _ in range(3)]
    assert [b.id for b in client.batches.list(limit=2)] == created


def test_batch_list_order_shuffled_is_neither_order_but_pages_through_every_batch(fake_openai):
    fake_openai.set_scenario({"batch_list_order": "shuffled"})
    client = client_for(fake_openai)
    created = [start_batch(client, [request_line("a")]).id for _ in range(4)]
    listed = [b.id for b in client.batches.list(limit=3)]
    assert sorted(listed) == sorted(created) and listed not in (created, created[::-1])


def _store_with_a_ticking_clock(scenario: dict) -> Store:
    """The server's store on a clock that moves one second each time it is read."""
    seconds = itertools.count(1_800_000_000)
    store = Store(Scenario.from_dict(scenario), clock=lambda: float(next(seconds)))
    store.upload(filename="input.jsonl", purpose="batch", content=jsonl([request_line("a")]))
    return store


def _create(store: Store) -> dict:
    [input_file] = store.files
    return store.create_batch({"input_file_id": input_file, "endpoint": CHAT, "completion_window": "24h"}).to_api()


def test_batches_created_in_different_seconds_keep_their_own_created_at():
    store = _store_with_a_ticking_clock({})
    first, second = _create(store), _create(store)
    assert second["created_at"] > first["created_at"]


def test_same_second_batches_all_get_the_created_at_of_the_first():
    store = _store_with_a_ticking_clock({"same_second_batches": True})
    created = [_create(store)["created_at"] for _ in range(3)]
    assert len(set(created)) == 1


@pytest.mark.parametrize("order, expected", [("descending", True), ("ascending", False)])
def test_batch_id_order_sets_how_new_ids_sort_against_earlier_ones(fake_openai, order, expected):
    fake_openai.set_scenario({"batch_id_order": order})
    client = client_for(fake_openai)
    ids = [start_batch(client, [request_line("a")]).id for _ in range(4)]
    assert ids == sorted(ids, reverse=expected)
    assert all(re.fullmatch(r"batch_[0-9a-f]{32}", batch_id) for batch_id in ids)


def test_random_batch_ids_follow_no_creation_order(fake_openai):
    client = client_for(fake_openai)
    ids = [start_batch(client, [request_line("a")]).id for _ in range(8)]
    assert ids not in (sorted(ids), sorted(ids, reverse=True))


@pytest.mark.parametrize("scenario", [{"same_second_batches": "yes"}, {"batch_id_order": "sorted"}])
def test_bad_same_second_or_id_order_values_are_refused(scenario):
    with pytest.raises(ScenarioError):
        Scenario.from_dict(scenario)


# ---- the output and error files -------------------------------------------------------


def test_each_output_line_wraps_a_chat_completion(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    [line] = read_jsonl(client, batch.output_file_id)
    assert line["id"].startswith("batch_req_")
    assert (line["custom_id"], line["error"]) == ("a", None)
    assert line["response"]["status_code"] == 200 and line["response"]["request_id"]
    completion = ChatCompletion.model_validate(line["response"]["body"])
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert (choice.message.role, choice.message.refusal) == ("assistant", None)
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    answer_tokens = usage.completion_tokens - usage.completion_tokens_details.reasoning_tokens
    assert abs(answer_tokens - len(choice.message.content) / 4) < 10


def test_the_output_file_is_named_after_the_batch_and_has_purpose_batch_output(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    output = client.files.retrieve(batch.output_file_id)
    assert (output.filename, output.purpose) == (f"{batch.id}_output.jsonl", "batch_output")


@pytest.mark.parametrize("count", [2, 6])
def test_output_lines_come_in_a_different_order_than_the_input(fake_openai, count):
    client = client_for(fake_openai)
    custom_ids = [f"lesson-{i}" for i in range(count)]
    batch = run_batch(client, [request_line(c) for c in custom_ids])
    output_order = [line["custom_id"] for line in read_jsonl(client, batch.output_file_id)]
    assert sorted(output_order) == sorted(custom_ids)
    assert output_order != custom_ids


@pytest.mark.parametrize("model, reasoning", [("gpt-5-mini", True), ("o3", True), ("gpt-4o-mini", False)])
def test_only_reasoning_models_report_reasoning_tokens(fake_openai, model, reasoning):
    fake_openai.set_scenario({"today": TODAY})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a", model=model)])
    [line] = read_jsonl(client, batch.output_file_id)
    reasoning_tokens = line["response"]["body"]["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert (reasoning_tokens > 0) is reasoning
    assert (batch.usage.output_tokens_details.reasoning_tokens > 0) is reasoning


# A system prompt long enough to be cached (the API caches a shared prefix of 1,024 tokens or more).
LONG_SYSTEM_PROMPT = SYSTEM_PROMPT + "Keep to the facts of the curriculum entry. " * 500


def test_later_requests_sharing_a_long_system_prompt_report_cached_tokens(fake_openai):
    client = client_for(fake_openai)
    lines = [
        request_line("first", system=LONG_SYSTEM_PROMPT), request_line("second", system=LONG_SYSTEM_PROMPT),
        request_line("other", system="## Something else" + LONG_SYSTEM_PROMPT),
    ]
    batch = run_batch(client, lines)
    cached = {
        cid: line["response"]["body"]["usage"]["prompt_tokens_details"]["cached_tokens"]
        for cid, line in by_custom_id(read_jsonl(client, batch.output_file_id)).items()
    }
    assert cached["first"] == 0 and cached["second"] > 0 and cached["other"] == 0


def test_a_system_prompt_shorter_than_1024_tokens_is_never_cached(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("first"), request_line("second")])
    cached = [
        line["response"]["body"]["usage"]["prompt_tokens_details"]["cached_tokens"]
        for line in read_jsonl(client, batch.output_file_id)
    ]
    assert cached == [0, 0]


def test_failed_requests_go_to_the_error_file_with_their_status_code(fake_openai):
    fake_openai.set_scenario({"faults": {"fail_400": ["b"], "fail_500": ["c"]}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line(c) for c in "abc"])
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 2)
    assert [line["custom_id"] for line in read_jsonl(client, batch.output_file_id)] == ["a"]
    errors = by_custom_id(read_jsonl(client, batch.error_file_id))
    assert errors["b"]["response"]["status_code"] == 400 and errors["c"]["response"]["status_code"] == 500
    assert errors["b"]["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert errors["c"]["response"]["body"]["error"]["type"] == "server_error"
    assert errors["b"]["error"] is None and errors["b"]["id"].startswith("batch_req_")


def test_a_fault_given_as_a_count_only_hits_that_many_times(fake_openai):
    fake_openai.set_scenario({"faults": {"fail_500": {"a": 1}}})
    client = client_for(fake_openai)
    first = run_batch(client, [request_line("a")])
    retried = run_batch(client, [request_line("a")])
    assert (first.output_file_id, first.request_counts.failed) == (None, 1)
    assert (retried.error_file_id, retried.request_counts.completed) == (None, 1)


def test_no_error_file_when_nothing_failed(fake_openai):
    batch = run_batch(client_for(fake_openai), [request_line("a")])
    assert batch.output_file_id is not None and batch.error_file_id is None


# ---- the fake model's lessons ---------------------------------------------------------


def test_the_lesson_follows_the_title_and_headings_the_prompt_asks_for(fake_openai):
    system = (
        "Write a lesson.\n## Why it matters\n## Worked example\n"
        "Note: ## marks level two.\n## Why it matters\n## Quiz"
    )
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a", system=system)])
    lesson = content_of(read_jsonl(client, batch.output_file_id)[0])
    assert lesson.splitlines()[0] == "# Lesson a"
    assert re.findall(r"^## (.+)$", lesson, re.MULTILINE) == ["Why it matters", "Worked example", "Quiz"]


def test_the_lesson_has_a_sql_block_and_a_table(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    lesson = content_of(read_jsonl(client, batch.output_file_id)[0])
    assert re.search(r"^```sql\n.+?\n```$", lesson, re.MULTILINE | re.DOTALL)
    assert "| --- | --- |" in lesson


def test_without_a_lesson_title_line_the_title_is_the_custom_id(fake_openai):
    line = request_line("lesson-07")
    line["body"]["messages"][1]["content"] = "Please write it."
    client = client_for(fake_openai)
    batch = run_batch(client, [line])
    assert content_of(read_jsonl(client, batch.output_file_id)[0]).startswith("# lesson-07\n")


def test_lessons_are_deterministic_and_about_lesson_bytes_long(fake_openai):
    body = request_line("a")["body"]
    lesson = write_lesson(body, fallback_title="a", lesson_bytes=2000)
    assert write_lesson(body, fallback_title="a", lesson_bytes=2000) == lesson
    assert 2000 <= len(lesson.encode()) < 2600
    assert len(write_lesson(body, fallback_title="a", lesson_bytes=6000).encode()) >= 6000


def test_lesson_bytes_in_the_scenario_sets_the_lesson_size(fake_openai):
    fake_openai.set_scenario({"lesson_bytes": 5000})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    assert len(content_of(read_jsonl(client, batch.output_file_id)[0])) >= 5000


# ---- per-request content faults -------------------------------------------------------


def test_truncate_spends_every_completion_token_on_reasoning(fake_openai):
    fake_openai.set_scenario({"faults": {"truncate": ["a"]}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a", max_completion_tokens=500)])
    [line] = read_jsonl(client, batch.output_file_id)
    body = line["response"]["body"]
    assert (body["choices"][0]["finish_reason"], content_of(line)) == ("length", "")
    assert body["usage"]["completion_tokens"] == body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 500


def test_fence_wraps_the_lesson_in_a_markdown_fence(fake_openai):
    fake_openai.set_scenario({"faults": {"fence": ["a"]}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    lesson = content_of(read_jsonl(client, batch.output_file_id)[0])
    assert lesson.startswith("```markdown\n# Lesson a\n") and lesson.endswith("\n```")


def test_refusal_answers_with_null_content_and_the_refusal_text(fake_openai):
    fake_openai.set_scenario({"faults": {"refusal": ["a"]}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    [line] = read_jsonl(client, batch.output_file_id)
    message = ChatCompletion.model_validate(line["response"]["body"]).choices[0].message
    assert (message.content, message.refusal) == (None, "I'm very sorry, but I can't assist with that request.")
    assert line["response"]["body"]["choices"][0]["finish_reason"] == "stop"


def test_a_batch_line_says_service_tier_default_like_the_real_batch_api(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    assert read_jsonl(client, batch.output_file_id)[0]["response"]["body"]["service_tier"] == "default"


@pytest.mark.parametrize("value, served", [(None, "priority"), ("flex", "flex")])
def test_wrong_tier_answers_a_batch_line_at_another_tier(fake_openai, value, served):
    fake_openai.set_scenario({"faults": {"wrong_tier": ["a"], "wrong_tier_value": value}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a"), request_line("b")])
    tiers = {cid: line["response"]["body"]["service_tier"] for cid, line in by_custom_id(
        read_jsonl(client, batch.output_file_id)).items()}  # fmt: skip
    assert tiers == {"a": served, "b": "default"}


def test_preamble_surrounds_the_lesson_with_chatter(fake_openai):
    fake_openai.set_scenario({"faults": {"preamble": ["a"]}})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    lesson = content_of(read_jsonl(client, batch.output_file_id)[0])
    assert lesson.startswith("Sure! Here is the lesson:\n\n# Lesson a\n")
    assert lesson.endswith("\n\nLet me know if you'd like any changes!")


# ---- batch outcomes -------------------------------------------------------------------


def test_an_expiring_batch_keeps_the_done_part_and_reports_the_rest_as_batch_expired(fake_openai):
    fake_openai.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.5}]})
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line(c) for c in "abcd"])
    assert batch.status == "expired" and batch.expired_at is not None and batch.completed_at is None
    done = read_jsonl(client, batch.output_file_id)
    expired = read_jsonl(client, batch.error_file_id)
    assert sorted(line["custom_id"] for line in done) == ["a", "b"]
    assert [(line["custom_id"], line["response"], line["error"]["code"]) for line in expired] == [
        ("c", None, "batch_expired"),
        ("d", None, "batch_expired"),
    ]


def test_fail_validation_fails_the_batch_with_an_error_line(fake_openai):
    fake_openai.set_scenario({"batches": ["fail_validation"]})
    batch = run_batch(client_for(fake_openai), [request_line("a")])
    assert batch.status == "failed"
    [error] = batch.errors.data
    assert (error.code, error.line) == ("invalid_json_line", 1)


def test_token_limit_fails_the_batch_like_the_enqueued_token_limit(fake_openai):
    fake_openai.set_scenario({"batches": ["token_limit"]})
    batch = run_batch(client_for(fake_openai), [request_line("a")])
    assert batch.status == "failed" and batch.failed_at is not None
    [error] = batch.errors.data
    assert (error.code, error.param, error.line) == ("token_limit_exceeded", None, None)
    assert error.message == (
        "Enqueued token limit reached for gpt-6-luna in organization org-test. Limit: 2,000,000 enqueued tokens. "
        "Please try again once some in_progress batches have been completed."
    )


def test_a_stuck_batch_stays_in_progress(fake_openai):
    fake_openai.set_scenario({"batches": ["stuck"]})
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line("a")])
    statuses = {client.batches.retrieve(batch.id).status for _ in range(10)}
    assert statuses == {"in_progress"}


def test_no_output_file_completes_without_an_output_file(fake_openai):
    fake_openai.set_scenario({"batches": ["no_output_file"]})
    batch = run_batch(client_for(fake_openai), [request_line("a"), request_line("b")])
    assert batch.status == "completed"
    assert batch.request_counts.completed == 2
    assert batch.output_file_id is None


def test_batch_plans_apply_in_creation_order_then_the_default(fake_openai):
    fake_openai.set_scenario({"batches": ["expire", "token_limit"], "default_outcome": "no_output_file"})
    client = client_for(fake_openai)
    batches = [start_batch(client, [request_line("a"), request_line("b")]) for _ in range(3)]
    finished = [poll_until_done(client, batch.id) for batch in batches]
    assert [(b.status, b.output_file_id is None) for b in finished] == [
        ("expired", False),
        ("failed", True),
        ("completed", True),
    ]


# ---- cancelling -----------------------------------------------------------------------


def test_a_cancelled_batch_keeps_the_done_requests_and_reports_the_rest_as_batch_cancelled(fake_openai):
    client = client_for(fake_openai)
    batch = start_batch(client, [request_line(c) for c in "abcd"])
    client.batches.retrieve(batch.id)  # in_progress, nothing done yet
    client.batches.retrieve(batch.id)  # half of the requests done
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert sorted(line["custom_id"] for line in read_jsonl(client, cancelled.output_file_id)) == ["a", "b"]
    assert [(line["custom_id"], line["error"]["code"]) for line in read_jsonl(client, cancelled.error_file_id)] == [
        ("c", "batch_cancelled"),
        ("d", "batch_cancelled"),
    ]


def test_a_finished_batch_cannot_be_cancelled(fake_openai):
    client = client_for(fake_openai)
    batch = run_batch(client, [request_line("a")])
    with pytest.raises(openai.ConflictError, match="Cannot cancel a batch with status 'completed'"):
        client.batches.cancel(batch.id)


def test_an_unknown_batch_is_404(fake_openai):
    with pytest.raises(openai.NotFoundError):
        client_for(fake_openai).batches.retrieve("batch_doesnotexist")


# ---- transient faults and the client's retries ----------------------------------------


def test_the_client_retries_a_503_upload(fake_openai):
    fake_openai.set_scenario({"faults": {"upload_503": 2}})
    uploaded = upload(client_for(fake_openai, max_retries=2), [request_line("a")])
    assert uploaded.id.startswith("file-")
    assert [(r.status, r.retry_count) for r in fake_openai.requests] == [(503, 0), (503, 1), (200, 2)]


def test_the_client_retries_a_503_content_download(fake_openai):
    fake_openai.set_scenario({"faults": {"content_503": 1}})
    client = client_for(fake_openai, max_retries=2)
    uploaded = upload(client, [request_line("a")])
    assert client.files.content(uploaded.id).content == jsonl([request_line("a")])
    assert [r.status for r in fake_openai.requests if r.path.endswith("/content")] == [503, 200]


def test_the_client_retries_a_429_batch_create(fake_openai):
    fake_openai.set_scenario({"faults": {"create_429": 1}})
    batch = start_batch(client_for(fake_openai, max_retries=2), [request_line("a")])
    assert [r.status for r in fake_openai.requests if r.path == "/v1/batches"] == [429, 200]
    assert list(fake_openai.batches) == [batch.id]


def test_cut_download_makes_a_streamed_download_raise_the_http_librarys_own_error(fake_openai):
    client = client_for(fake_openai)
    uploaded = upload(client, [request_line(f"lesson-{i}") for i in range(20)])
    fake_openai.set_scenario({"faults": {"cut_download": 1}})
    cut = "peer closed connection without sending complete message body"
    with pytest.raises(httpx2.RemoteProtocolError, match=cut):
        with client.files.with_streaming_response.content(uploaded.id) as response:
            b"".join(response.iter_bytes())


def test_cut_download_makes_a_whole_download_fail_as_a_connection_error(fake_openai):
    client = client_for(fake_openai)
    uploaded = upload(client, [request_line("a")])
    fake_openai.set_scenario({"faults": {"cut_download": 1}})
    with pytest.raises(openai.APIConnectionError) as caught:
        client.files.content(uploaded.id)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)


def test_cut_download_cuts_only_the_next_n_downloads(fake_openai):
    client = client_for(fake_openai, max_retries=1)
    uploaded = upload(client, [request_line("a")])
    fake_openai.set_scenario({"faults": {"cut_download": 1}})
    assert client.files.content(uploaded.id).content == jsonl([request_line("a")])
    assert [r.retry_count for r in fake_openai.requests if r.path.endswith("/content")] == [0, 1]


def test_transient_errors_carry_a_short_retry_after_ms(fake_openai):
    fake_openai.set_scenario({"faults": {"create_429": 1, "retry_after_ms": 7}})
    with pytest.raises(openai.RateLimitError) as caught:
        start_batch(client_for(fake_openai, max_retries=0), [request_line("a")])
    assert caught.value.response.headers["retry-after-ms"] == "7"
    assert caught.value.code == "rate_limit_exceeded"


def test_slow_ms_delays_every_response(fake_openai):
    fake_openai.set_scenario({"faults": {"slow_ms": 150}})
    started = time.monotonic()
    client_for(fake_openai).files.list()
    assert time.monotonic() - started >= 0.15


# ---- the handle and the control routes ------------------------------------------------


def test_every_response_has_an_x_request_id(fake_openai):
    client = client_for(fake_openai)
    assert client.files.with_raw_response.list().headers["x-request-id"].startswith("req_")
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve("file-nope")
    assert caught.value.request_id.startswith("req_")


def test_an_unknown_route_is_404_invalid_url(fake_openai):
    status, _, body = http(fake_openai, "GET", "/v1/nothing-here", headers={"Authorization": f"Bearer {API_KEY}"})
    assert status == 404
    assert body["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"


def test_env_points_a_client_built_from_the_environment_here(fake_openai, monkeypatch):
    for name, value in fake_openai.env(api_key=API_KEY).items():
        monkeypatch.setenv(name, value)
    openai.OpenAI(_strict_response_validation=True, max_retries=0).batches.list()
    assert [(r.method, r.path) for r in fake_openai.requests] == [("GET", "/v1/batches")]


def test_the_scenario_can_be_set_over_http(fake_openai):
    status, _, shown = http(fake_openai, "POST", "/_control/scenario", {"valid_api_keys": ["sk-test-only"]})
    assert status == 200 and shown["valid_api_keys"] == ["sk-test-only"]
    with pytest.raises(openai.AuthenticationError):
        client_for(fake_openai).files.list()


def test_the_request_log_can_be_read_over_http(fake_openai):
    client_for(fake_openai).files.list(purpose="batch")
    status, _, log = http(fake_openai, "GET", "/_control/log")
    assert status == 200
    assert log["requests"] == [
        {"method": "GET", "path": "/v1/files", "query": {"purpose": "batch"}, "status": 200,
         "body": None, "upload": None, "retry_count": 0, "lesson": None}
    ]


def test_a_malformed_scenario_is_refused(fake_openai):
    with pytest.raises(ScenarioError, match="polls_per_stepp"):
        fake_openai.set_scenario({"polls_per_stepp": 2})
    status, _, body = http(fake_openai, "POST", "/_control/scenario", {"batches": ["explode"]})
    assert status == 400 and "outcome" in body["error"]["message"]


@pytest.mark.parametrize(
    "scenario, where",
    [
        ({"today": "2026-13-01"}, "scenario.today"),
        ({"models": {"gpt-5": {"shutdown": "2027-01-01"}}}, "scenario.models['gpt-5']"),
        ({"batch_list_order": "random"}, "scenario.batch_list_order"),
        ({"flex": {"capacity_429": {"every": 2}, "latency": 5}}, "scenario.flex"),
        ({"faults": {"wrong_tier_value": "batch"}}, "scenario.faults.wrong_tier_value"),
    ],
)
def test_a_malformed_model_flex_or_order_key_is_refused(fake_openai, scenario, where):
    with pytest.raises(ScenarioError, match=re.escape(where)):
        fake_openai.set_scenario(scenario)


def test_the_readme_documents_every_scenario_key():
    readme = (REPO_ROOT / "tests" / "fake_openai" / "README.md").read_text()
    shown = Scenario().to_dict()
    keys = [*shown, *shown["faults"], *shown["flex"], *MODEL_OVERRIDE_KEYS]
    assert [key for key in keys if f'"{key}":' not in readme] == []


def test_reset_forgets_files_batches_and_the_log(fake_openai):
    fake_openai.set_scenario({"batches": ["token_limit"]})
    start_batch(client_for(fake_openai), [request_line("a")])
    fake_openai.reset()
    assert (fake_openai.files, fake_openai.batches, fake_openai.requests) == ({}, {}, [])
    assert fake_openai.scenario.batches == ()


def test_the_server_runs_by_hand_as_a_module():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+/v1", first_line).group(0)
        client = openai.OpenAI(api_key=API_KEY, base_url=base_url, _strict_response_validation=True, max_retries=0)
        assert client.batches.list().data == []
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
