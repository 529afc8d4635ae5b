"""Round 2 of the result lines and Batch objects OpenAI's Batch API really wrote (see its PROVENANCE.md).

The lines live next to the repository (``../shared/real_batch_lines/round2``) and are read from
there, never copied in; without them these tests are skipped. This module covers what concerns a
batch sent to ``/v1/chat/completions``: ``output.jsonl`` and ``errors.jsonl`` of such a batch,
``responses_output.jsonl``'s lines as they would meet a chat batch (``if_chat_batch`` in
``expected.json``), and the completed Batch objects of ``batch_objects/`` as the status shows them.

A ledger is set up as after a real submission of the ten lessons in one chat batch whose output
and error files are already downloaded into the work dir, then ``process_batch_results.py`` runs
as a user runs it (it asks the API nothing: the batch is finished and its files are on disk).
"""

from __future__ import annotations

import json
import re

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

ROUND2 = REAL_BATCH_LINES / "round2"
pytestmark = pytest.mark.skipif(
    not (ROUND2 / "expected.json").is_file(), reason=f"no round 2 real batch lines at {ROUND2}"
)

OFFLINE = {"OPENAI_API_KEY": "sk-test-offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
TODAY = {"LESSON_BATCH_TODAY": "2026-12-02"}
MODEL = "gpt-4o-mini"
BUDGET = 8_000
CATEGORY_TO_REPORTED = {"truncated": "truncated", "missing_sections": "missing_sections"}


@pytest.fixture(scope="module")
def expected():
    return json.loads((ROUND2 / "expected.json").read_text(encoding="utf-8"))["lessons"]


def as_in_a_chat_batch(entry: dict) -> dict:
    """What ``expected.json`` says of a lesson when its line is in a chat batch's output file."""
    return {**entry, **entry["if_chat_batch"]} if "if_chat_batch" in entry else entry


def real_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (ROUND2 / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def processed(tmp_path_factory, expected):
    """One chat batch of all ten lessons; its output file holds the five chat lines and the four
    Responses lines, its error file the 400 line; processed as a user does."""
    root = tmp_path_factory.mktemp("real_lines_round2")
    work, out = root / "work", root / "lessons"
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="real2-s001", run_id="real2", model=MODEL, input_path=str(work / "input.jsonl"),
            sha256="0" * 64, lessons=[(lesson_id, BUDGET, None) for lesson_id in expected], prompt_tokens=1_000,
            output_tokens=1_000, required_sections=required_sections_of(BUNDLED_TEMPLATE.read_text(encoding="utf-8")),
        )
        ledger.shard_uploaded("real2-s001", "file-real2-input")
        ledger.shard_submitted("real2-s001", BatchInfo(
            id="batch_real2", status="completed", input_file_id="file-real2-input", output_file_id="file-real2-out",
            error_file_id="file-real2-err", request_total=10, request_completed=9, request_failed=1,
        ))
        ledger.name_result_files("batch_real2", "results_real2.jsonl", "errors_real2.jsonl")
    # The batch's files as downloaded into the work dir (the test's own copies, in tmp_path).
    (work / "results_real2.jsonl").write_bytes(
        (ROUND2 / "output.jsonl").read_bytes() + (ROUND2 / "responses_output.jsonl").read_bytes()
    )
    (work / "errors_real2.jsonl").write_bytes((ROUND2 / "errors.jsonl").read_bytes())
    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json", env=OFFLINE, cwd=root)
    return root, work, out, result


def _summary(processed) -> dict:
    *_, result = processed
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)["result"]


def _lessons(work) -> dict:
    with Ledger.open(work) as ledger:
        return ledger.lessons()


def test_every_good_round2_lesson_is_saved_with_exactly_the_expected_text(processed, expected):
    _root, _work, out, _result = processed
    for lesson_id, entry in expected.items():
        entry = as_in_a_chat_batch(entry)
        path = out / f"{lesson_id}.md"
        if entry["saved"]:
            assert path.read_bytes() == (ROUND2 / entry["text"]).read_bytes(), lesson_id
        else:
            assert not path.exists(), lesson_id


def test_every_round2_chat_line_not_saved_is_reported_under_its_own_reason(processed, expected):
    failed = _summary(processed)["total"]["failed"]
    for lesson_id, entry in expected.items():
        if entry["batch"] != "chat" or entry["saved"]:
            continue
        reason = CATEGORY_TO_REPORTED.get(entry["category"]) or f"http_{entry['status']}"
        assert lesson_id in failed.get(reason, []), (lesson_id, reason, failed)


