"""Specification of reading Batch API output/error files (lesson_batch.result_files)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lesson_batch.result_files import (
    BadLine,
    ResultLine,
    TokenUsage,
    read_result_lines,
    result_of_response,
)
from tests.helpers import responses_message, responses_record, success_record


def success(custom_id="M0-L001", content="# Lesson\n", finish_reason="stop", usage=None):
    return success_record(custom_id, content, finish_reason, usage)


def request_error(custom_id="M0-L001", status_code=429, code="rate_limit_exceeded", message="Slow down"):
    return {
        "id": "batch_req_2",
        "custom_id": custom_id,
        "response": {
            "status_code": status_code,
            "request_id": "req_2",
            "body": {"error": {"message": message, "type": "requests", "param": None, "code": code}},
        },
        "error": None,
    }


def batch_error(custom_id="M0-L001", code="batch_expired", message="The batch expired"):
    return {"id": "batch_req_3", "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}


def write_lines(tmp_path, *lines):
    """Write each item as one line: dicts as JSON, str as text, bytes as they are."""
    path = tmp_path / "output.jsonl"
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            if isinstance(line, str):
                line = line.encode("utf-8")
            handle.write(line + b"\n")
    return path


def read_one(tmp_path, line):
    results = list(read_result_lines(write_lines(tmp_path, line)))
    assert len(results) == 1
    return results[0]


def read_one_path(path):
    (result,) = list(read_result_lines(path))
    return result


def bad_reason(tmp_path, line):
    result = read_one(tmp_path, line)
    assert isinstance(result, BadLine), result
    return result.reason


# --- well-formed lines ----------------------------------------------------------------------------


def test_success_line_gives_content_finish_reason_and_usage(tmp_path):
    assert read_one(tmp_path, success()) == ResultLine(
        line_number=1,
        custom_id="M0-L001",
        kind="success",
        status_code=200,
        content="# Lesson\n",
        finish_reason="stop",
        error_code=None,
        error_message=None,
        usage=TokenUsage(prompt_tokens=100, completion_tokens=50, cached_tokens=80, reasoning_tokens=10),
        endpoint="/v1/chat/completions",
    )


# --- Responses API lines (a /v1/responses batch) ----------------------------------------------------


def test_a_responses_line_gives_its_output_text_finish_stop_usage_and_its_endpoint(tmp_path):
    assert read_one(tmp_path, responses_record("M0-L001")) == ResultLine(
        line_number=1,
        custom_id="M0-L001",
        kind="success",
        status_code=200,
        content="# Lesson\n",
        finish_reason="stop",
        error_code=None,
        error_message=None,
        usage=TokenUsage(prompt_tokens=100, completion_tokens=50, cached_tokens=80, reasoning_tokens=10),
        service_tier="default",
        endpoint="/v1/responses",
    )


def test_a_responses_line_joins_the_output_text_of_its_message_items_and_skips_reasoning_items(tmp_path):
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}
    output = [reasoning, responses_message("# Les", "son\n"), responses_message("More\n")]
    assert read_one(tmp_path, responses_record("M0-L001", output)).content == "# Lesson\nMore\n"


@pytest.mark.parametrize("reason, finish_reason", [("max_output_tokens", "length"),
                                                   ("content_filter", "content_filter")])  # fmt: skip
def test_an_incomplete_response_reads_as_the_chat_finish_reason_of_its_reason(tmp_path, reason, finish_reason):
    line = responses_record("M0-L001", [], status="incomplete", incomplete_reason=reason)
    result = read_one(tmp_path, line)
    assert (result.content, result.finish_reason) == ("", finish_reason)


def test_a_response_with_another_status_is_not_a_finished_lesson(tmp_path):
    line = responses_record("M0-L001", status="incomplete", incomplete_reason="max_messages")
    assert read_one(tmp_path, line).finish_reason == "incomplete: max_messages"


def test_a_responses_refusal_gives_the_refusal_text(tmp_path):
    line = responses_record("M0-L001", [responses_message(refusal="I can't help with that.")])
    result = read_one(tmp_path, line)
    assert (result.content, result.refusal) == ("", "I can't help with that.")


@pytest.mark.parametrize("output, reason", [
    ("text", "response.body.output is missing or not a list"),
    (["x"], "response.body.output[0] is missing or not an object"),
    ([{"type": "message", "content": "x"}], "response.body.output[0].content is missing or not a list"),
    ([{"type": "message", "content": [{"type": "output_text", "text": 5}]}],
     "response.body.output[0].content[0].text is not a string"),
])  # fmt: skip
def test_a_malformed_responses_line_is_a_bad_line_naming_the_field(tmp_path, output, reason):
    assert bad_reason(tmp_path, responses_record("M0-L001", output)) == reason


def test_a_responses_line_with_a_negative_token_count_is_a_bad_line(tmp_path):
    usage = {"input_tokens": -1, "output_tokens": 5}
    assert bad_reason(tmp_path, responses_record("M0-L001", usage=usage)) == (
        "response.body.usage.input_tokens is not a non-negative integer"
    )


@pytest.mark.parametrize("content", [None, ""])
def test_success_with_null_or_empty_content_has_empty_content(tmp_path, content):
    result = read_one(tmp_path, success(content=content))
    assert result.kind == "success" and result.content == ""


def test_success_with_a_refusal_gives_the_refusal_text(tmp_path):
    line = success(content=None)
    line["response"]["body"]["choices"][0]["message"]["refusal"] = "I can't help with that."
    result = read_one(tmp_path, line)
    assert (result.kind, result.content, result.refusal) == ("success", "", "I can't help with that.")


@pytest.mark.parametrize("refusal", [None, ""])
def test_success_without_a_refusal_has_none(tmp_path, refusal):
    line = success()
    line["response"]["body"]["choices"][0]["message"]["refusal"] = refusal
    assert read_one(tmp_path, line).refusal is None


@pytest.mark.parametrize("tier", ["default", "priority", None])
def test_success_gives_the_service_tier_it_was_served_at(tmp_path, tier):
    line = success()
    if tier is not None:
        line["response"]["body"]["service_tier"] = tier
    assert read_one(tmp_path, line).service_tier == tier


def test_success_keeps_a_length_finish_reason_for_the_checker(tmp_path):
    assert read_one(tmp_path, success(finish_reason="length")).finish_reason == "length"


def test_success_without_usage_has_zero_usage(tmp_path):
    line = success()
    del line["response"]["body"]["usage"]
    assert read_one(tmp_path, line).usage == TokenUsage()


def test_success_with_null_token_details_counts_them_as_zero(tmp_path):
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "prompt_tokens_details": None}
    assert read_one(tmp_path, success(usage=usage)).usage == TokenUsage(prompt_tokens=5, completion_tokens=7)


def test_request_error_line_gives_status_code_and_error(tmp_path):
    result = read_one(tmp_path, request_error(status_code=429, code="rate_limit_exceeded", message="Slow down"))
    assert (result.kind, result.status_code, result.error_code, result.error_message) == (
        "request_error",
        429,
        "rate_limit_exceeded",
        "Slow down",
    )
    assert result.content is None and result.usage == TokenUsage()


def test_request_error_without_code_falls_back_to_the_error_type(tmp_path):
    assert read_one(tmp_path, request_error(status_code=500, code=None)).error_code == "requests"


def test_batch_level_failure_is_a_batch_error(tmp_path):
    result = read_one(tmp_path, batch_error(code="batch_cancelled", message="Cancelled"))
    assert (result.kind, result.status_code, result.error_code, result.error_message) == (
        "batch_error",
        None,
        "batch_cancelled",
        "Cancelled",
    )


def test_line_numbers_are_one_based_and_count_blank_lines(tmp_path):
    path = write_lines(tmp_path, success("M0-L001"), "", "   ", batch_error("M0-L002"), "\r", success("M0-L003"))
    assert [(r.line_number, r.custom_id) for r in read_result_lines(path)] == [
        (1, "M0-L001"),
        (4, "M0-L002"),
        (6, "M0-L003"),
    ]


def test_crlf_line_endings_are_accepted(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(json.dumps(success()).encode() + b"\r\n" + json.dumps(batch_error("M0-L002")).encode() + b"\r\n")
    assert [r.kind for r in read_result_lines(path)] == ["success", "batch_error"]


def test_last_line_without_newline_is_read(tmp_path):
    path = tmp_path / "no_newline.jsonl"
    path.write_bytes(json.dumps(success()).encode())
    assert read_one_path(path).kind == "success"


def test_byte_order_mark_at_start_of_file_is_ignored(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(success()).encode() + b"\n")
    assert read_one_path(path).kind == "success"


def test_duplicate_custom_ids_are_all_reported(tmp_path):
    path = write_lines(tmp_path, success("M0-L001"), batch_error("M0-L001"))
    assert [r.kind for r in read_result_lines(path)] == ["success", "batch_error"]


def test_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert list(read_result_lines(path)) == []


# --- malformed lines become BadLines --------------------------------------------------------------


def test_invalid_utf8_is_a_bad_line(tmp_path):
    assert "UTF-8" in bad_reason(tmp_path, b'{"custom_id": "M0-L001\xff"}')


def test_invalid_json_is_a_bad_line(tmp_path):
    assert "JSON" in bad_reason(tmp_path, '{"custom_id": "M0-L001", ')


def test_deeply_nested_json_is_a_bad_line(tmp_path):
    assert "JSON" in bad_reason(tmp_path, "[" * 100_000 + "]" * 100_000)


def test_integer_with_too_many_digits_is_a_bad_line(tmp_path):
    assert bad_reason(tmp_path, '{"custom_id": "M0-L001", "x": ' + "9" * 10_000 + "}")


@pytest.mark.parametrize("value", ["[]", '"M0-L001"', "42", "null", "true"])
def test_json_value_that_is_not_an_object_is_a_bad_line(tmp_path, value):
    assert "not an object" in bad_reason(tmp_path, value)


def test_missing_custom_id_is_a_bad_line(tmp_path):
    line = success()
    del line["custom_id"]
    result = read_one(tmp_path, line)
    assert isinstance(result, BadLine) and "custom_id" in result.reason and result.custom_id is None


@pytest.mark.parametrize("custom_id", [1, None, ["M0-L001"], {"id": "M0-L001"}])
def test_custom_id_that_is_not_a_string_is_a_bad_line(tmp_path, custom_id):
    result = read_one(tmp_path, success(custom_id=custom_id))
    assert isinstance(result, BadLine) and "not a string" in result.reason and result.custom_id is None


HOSTILE_IDS = [
    "../x",
    "/etc/passwd",
    "C:\\x",
    "CON",
    "M0-L001/../../x",
    "M0-L001\x00",
    "\x00",
    "M0-L001\n",
    "x" * 10_000,
    "M0-L0001",
    "m0-l001",
    "",
    "\u202eM0-L001",
    "\ud800",
]


@pytest.mark.parametrize("custom_id", HOSTILE_IDS)
def test_custom_id_that_is_not_a_lesson_id_is_a_bad_line(tmp_path, custom_id):
    result = read_one(tmp_path, success(custom_id=custom_id))
    assert isinstance(result, BadLine)
    assert "not a lesson id" in result.reason
    assert result.lesson_id is None


@pytest.mark.parametrize("custom_id", HOSTILE_IDS)
def test_reported_custom_id_is_short_and_printable(tmp_path, custom_id):
    result = read_one(tmp_path, success(custom_id=custom_id))
    assert len(result.custom_id) <= 81
    assert result.custom_id.isprintable()
    assert result.reason.isprintable()
    result.reason.encode("utf-8")  # no lone surrogates: the reason can be printed or logged


def test_reported_custom_id_escapes_control_characters_visibly(tmp_path):
    assert read_one(tmp_path, success(custom_id="a\x00b\nc\\")).custom_id == "a\\x00b\\nc\\\\"


def test_long_custom_id_is_truncated_with_an_ellipsis(tmp_path):
    shown = read_one(tmp_path, success(custom_id="y" * 10_000)).custom_id
    assert shown == "y" * 80 + "…"


def test_bad_line_with_a_valid_custom_id_reports_it(tmp_path):
    line = success(custom_id="M3-L007")
    line["response"]["body"]["choices"] = []
    result = read_one(tmp_path, line)
    assert isinstance(result, BadLine)
    assert result.custom_id == "M3-L007" and result.lesson_id == "M3-L007"


def _mutated(path, value):
    line = success()
    *parents, last = path
    target = line
    for key in parents:
        target = target[key]
    target[last] = value
    return line


@pytest.mark.parametrize(
    "path, value",
    [
        (("response",), "ok"),
        (("response", "status_code"), "200"),
        (("response", "status_code"), 200.0),
        (("response", "status_code"), True),
        (("response", "status_code"), None),
        (("response", "body"), None),
        (("response", "body"), "text"),
        (("response", "body", "choices"), None),
        (("response", "body", "choices"), {"0": {}}),
        (("response", "body", "choices"), []),
        (("response", "body", "choices"), ["text"]),
        (("response", "body", "choices", 0, "message"), None),
        (("response", "body", "choices", 0, "message", "content"), 5),
        (("response", "body", "choices", 0, "message", "content"), ["# Lesson"]),
        (("response", "body", "choices", 0, "finish_reason"), 1),
        (("response", "body", "usage"), "lots"),
        (("response", "body", "usage", "prompt_tokens"), "100"),
        (("response", "body", "usage", "completion_tokens"), 1.5),
        (("response", "body", "usage", "completion_tokens"), -1),
        (("response", "body", "usage", "total_tokens"), False),
        (("response", "body", "usage", "prompt_tokens_details"), 3),
        (("response", "body", "usage", "prompt_tokens_details", "cached_tokens"), "80"),
        (("response", "body", "usage", "completion_tokens_details", "reasoning_tokens"), [10]),
    ],
)
def test_wrong_type_in_a_success_line_is_a_bad_line_naming_the_field(tmp_path, path, value):
    reason = bad_reason(tmp_path, _mutated(path, value))
    assert str(path[-1]) in reason or "choices" in reason


@pytest.mark.parametrize(
    "line",
    [
        {**request_error(), "response": {"status_code": 500, "body": {"error": "boom"}}},
        {**request_error(), "response": {"status_code": 500, "body": {"error": {"message": 7}}}},
        {**request_error(), "response": {"status_code": 500, "body": {"error": {"code": 7}}}},
        {**batch_error(), "error": "batch_expired"},
        {**batch_error(), "error": {"code": 3, "message": "x"}},
        {**batch_error(), "error": {"code": "batch_expired", "message": ["x"]}},
    ],
)
def test_wrong_type_in_an_error_line_is_a_bad_line(tmp_path, line):
    assert bad_reason(tmp_path, line)


def test_line_with_neither_response_nor_error_is_a_bad_line(tmp_path):
    assert "neither" in bad_reason(tmp_path, {"id": "batch_req_1", "custom_id": "M0-L001"})


def test_over_long_line_is_a_bad_line_and_reading_continues(tmp_path):
    huge = success(custom_id="M0-L001", content="x" * 5_000)
    path = write_lines(tmp_path, huge, success(custom_id="M0-L002"))
    first, second = read_result_lines(path, max_line_bytes=1_000)
    assert isinstance(first, BadLine) and "longer than 1000 bytes" in first.reason
    assert first.custom_id == "M0-L001"
    assert (second.line_number, second.kind, second.custom_id) == (2, "success", "M0-L002")


def test_over_long_line_without_a_recognisable_id_reports_none(tmp_path):
    path = write_lines(tmp_path, "z" * 5_000)
    (result,) = read_result_lines(path, max_line_bytes=1_000)
    assert isinstance(result, BadLine) and result.custom_id is None


def test_line_exactly_at_the_length_limit_is_read(tmp_path):
    line = json.dumps(success())
    path = write_lines(tmp_path, line)
    (result,) = read_result_lines(path, max_line_bytes=len(line))
    assert result.kind == "success"


# --- TokenUsage -----------------------------------------------------------------------------------


def test_token_usages_add_field_by_field():
    assert TokenUsage(1, 2, 3, 4) + TokenUsage(10, 20, 30, 40) == TokenUsage(11, 22, 33, 44)


def test_token_usages_can_be_summed_with_the_builtin_sum():
    assert sum([TokenUsage(1, 1), TokenUsage(2, 2)]) == TokenUsage(3, 3)


def test_total_tokens_is_prompt_plus_completion():
    assert TokenUsage(prompt_tokens=7, completion_tokens=5).total_tokens == 12


# --- properties -----------------------------------------------------------------------------------


_JSONISH_LINES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [
            json.dumps(success()).encode(),
            json.dumps(batch_error()).encode(),
            json.dumps(request_error()).encode(),
            b'{"custom_id": "M0-L001", "response": {"status_code": 200, "body": {}}}',
            b'{"custom_id": "../x"}',
            b"",
            b"\r",
            b"[[[[",
            b"\xef\xbb\xbf{}",
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    ).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_JSONISH_LINES, max_size=12))
def test_reading_arbitrary_lines_never_raises_and_numbers_lines_correctly(tmp_path, lines):
    path = tmp_path / "arbitrary.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    expected_numbers = [number for number, line in enumerate(lines, start=1) if line.strip()]
    results = list(read_result_lines(path))
    assert all(isinstance(result, (ResultLine, BadLine)) for result in results)
    # A BOM-only first line is blank once its BOM is dropped.
    if lines and lines[0].startswith(b"\xef\xbb\xbf") and not lines[0][3:].strip():
        expected_numbers = expected_numbers[1:]
    assert [result.line_number for result in results] == expected_numbers


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2_000))
def test_reading_arbitrary_bytes_never_raises(tmp_path, data):
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    for result in read_result_lines(path, max_line_bytes=100):
        assert isinstance(result, (ResultLine, BadLine))
        assert result.custom_id is None or result.custom_id.isprintable()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_every_custom_id_read_back_as_a_result_is_a_lesson_id(tmp_path, custom_id):
    from lesson_batch.ids import is_lesson_id

    result = read_one(tmp_path, success(custom_id=custom_id))
    if isinstance(result, ResultLine):
        assert is_lesson_id(result.custom_id)
    else:
        assert result.custom_id is None or result.custom_id.isprintable()


def test_prompt_cache_writes_are_read_from_the_prompt_tokens_details(tmp_path):
    usage = {"prompt_tokens": 1_000, "completion_tokens": 50, "total_tokens": 1_050,
             "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 900}}
    assert read_one(tmp_path, success(usage=usage)).usage == TokenUsage(
        prompt_tokens=1_000, completion_tokens=50, cache_write_tokens=900
    )


def test_prompt_cache_writes_of_a_responses_line_are_read_from_the_input_tokens_details(tmp_path):
    usage = {"input_tokens": 1_000, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 900},
             "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1_050}
    assert read_one(tmp_path, responses_record("M0-L001", usage=usage)).usage == TokenUsage(
        prompt_tokens=1_000, completion_tokens=50, cache_write_tokens=900
    )


def test_a_cache_write_count_that_is_not_a_count_makes_the_line_bad(tmp_path):
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cache_write_tokens": -1}}
    result = read_one(tmp_path, success(usage=usage))
    assert isinstance(result, BadLine) and "cache_write_tokens" in result.reason


def test_token_usages_add_their_cache_writes_too():
    assert TokenUsage(cache_write_tokens=3) + TokenUsage(cache_write_tokens=4) == TokenUsage(cache_write_tokens=7)


def test_an_answer_that_cannot_be_read_still_reports_the_tokens_it_was_billed_for():
    # A Responses API object whose output cannot be read (a flex answer, or a line of a batch):
    # unusable, but its usage says what was paid.
    body = {"object": "response", "status": "completed", "output": "not a list",
            "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100},
                      "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 7}, "total_tokens": 150}}
    item = result_of_response("M0-L001", 200, body)
    assert isinstance(item, BadLine) and "output" in item.reason
    assert item.usage == TokenUsage(prompt_tokens=120, completion_tokens=30, cached_tokens=100, reasoning_tokens=7)


def test_a_chat_answer_that_cannot_be_read_still_reports_the_tokens_it_was_billed_for():
    body = {"object": "chat.completion", "choices": "not a list",
            "usage": {"prompt_tokens": 120, "prompt_tokens_details": {"cached_tokens": 100},
                      "completion_tokens": 30, "completion_tokens_details": {"reasoning_tokens": 7}}}
    item = result_of_response("M0-L001", 200, body)
    assert isinstance(item, BadLine) and "choices" in item.reason
    assert item.usage == TokenUsage(prompt_tokens=120, completion_tokens=30, cached_tokens=100, reasoning_tokens=7)
