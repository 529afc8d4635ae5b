"""Result files given by hand (``process_batch_results.py --results-file``): what the mutation
runs of ``process_job.py`` and ``saving.py`` found unguarded (issue 19).

Such a run takes its turn with any other processing run of the work dir, as an ordinary run
does; a file it cannot write midway ends it with a plain message, not a traceback; and a file the
ledger records for a batch is read as that batch's own.
"""

from __future__ import annotations

import json

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from lesson_batch.process_job import ProcessRequest, WaitingForAnotherRun
from tests.helpers import (
    PROCESS_SCRIPT,
    ledger_awaiting_results,
    process_while_another_run_processes,
    run_script,
    success_record,
    unreadable_record,
)

LESSON = "# M0-L001\n\nA lesson.\n"


def test_a_run_given_result_files_waits_while_another_run_processes_and_says_so(tmp_path):
    """Issue 19: ``process_files_given`` 14-17, ``process_results`` 19."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], []).close()
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(success_record("M0-L001", LESSON)) + "\n", encoding="utf-8")

    said, summaries = process_while_another_run_processes(ProcessRequest(work, results_file=results, output_dir=out))

    assert [event for event in said if isinstance(event, WaitingForAnotherRun)] == [WaitingForAnotherRun(work)]
    assert [summary.total.saved for summary in summaries] == [["M0-L001"]]


def test_a_results_file_that_does_not_exist_is_named_in_plain_words(tmp_path):
    """Issue 19: ``process_results`` 7."""
    work = tmp_path / "work"
    ledger_awaiting_results(work, ["M0-L001"], []).close()

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--results-file", tmp_path / "nowhere.jsonl",
                        cwd=tmp_path)

    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said
    assert f"{tmp_path / 'nowhere.jsonl'}: file not found" in said, said


def test_a_file_that_cannot_be_written_midway_ends_the_run_with_a_plain_message(tmp_path):
    """A truncated lesson is kept under rejected/, which is a file here: the write fails (not a
    full disk). What the run says names the file and what to do; the lesson is not marked."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], []).close()
    (work / "rejected").write_text("not a folder\n", encoding="utf-8")
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(success_record("M0-L001", LESSON, finish_reason="length")) + "\n", encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--results-file", results,
                        cwd=tmp_path)

    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said
    assert "cannot write work/rejected/" in said, said
    assert "the lessons not saved stay as they are" in said and "fix the folder (lessons)" in said, said
    assert "run the same command again" in said, said
    with Ledger.open(work) as ledger:
        assert ledger.lessons(["M0-L001"])["M0-L001"].state == "submitted"


def test_an_unreadable_line_of_a_batch_s_own_file_given_by_hand_is_its_lesson_s_answer(tmp_path):
    """The results file the ledger records for batch_1, given with --results-file, is read as the
    batch's own: a line that cannot be read but names its lesson answers that lesson (its tokens
    were billed), and the batch is then done (issue 19: ``saving.process_files`` 41)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    with ledger_awaiting_results(work, ["M0-L001", "M0-L002"], []) as ledger:
        ledger.name_result_files("batch_1", "results_batch_1.jsonl", "errors_batch_1.jsonl")
    lines = [success_record("M0-L001", LESSON), unreadable_record("M0-L002", {"prompt_tokens": 700})]
    results = work / "results_batch_1.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--results-file", results, "--json",
                        cwd=tmp_path)

    assert "Traceback" not in result.stderr, result.stderr
    total = json.loads(result.stdout)["result"]["total"]
    assert (total["saved"], total["failed"]) == (1, {"unreadable_line": ["M0-L002"]})
    assert total["usage"]["prompt_tokens"] == 100 + 700
    with Ledger.open(work) as ledger:
        assert ledger.lessons(["M0-L002"])["M0-L002"].state == "invalid"
        assert ledger.batch("batch_1").processed_at is not None


def test_a_file_of_unknown_origin_answers_the_lessons_of_several_batches_each_in_its_own(tmp_path):
    """A file downloaded by hand answers whichever lessons await results: each lesson is checked
    and marked as its own batch requested it (issue 19, ahead of the run: ``saving._expected`` 7
    gave every lesson the first lesson's batch, and the ledger then marked the others nothing)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    with Ledger.open(work) as ledger:
        for number, lesson_id in ((1, "M0-L001"), (2, "M0-L002")):
            ledger.record_shard(
                shard_key=f"run{number}-s001", run_id=f"run{number}", model="gpt-6.1-terra",
                input_path=str(work / f"input{number}.jsonl"), sha256=str(number) * 64,
                lessons=[(lesson_id, 16_000, None)], prompt_tokens=1_000, output_tokens=1_000, required_sections=[],
            )
            ledger.shard_uploaded(f"run{number}-s001", f"file-input-{number}")
            ledger.shard_submitted(f"run{number}-s001", BatchInfo(
                id=f"batch_{number}", status="completed", input_file_id=f"file-input-{number}", request_total=1,
            ))
    hand = tmp_path / "downloaded_by_hand.jsonl"
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    hand.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--results-file", hand, "--json",
                        cwd=tmp_path)

    assert "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["result"]["total"]["saved"] == 2
    with Ledger.open(work) as ledger:
        assert {lesson_id: (lesson.state, lesson.batch_id) for lesson_id, lesson in ledger.lessons().items()} == {
            "M0-L001": ("succeeded", "batch_1"), "M0-L002": ("succeeded", "batch_2")}
        assert not [batch.batch_id for batch in ledger.batches() if batch.awaits_processing]