def test_a_line_that_cannot_be_read_but_names_its_lesson_is_not_reported_missing(processed, expected):
    """The four Responses API objects in a chat batch's output file: each names its lesson, which
    was answered (by a line that cannot be used), not left out of the batch's files."""
    root, work, _out, result = processed
    unreadable = [lesson_id for lesson_id, entry in expected.items()
                  if as_in_a_chat_batch(entry).get("reported_missing") is False]
    assert len(unreadable) == 4
    total = _summary(processed)["total"]
    assert not set(unreadable) & set(total["missing"]), total["missing"]
    assert "missing from the results" not in result.stderr
    lessons = _lessons(work)
    for lesson_id in unreadable:
        assert "not in the batch's output or error file" not in (lessons[lesson_id].reason or ""), lesson_id
        assert "Responses API object" in lessons[lesson_id].reason, lessons[lesson_id].reason
    status = run_script(STATUS_SCRIPT, "--work-dir", work, "--json", "--lessons", env=OFFLINE, cwd=root)
    reasons = {entry["lesson_id"]: entry["reason"] for entry in json.loads(status.stdout)["result"]["unsaved_lessons"]}
    for lesson_id in unreadable:
        assert "Responses API object" in reasons[lesson_id], reasons[lesson_id]


def billed(line: dict) -> tuple[int, int]:
    """The input and output tokens a real line reports, in either API's names (read here, from the
    line itself)."""
    usage = ((line.get("response") or {}).get("body") or {}).get("usage") or {}
    return (usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0,
            usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)


