"""Responses API lines that OpenAI's Batch API really wrote (round 2), processed as a user would.

The lines live next to the repository (``../shared/real_batch_lines/round2``:
``responses_output.jsonl``, ``expected.json`` saying what should happen to each line, in a
``/v1/responses`` batch and, under ``if_chat_batch``, in a ``/v1/chat/completions`` one;
``expected/<id>.md`` the exact text of each saved lesson). They are read from there and never
copied in; without them these tests are skipped. (Round 2's chat lines are another test's.)

A ledger is set up as after a real submission of the lessons the lines answer, in a completed
batch sent to one endpoint or the other, and the batch's results are applied as
``process_batch_results.py`` applies a downloaded file.
"""

from __future__ import annotations

import json

import pytest

from lesson_batch.batch_info import CHAT_ENDPOINT, RESPONSES_ENDPOINT, BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.lesson_text import required_sections_of
from lesson_batch.saving import Processing, apply_batch
from tests.helpers import BUNDLED_CURRICULUM, BUNDLED_TEMPLATE, GENERATE_SCRIPT, REAL_BATCH_LINES, run_script

ROUND2 = REAL_BATCH_LINES / "round2"
LINES = ROUND2 / "responses_output.jsonl"
MODEL = "gpt-4o-mini"  # what the ledger says was requested (the lines come from gpt-4.1-nano and gpt-4o-mini)

pytestmark = pytest.mark.skipif(
    not (ROUND2 / "expected.json").is_file() or not LINES.is_file(), reason=f"no real Responses lines at {ROUND2}"
)


@pytest.fixture(scope="module")
def expected():
    lessons = json.loads((ROUND2 / "expected.json").read_text(encoding="utf-8"))["lessons"]
    return {lesson_id: entry for lesson_id, entry in lessons.items() if entry["file"] == "responses_output"}


def apply_real_lines(root, lesson_ids, endpoint):
    """The real lines applied to a completed batch of ``lesson_ids`` sent to ``endpoint``."""
    work, out = root / "work", root / "lessons"
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="real-s001", run_id="real", model=MODEL, input_path=str(work / "input.jsonl"), sha256="0" * 64,
            lessons=[(lesson_id, 8_000, None) for lesson_id in lesson_ids], prompt_tokens=1_000, output_tokens=1_000,
            required_sections=required_sections_of(BUNDLED_TEMPLATE.read_text(encoding="utf-8")), endpoint=endpoint,
        )
        ledger.shard_uploaded("real-s001", "file-real-input")
        ledger.shard_submitted("real-s001", BatchInfo(
            id="batch_real", status="completed", input_file_id="file-real-input", output_file_id="file-real-output",
            request_total=len(lesson_ids), request_completed=len(lesson_ids),
        ))
        report = apply_batch(Processing.of(ledger, out, work), ledger.batch("batch_real"), [LINES])
    return work, out, report


@pytest.fixture(scope="module")
def in_responses_batch(tmp_path_factory, expected):
    return apply_real_lines(tmp_path_factory.mktemp("real_responses"), list(expected), RESPONSES_ENDPOINT)


@pytest.fixture(scope="module")
def in_chat_batch(tmp_path_factory, expected):
    return apply_real_lines(tmp_path_factory.mktemp("real_responses_in_chat"), list(expected), CHAT_ENDPOINT)


def test_there_are_real_responses_lines_to_check(expected):
    assert len(expected) == 4 and all(entry["batch"] == "responses" for entry in expected.values())


# --------------------------------------------------------------------------- in a /v1/responses batch


def test_every_good_real_responses_lesson_is_saved_with_exactly_the_expected_text(in_responses_batch, expected):
    _work, out, report = in_responses_batch
    for lesson_id, entry in expected.items():
        path = out / f"{lesson_id}.md"
        if entry["saved"]:
            assert path.read_bytes() == (ROUND2 / entry["text"]).read_bytes(), lesson_id
        else:
            assert not path.exists(), lesson_id
    assert sorted(report.saved) == sorted(lesson_id for lesson_id, entry in expected.items() if entry["saved"])


def test_every_real_responses_line_not_saved_is_reported_under_its_own_reason(in_responses_batch, expected):
    _work, _out, report = in_responses_batch
    for lesson_id, entry in expected.items():
        if not entry["saved"]:
            assert lesson_id in report.failed.get(entry["category"], []), (lesson_id, report.failed)
    assert report.missing == []


def test_the_usage_of_the_real_responses_lines_is_read_from_their_own_fields(in_responses_batch):
    _work, _out, report = in_responses_batch
    usages = [json.loads(line)["response"]["body"]["usage"] for line in LINES.read_text(encoding="utf-8").splitlines()]
    assert report.usage.prompt_tokens == sum(usage["input_tokens"] for usage in usages)
    assert report.usage.completion_tokens == sum(usage["output_tokens"] for usage in usages)
    assert report.usage.cached_tokens == sum(usage["input_tokens_details"]["cached_tokens"] for usage in usages)
    assert report.usage.reasoning_tokens == sum(usage["output_tokens_details"]["reasoning_tokens"] for usage in usages)
    assert report.usage.prompt_tokens > 0 and report.usage.completion_tokens > 0


def test_the_next_plan_requests_exactly_the_real_responses_lessons_to_retry_on_v1_responses(
    in_responses_batch, expected
):
    work, out, _report = in_responses_batch
    plan = run_script(
        GENERATE_SCRIPT, "--dry-run", "--model", MODEL, "--endpoint", "responses", "--work-dir", work,
        "--output-dir", out, "--curriculum", BUNDLED_CURRICULUM, "--lessons", ",".join(expected),
        cwd=work.parent, env={"LESSON_BATCH_TODAY": "2026-12-02"},
    )
    assert plan.returncode == 0, plan.stderr
    retried = sorted(lesson_id for lesson_id, entry in expected.items() if entry["retry"] == "required")
    input_file = work / "datagov_lessons_input.jsonl"
    lines = [json.loads(line) for line in input_file.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["custom_id"] for line in lines) == retried
    assert {line["url"] for line in lines} == {RESPONSES_ENDPOINT}


# --------------------------------------------------------------------------- in a /v1/chat/completions batch


def test_no_real_responses_line_is_saved_from_a_chat_batch(in_chat_batch, expected):
    _work, out, report = in_chat_batch
    assert all(not entry["if_chat_batch"]["saved"] for entry in expected.values())
    assert report.saved == [] and not any(out.glob("*.md"))


def test_each_real_responses_line_in_a_chat_batch_is_reported_as_a_responses_object(in_chat_batch, expected):
    _work, _out, report = in_chat_batch
    for lesson_id, entry in expected.items():
        assert lesson_id in report.failed.get(entry["if_chat_batch"]["category"], []), (lesson_id, report.failed)


def test_real_responses_lines_in_a_chat_batch_are_not_reported_missing(in_chat_batch, expected):
    _work, _out, report = in_chat_batch
    assert all(not entry["if_chat_batch"]["reported_missing"] for entry in expected.values())
    assert report.missing == []


def test_the_ledger_says_why_in_plain_words(in_chat_batch, expected):
    work, _out, _report = in_chat_batch
    with Ledger.open(work) as ledger:
        reasons = {lesson_id: record.reason for lesson_id, record in ledger.lessons(expected).items()}
    for lesson_id in expected:
        assert reasons[lesson_id].startswith(
            'responses_object: the line is a Responses API object ("object": "response"), but its batch batch_real '
            "was sent to /v1/chat/completions"
        ), reasons[lesson_id]
