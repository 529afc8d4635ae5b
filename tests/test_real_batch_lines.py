"""Result lines that OpenAI's Batch API really wrote, processed as a user would.

The lines live next to the repository (``../shared/real_batch_lines``: ``output.jsonl``,
``errors.jsonl``, ``expected.json`` saying what should happen to each, ``expected/<id>.md`` the
exact text of each saved lesson); they are read from there and never copied in. Without them
these tests are skipped.

A ledger is set up as after a real submission of the nineteen lessons the lines answer, then
``process_batch_results.py --results-file ... --errors-file ...`` runs with no API access.
"""

from __future__ import annotations

import json

import pytest

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.lesson_text import required_sections_of
from tests.helpers import (
    BUNDLED_CURRICULUM,
    BUNDLED_TEMPLATE,
    GENERATE_SCRIPT,
    PROCESS_SCRIPT,
    REAL_BATCH_LINES,
    STATUS_SCRIPT,
    run_script,
)

pytestmark = pytest.mark.real_batch_lines  # skipped without them, saying how many and why (tests/conftest.py)

CATEGORY_TO_REPORTED = {
    "truncated": "truncated", "missing_sections": "missing_sections", "unclosed_fence": "unclosed_fence",
    "refusal": "refusal", "expired": "batch_expired",
}


@pytest.fixture(scope="module")
def expected():
    return json.loads((REAL_BATCH_LINES / "expected.json").read_text(encoding="utf-8"))["lessons"]


@pytest.fixture(scope="module")
def processed(tmp_path_factory, expected):
    root = tmp_path_factory.mktemp("real_lines")
    work, out = root / "work", root / "lessons"
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="real-s001", run_id="real", model="gpt-4o-mini", input_path=str(work / "input.jsonl"),
            sha256="0" * 64, lessons=[(lesson_id, 8_000, None) for lesson_id in expected], prompt_tokens=1_000,
            output_tokens=1_000, required_sections=required_sections_of(BUNDLED_TEMPLATE.read_text(encoding="utf-8")),
        )
        ledger.shard_uploaded("real-s001", "file-real-input")
        ledger.shard_submitted(
            "real-s001", BatchInfo(id="batch_real", status="completed", input_file_id="file-real-input")
        )
    result = run_script(
        PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json",
        "--results-file", REAL_BATCH_LINES / "output.jsonl", "--errors-file", REAL_BATCH_LINES / "errors.jsonl",
        cwd=root,
    )
    return root, work, out, result


def _summary(processed):
    *_, result = processed
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)["result"]["total"]


def test_every_good_real_lesson_is_saved_with_exactly_the_expected_text(processed, expected):
    _root, _work, out, _result = processed
    for lesson_id, entry in expected.items():
        path = out / f"{lesson_id}.md"
        if entry["saved"]:
            assert path.read_bytes() == (REAL_BATCH_LINES / entry["text"]).read_bytes(), lesson_id
        else:
            assert not path.exists(), lesson_id


def test_every_real_line_that_is_not_saved_is_reported_under_its_own_reason(processed, expected):
    failed = _summary(processed)["failed"]
    for lesson_id, entry in expected.items():
        if entry["saved"]:
            continue
        reason = CATEGORY_TO_REPORTED.get(entry["category"]) or f"http_{entry['status']}"
        assert lesson_id in failed.get(reason, []), (lesson_id, reason, failed)


def test_a_real_refusal_is_reported_as_a_refusal_with_its_text_not_as_an_empty_lesson(processed, expected):
    summary = _summary(processed)
    refused = [lesson_id for lesson_id, entry in expected.items() if entry.get("category") == "refusal"]
    assert refused and summary["failed"]["refusal"] == refused
    assert "empty" not in summary["failed"]
    for lesson_id in refused:
        assert summary["refusals"][lesson_id] == "I'm very sorry, but I can't assist with that request."
    *_, result = processed
    assert f"{refused[0]} refused: I'm very sorry, but I can't assist with that request." in result.stderr


def test_real_lines_served_as_the_batch_api_serves_them_are_not_reported_as_missing_the_discount(processed):
    # OpenAI's Batch API writes service_tier "default" (or none) on its output lines
    assert _summary(processed)["not_at_batch_rates"] == {}
    *_, result = processed
    assert "discount did not apply" not in result.stderr


def test_the_next_plan_requests_exactly_the_real_lessons_that_were_not_saved(processed, expected):
    root, work, out, _result = processed
    plan = run_script(
        GENERATE_SCRIPT, "--dry-run", "--model", "gpt-4o-mini", "--work-dir", work, "--output-dir", out,
        "--curriculum", BUNDLED_CURRICULUM, "--lessons", ",".join(expected), cwd=root,
        env={"LESSON_BATCH_TODAY": "2026-12-02"},
    )
    assert plan.returncode == 0, plan.stderr
    # An HTTP 400 is the request's own fault (retry "either" in expected.json): the same request
    # would fail again, so it is held for a person instead of being requested again unchanged.
    held = [lesson_id for lesson_id, entry in expected.items() if entry.get("status") == 400]
    assert held and all(expected[lesson_id]["retry"] == "either" for lesson_id in held)
    not_saved = [lesson_id for lesson_id, entry in expected.items() if not entry["saved"] and lesson_id not in held]
    assert f"to request: {len(not_saved)}" in plan.stdout
    held_line = f"the same request would fail again (HTTP 400; held back): {len(held)}: {', '.join(sorted(held))}"
    assert held_line in plan.stdout

    truncated = [lesson_id for lesson_id, entry in expected.items() if entry.get("category") == "truncated"]
    assert f"{len(truncated)} truncated before: requested again with a larger budget" in plan.stdout
    input_file = work / "datagov_lessons_input.jsonl"
    lines = [json.loads(line) for line in input_file.read_text(encoding="utf-8").splitlines()]
    budgets = {line["custom_id"]: line["body"]["max_completion_tokens"] for line in lines}
    assert sorted(budgets) == sorted(not_saved)
    assert {budgets[lesson_id] for lesson_id in truncated} == {16_000}  # 8,000 doubled, within gpt-4o-mini's 16,384


def test_status_lists_the_refusal_with_its_text(processed):
    root, work, _out, _result = processed
    # the batch is recorded as completed and checked, so the status script asks the API nothing
    status = run_script(STATUS_SCRIPT, "--work-dir", work, "--json", "--lessons", cwd=root,
                        env={"OPENAI_API_KEY": "sk-test-offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "Traceback" not in status.stderr, status.stderr
    lessons = {entry["lesson_id"]: entry for entry in json.loads(status.stdout)["result"]["unsaved_lessons"]}
    refusal = [entry for entry in lessons.values() if (entry["reason"] or "").startswith("refusal:")]
    assert [entry["reason"] for entry in refusal] == ["refusal: I'm very sorry, but I can't assist with that request."]