def test_the_tokens_of_lines_that_cannot_be_used_count_in_the_usage_and_the_cost(processed):
    lines = real_lines("output.jsonl") + real_lines("responses_output.jsonl") + real_lines("errors.jsonl")
    prompt = sum(billed(line)[0] for line in lines)
    completion = sum(billed(line)[1] for line in lines)
    unreadable_prompt = sum(billed(line)[0] for line in real_lines("responses_output.jsonl"))
    assert unreadable_prompt > 0  # the Responses lines report tokens: they were billed
    usage = _summary(processed)["total"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
    # the cost is the Batch price of those very tokens (gpt-4o-mini: $0.075 / $0.30 per 1M, 2026-12-02)
    cost = _summary(processed)["total"]["actual_cost_usd"]
    assert cost == pytest.approx((prompt * 0.075 + completion * 0.30) / 1_000_000, abs=1e-4)


def test_a_400_context_length_exceeded_is_held_for_a_person_with_its_reason(processed, expected):
    _root, work, _out, _result = processed
    never_unchanged = [lesson_id for lesson_id, entry in expected.items() if entry["retry"] == "never_unchanged"]
    assert never_unchanged == ["M2-L009"]
    lesson = _lessons(work)["M2-L009"]
    assert lesson.state == "needs_attention"
    assert "context_length_exceeded" in lesson.reason and "maximum context length is 128000" in lesson.reason


def _plan(processed, expected, *extra):
    root, work, out, _result = processed
    plan = run_script(
        GENERATE_SCRIPT, "--dry-run", "--model", MODEL, "--work-dir", work, "--output-dir", out,
        "--curriculum", BUNDLED_CURRICULUM, "--lessons", ",".join(expected), *extra, cwd=root, env=TODAY,
    )
    assert plan.returncode == 0, plan.stderr
    input_file = work / "datagov_lessons_input.jsonl"
    requests = [json.loads(line) for line in input_file.read_text(encoding="utf-8").splitlines()]
    return plan, {line["custom_id"]: line["body"]["max_completion_tokens"] for line in requests}


def test_a_request_that_would_fail_again_unchanged_is_not_requested_again_even_with_more_attempts(processed, expected):
    for extra in ((), ("--max-attempts", "10")):
        plan, budgets = _plan(processed, expected, *extra)
        assert "M2-L009" not in budgets, extra
        assert "the same request would fail again (HTTP 400; held back): 1: M2-L009" in plan.stdout


def test_the_next_plan_requests_exactly_the_round2_lessons_that_can_still_succeed(processed, expected):
    plan, budgets = _plan(processed, expected)
    in_chat_batch = {lesson_id: as_in_a_chat_batch(entry) for lesson_id, entry in expected.items()}
    again = sorted(lesson_id for lesson_id, entry in in_chat_batch.items()
                   if not entry["saved"] and entry["retry"] != "never_unchanged")
    assert f"to request: {len(again)}" in plan.stdout
    assert sorted(budgets) == again
    truncated = [lesson_id for lesson_id, entry in in_chat_batch.items() if entry.get("category") == "truncated"]
    assert {budgets[lesson_id] for lesson_id in truncated} == {2 * BUDGET}


# --------------------------------------------------------------------------- real Batch objects


def _field(text: str, name: str) -> str | None:
    found = re.search(rf"\b{name}=(None|'[^']*')", text)
    return None if found is None or found.group(1) == "None" else found.group(1).strip("'")


def batch_objects() -> list[tuple[str, dict, dict]]:
    """(file, the Batch object's fields, what expected_batches.json says of that state), for every
    completed state with request counts; read from the real files (reprs and JSON)."""
    if not (ROUND2 / "batch_objects" / "expected_batches.json").is_file():
        return []
    described = json.loads((ROUND2 / "batch_objects" / "expected_batches.json").read_text(encoding="utf-8"))
    found = []
    for entry in described["batches"]:
        text = (ROUND2 / "batch_objects" / entry["file"]).read_text(encoding="utf-8")
        if entry["file"].endswith(".json"):
            data = json.loads(text)
            objects = [{"status": data["status"], "output_file_id": data.get("output_file_id"),
                        "error_file_id": data.get("error_file_id"), **data["request_counts"]}]
        else:
            objects = []
            for part in text.split("Batch(id=")[1:]:
                counts = re.search(r"BatchRequestCounts\(completed=(\d+), failed=(\d+), total=(\d+)\)", part)
                named = zip(("completed", "failed", "total"), map(int, counts.groups()), strict=True) if counts else ()
                objects.append({
                    "status": _field(part, "status"), "output_file_id": _field(part, "output_file_id"),
                    "error_file_id": _field(part, "error_file_id"),
                    **dict(named),
                })
        if not objects:  # not a whole Batch object (a BatchError, a few quoted fields)
            continue
        for fields, state in zip(objects, entry["states"], strict=True):
            if state["status"] == "completed" and state["request_counts"]:
                found.append((entry["file"], fields, state))
    return found


@pytest.mark.parametrize("name, fields, state", batch_objects(), ids=[item[0][:40] for item in batch_objects()])
def test_a_completed_real_batch_is_called_plain_success_only_when_every_request_succeeded(
    tmp_path, name, fields, state
):
    assert fields["status"] == state["status"]
    assert (fields["completed"], fields["failed"], fields["total"]) == tuple(
        state["request_counts"][key] for key in ("completed", "failed", "total"))
    work = tmp_path / "work"
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="obj-s001", run_id="obj", model=MODEL, input_path=str(work / "input.jsonl"), sha256="0" * 64,
            lessons=[("M0-L001", BUDGET, None)], prompt_tokens=1_000, output_tokens=1_000, required_sections=[],
        )
        ledger.shard_uploaded("obj-s001", "file-obj-input")
        ledger.shard_submitted("obj-s001", BatchInfo(
            id="batch_obj", status=fields["status"], input_file_id="file-obj-input",
            output_file_id=fields["output_file_id"], error_file_id=fields["error_file_id"],
            request_total=fields["total"], request_completed=fields["completed"], request_failed=fields["failed"],
        ))
    status = run_script(STATUS_SCRIPT, "--work-dir", work, env=OFFLINE, cwd=tmp_path)
    assert "Traceback" not in status.stderr, status.stderr
    said = status.stdout
    if state["plain_success"]:
        assert "Done: the results are ready." in said
    else:
        assert "Done: the results are ready." not in said
        assert f"{fields['failed']:,} of" in said
    if state["all_failed"]:
        assert "every request failed" in said
    as_json = run_script(STATUS_SCRIPT, "--work-dir", work, "--json", env=OFFLINE, cwd=tmp_path)
    meaning = json.loads(as_json.stdout)["result"]["batches"][0]["meaning"]
    assert (meaning == "Done: the results are ready.") == state["plain_success"], meaning
