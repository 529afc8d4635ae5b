"""Processing one batch's own files: what the mutation runs of ``saving.py`` and
``existing_lesson.py`` found unguarded (issue 19; the mutants are named in each test).

A line that cannot be read but names its lesson is that lesson's answer (its tokens were billed),
not a missing one, unless the batch never asked for that lesson; a lesson no line answers, at the
attempts cap, is held for a person at once; a lesson saved over an older file, kept aside beside
one, or whose file already holds its very bytes was answered; a good lesson whose path holds a
folder is kept aside and reported under its reason. The batch is recorded in the ledger and its
files are on disk, as after a download; ``process_batch_results.py`` then runs offline, as a user
runs it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from openai import OpenAI

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger, NotSaved
from lesson_batch.states import FAILED, INVALID, NEEDS_ATTENTION, SUCCEEDED, TRUNCATED
from tests.helpers import PROCESS_SCRIPT, run_script, success_record, unreadable_record
from tests.v1_ledger import PLAIN_ERRORS, PLAIN_RESULTS, V1Batch, V1WorkDir

OFFLINE = {"OPENAI_API_KEY": "sk-test-offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
LESSON = "# M0-L001\n\nA lesson.\n"
BILLED = {"prompt_tokens": 700, "completion_tokens": 3_000, "total_tokens": 3_700}


def batch_awaiting_results(work, force: bool = False, input_path=None, error_file_id=None) -> None:
    """Batch ``batch_1`` of M0-L001 and M0-L002, completed, its files named (as before a download)."""
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="run1-s001", run_id="run1", model="gpt-6.1-terra",
            input_path=str(input_path or work / "input.jsonl"),
            sha256="0" * 64, lessons=[("M0-L001", 16_000, None), ("M0-L002", 16_000, None)], prompt_tokens=1_000,
            output_tokens=1_000, required_sections=[], force=force,
        )
        ledger.shard_uploaded("run1-s001", "file-input")
        ledger.shard_submitted("run1-s001", BatchInfo(
            id="batch_1", status="completed", input_file_id="file-input", output_file_id="file-out",
            error_file_id=error_file_id, request_total=2, request_completed=2,
        ))
        ledger.name_result_files("batch_1", "results_batch_1.jsonl", "errors_batch_1.jsonl")


def write_batch_results(work, lines: list[dict]) -> None:
    """The batch's output file, as downloaded: one JSON line per result."""
    (work / "results_batch_1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def process(tmp_path, work, out) -> dict:
    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json", env=OFFLINE, cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)["result"]["total"]


def test_an_unreadable_line_naming_its_lesson_is_that_lesson_s_answer_not_a_missing_one(tmp_path):
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    # M0-L002's line: a 200 whose body has its usage and no choices (billed, nothing to read).
    lines = [success_record("M0-L001", LESSON), unreadable_record("M0-L002", BILLED)]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert total["missing"] == []
    assert total["failed"] == {"unreadable_line": ["M0-L002"]}
    # Its billed tokens count: M0-L001's line (100 in, 50 out) and M0-L002's.
    assert (total["usage"]["prompt_tokens"], total["usage"]["completion_tokens"]) == (100 + 700, 50 + 3_000)
    with Ledger.open(work) as ledger:
        lessons = ledger.lessons()
    assert lessons["M0-L001"].state == SUCCEEDED
    assert (lessons["M0-L002"].state, lessons["M0-L002"].attempts) == (INVALID, 1)
    assert "not in the batch's output or error file" not in (lessons["M0-L002"].reason or "")


def test_a_lesson_missing_from_its_batch_s_files_at_the_attempts_cap_is_held_for_a_person_at_once(tmp_path):
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    with Ledger.open(work) as ledger:
        ledger.set_max_attempts(1)  # as a run with --max-attempts 1 records it
    write_batch_results(work, [success_record("M0-L001", LESSON)])

    total = process(tmp_path, work, out)

    assert total["missing"] == ["M0-L002"]
    with Ledger.open(work) as ledger:
        assert ledger.lessons(["M0-L002"])["M0-L002"].state == NEEDS_ATTENTION


def test_a_lesson_saved_over_an_older_file_is_answered_not_missing(tmp_path):
    """``--force``: the new lesson replaces the file already there (kept aside); it was answered."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work, force=True)
    out.mkdir()
    (out / "M0-L001.md").write_text("# An older version\n", encoding="utf-8")
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert (total["saved"], total["replaced"], total["missing"]) == (2, 1, [])
    assert (out / "M0-L001.md").read_text(encoding="utf-8") == LESSON


def test_a_lesson_saved_from_a_batch_records_the_lessons_folder_it_went_to(tmp_path):
    """What a later run with another --output-dir reads to say where a lesson is, instead of
    paying for it again."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    process(tmp_path, work, out)

    with Ledger.open(work) as ledger:
        assert ledger.saved_folders() == {"M0-L001": str(out.resolve()), "M0-L002": str(out.resolve())}


def test_an_unreadable_line_naming_a_lesson_not_in_the_batch_is_reported_and_changes_nothing(tmp_path):
    """Issue 19, ``_unreadable_line`` 2, 3, 7: such a line is not the batch's answer for any lesson."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    lines = [success_record("M0-L001", LESSON), unreadable_record("M0-L009", BILLED),
             success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert (total["saved"], total["failed"], total["missing"]) == (2, {}, [])
    assert [line for line in total["bad_lines"] if "M0-L009" in line], total["bad_lines"]
    # Only the batch's own lessons' tokens count (100 in, 50 out each).
    assert (total["usage"]["prompt_tokens"], total["usage"]["completion_tokens"]) == (200, 100)
    with Ledger.open(work) as ledger:
        assert {lesson_id: lesson.state for lesson_id, lesson in ledger.lessons().items()} == {
            "M0-L001": SUCCEEDED, "M0-L002": SUCCEEDED}


def test_a_good_lesson_whose_path_holds_a_folder_is_reported_under_its_reason_kept_aside_and_marked_failed(tmp_path):
    """Issue 19, ``_path_problem`` 12: the reason a ``--json`` reader finds the lesson under."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    (out / "M0-L001.md").mkdir(parents=True)
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert total["failed"] == {"lesson path not a regular file": ["M0-L001"]}
    assert list(total["path_problems"]) == ["M0-L001"]
    assert (work / "not_overwritten" / "M0-L001.md").read_text(encoding="utf-8") == LESSON
    with Ledger.open(work) as ledger:
        assert ledger.lessons(["M0-L001"])["M0-L001"].state == FAILED


def test_a_lesson_not_saved_over_an_existing_file_is_answered_not_missing(tmp_path):
    """Without --force the file already there stays, the new version is kept aside: the lesson was
    answered (issue 19: ``existing_lesson.save_over_existing`` 23)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    out.mkdir()
    (out / "M0-L001.md").write_text("# Written by hand\n", encoding="utf-8")
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert (total["saved"], total["kept_existing"], total["missing"]) == (1, 1, [])
    assert (out / "M0-L001.md").read_text(encoding="utf-8") == "# Written by hand\n"
    assert (work / "not_overwritten" / "M0-L001.md").read_text(encoding="utf-8") == LESSON


def test_a_lesson_whose_file_already_holds_its_very_bytes_is_saved_not_missing(tmp_path):
    """An earlier run wrote the file and was stopped before the ledger knew: the lesson counts as
    saved, answered by its line (issue 19: ``existing_lesson.save_over_existing`` 31)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    out.mkdir()
    (out / "M0-L001.md").write_text(LESSON, encoding="utf-8")
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert (total["saved"], total["kept_existing"], total["missing"]) == (2, 0, [])
    with Ledger.open(work) as ledger:
        assert ledger.lessons(["M0-L001"])["M0-L001"].state == SUCCEEDED


def _error_line(lesson_id: str) -> dict:
    return {"id": "batch_req_1", "custom_id": lesson_id, "error": None, "response": {
        "status_code": 500, "request_id": "req_1", "body": {"error": {"code": "server_error", "message": "Oops."}}}}


@pytest.mark.parametrize("kept", ["results file", "errors file"])
def test_a_batch_an_older_version_left_with_only_one_of_its_files_named_is_processed_from_it(tmp_path, kept):
    """A version-1 work dir: the batch's results were downloaded under the plain name, its other
    file never was (there was none). The upgrade names the one on disk; processing names the other
    by the batch id and reads both (issue 19: ``process_job.download_results`` 2-4)."""
    old = V1WorkDir(tmp_path / "work")
    lesson_ids = ["M0-L001", "M0-L002"]
    if kept == "results file":
        old.add_batch(V1Batch("batch_a", lesson_ids, status="completed", output_file_id="file-a"))
        old.write_results(PLAIN_RESULTS, lesson_ids)
    else:  # every request failed: an errors file only
        old.add_batch(V1Batch("batch_a", lesson_ids, status="completed", error_file_id="file-a-errors"))
        (old.work_dir / PLAIN_ERRORS).write_text(
            "".join(json.dumps(_error_line(lesson_id)) + "\n" for lesson_id in lesson_ids), encoding="utf-8")
    out = tmp_path / "lessons"
    out.mkdir()  # the lessons folder version 1 used (it holds no lesson yet)

    total = process(tmp_path, old.work_dir, out)

    if kept == "results file":
        assert (total["saved"], total["failed"], total["missing"]) == (2, {}, [])
    else:
        assert (total["saved"], total["failed"], total["missing"]) == (0, {"http_500": lesson_ids}, [])
    with Ledger.open(old.work_dir) as ledger:
        assert not ledger.batch("batch_a").awaits_processing


def test_a_result_file_the_api_no_longer_has_leaves_its_lessons_missing_and_the_batch_processed(tmp_path, fake_openai):
    """Result files expire: a 404 for the download is not an error of the run; the lessons are
    reported missing (and requested again by the next run) (issue 19: ``download_results`` 25)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)  # its output file, file-out, is unknown to the server

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, env=fake_openai.env(), cwd=tmp_path)

    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert "File file-out of batch batch_1 is no longer available on the API." in said, said
    with Ledger.open(work) as ledger:
        assert {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch("batch_1")} == {
            "M0-L001": "missing", "M0-L002": "missing"}
        assert not ledger.batch("batch_1").awaits_processing


def test_a_completed_batch_with_its_output_file_is_not_said_to_lack_one(tmp_path):
    """Issue 19: ``process_job.download_results`` 38 said so of every batch with completed requests."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, env=OFFLINE, cwd=tmp_path)

    said = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in said, said
    assert "no output file" not in said, said


def forget_in_the_ledger(work, statement: str) -> None:
    """A ledger edited by hand (or by a tool other than this one): ``statement`` run on it."""
    with sqlite3.connect(work / "ledger.sqlite3") as db:
        db.execute(statement)
    db.close()


def test_a_truncated_lesson_its_batch_s_request_list_lacks_is_retried_from_the_model_s_default_budget(tmp_path):
    """Issue 19: ``saving._expected`` 5 and 6. With no recorded request, the lesson was asked for
    at the model's default budget (16,000 for gpt-6.1-terra), so its retry asks for twice that."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    forget_in_the_ledger(work, "DELETE FROM shard_lessons WHERE lesson_id = 'M0-L002'")
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", "# M0-L002\n", finish_reason="length")]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert total["failed"] == {"truncated": ["M0-L002"]}
    with Ledger.open(work) as ledger:
        lesson = ledger.lessons(["M0-L002"])["M0-L002"]
    assert (lesson.state, lesson.retry_budget) == (TRUNCATED, 32_000)


def test_a_batch_whose_shard_is_gone_from_the_ledger_still_has_its_lessons_saved(tmp_path):
    """Issue 19: ``saving._expected`` 15. No shard row means no required sections are known:
    the lessons are saved unchecked rather than the run stopping on them."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    forget_in_the_ledger(work, "DELETE FROM shards")
    lines = [success_record("M0-L001", LESSON), success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))]
    write_batch_results(work, lines)

    total = process(tmp_path, work, out)

    assert (total["saved"], total["failed"], total["missing"]) == (2, {}, [])
    assert (out / "M0-L002.md").read_text(encoding="utf-8") == LESSON.replace("M0-L001", "M0-L002")


def test_a_file_that_cannot_be_written_while_processing_a_batch_ends_the_run_with_a_plain_message(tmp_path):
    """A truncated lesson is kept under rejected/, which is a file here: the write fails (not a full
    disk). The run names the file, the lessons folder to fix and the batch left awaiting processing
    (issue 19: ``process_job.process_ready`` 39 lost the lessons folder and ended in a traceback)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    (work / "rejected").write_text("not a folder\n", encoding="utf-8")
    write_batch_results(work, [success_record("M0-L001", LESSON, finish_reason="length")])

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, env=OFFLINE, cwd=tmp_path)

    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said
    assert "cannot write work/rejected/" in said and "batch batch_1 stays awaiting processing" in said, said
    assert "fix the folder (lessons)" in said, said
    with Ledger.open(work) as ledger:
        assert ledger.batch("batch_1").awaits_processing


def test_the_request_file_of_a_batch_is_deleted_once_its_results_are_processed(tmp_path):
    """Kept under submitted/ while its batch runs (for the line numbers of a validation error), the
    request file is not needed once the batch is processed (issue 19: ``process_job.process_ready``
    61, 62 kept it for ever)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    kept = work / "submitted" / "batch_1.jsonl"
    batch_awaiting_results(work, input_path=kept)
    kept.parent.mkdir()
    kept.write_text('{"custom_id": "M0-L001"}\n{"custom_id": "M0-L002"}\n', encoding="utf-8")
    write_batch_results(work, [success_record("M0-L001", LESSON),
                               success_record("M0-L002", LESSON.replace("M0-L001", "M0-L002"))])

    assert process(tmp_path, work, out)["saved"] == 2

    assert not kept.exists()


def test_the_error_file_is_downloaded_and_applied_when_the_output_file_is_gone(tmp_path, fake_openai):
    """An expired output file does not stop the batch's error file from being read: its lesson is
    marked with its error, the other reported missing (issue 19: ``process_job.download_results`` 31
    stopped at the first file gone)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    client = OpenAI(api_key="sk-test", base_url=fake_openai.base_url)
    errors = client.files.create(file=("errors.jsonl", (json.dumps(_error_line("M0-L002")) + "\n").encode()),
                                 purpose="batch")
    batch_awaiting_results(work, error_file_id=errors.id)  # its output file, file-out, is unknown to the server

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, env=fake_openai.env(), cwd=tmp_path)

    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert "File file-out of batch batch_1 is no longer available on the API." in said, said
    assert (work / "errors_batch_1.jsonl").exists()
    with Ledger.open(work) as ledger:
        states = {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch("batch_1")}
    assert states == {"M0-L001": "missing", "M0-L002": FAILED}


def test_a_lesson_whose_request_failed_at_the_attempts_cap_is_held_for_a_person_at_once(tmp_path):
    """The cap counts for a line that answers its lesson with a failure too, not only for a lesson
    no line answers (``saving._Marks``: the cap the ledger records is passed with every mark)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    batch_awaiting_results(work)
    with Ledger.open(work) as ledger:
        ledger.set_max_attempts(1)  # as a run with --max-attempts 1 records it
    server_error = {"id": "batch_req_2", "custom_id": "M0-L002", "error": None, "response": {
        "status_code": 500, "request_id": "req_2", "body": {"error": {"code": "server_error", "message": "Oops."}}}}
    write_batch_results(work, [success_record("M0-L001", LESSON), server_error])

    total = process(tmp_path, work, out)

    assert total["failed"] == {"http_500": ["M0-L002"]}
    with Ledger.open(work) as ledger:
        lesson = ledger.lessons(["M0-L002"])["M0-L002"]
    assert (lesson.state, lesson.attempts) == (NEEDS_ATTENTION, 1)


def third_request_with_no_cap_recorded(work) -> None:
    """M0-L001 requested three times, the first two failed, the third in ``batch_3`` (completed, its
    files named as those of ``write_batch_results``), in a ledger no run recorded an attempts cap in
    (one upgraded from an older version): processing uses the default cap of 3
    (``ledger.max_attempts(DEFAULT_MAX_ATTEMPTS)`` in ``saving``)."""
    with Ledger.open(work) as ledger:
        for run in (1, 2, 3):
            ledger.record_shard(
                shard_key=f"run{run}-s001", run_id=f"run{run}", model="gpt-6.1-terra", input_path="input.jsonl",
                sha256="0" * 64, lessons=[("M0-L001", 16_000, None)], prompt_tokens=1_000, output_tokens=1_000,
                required_sections=[],
            )
            ledger.shard_uploaded(f"run{run}-s001", f"file-input-{run}")
            ledger.shard_submitted(f"run{run}-s001", BatchInfo(
                id=f"batch_{run}", status="completed", input_file_id=f"file-input-{run}", output_file_id="file-out",
                request_total=1, request_completed=1,
            ))
            if run < 3:
                ledger.lessons_not_saved([NotSaved("M0-L001", f"batch_{run}", FAILED, "http_500: server_error")])
                ledger.batch_processed(f"batch_{run}", {})
        ledger.name_result_files("batch_3", "results_batch_1.jsonl", "errors_batch_1.jsonl")
        assert ledger.max_attempts(0) == 0  # no cap recorded


def test_with_no_cap_recorded_a_lesson_whose_third_request_failed_is_held_for_a_person(tmp_path):
    """(``saving._Marks.__init__`` 9.)"""
    work, out = tmp_path / "work", tmp_path / "lessons"
    third_request_with_no_cap_recorded(work)
    server_error = {"id": "batch_req_1", "custom_id": "M0-L001", "error": None, "response": {
        "status_code": 500, "request_id": "req_1", "body": {"error": {"code": "server_error", "message": "Oops."}}}}
    write_batch_results(work, [server_error])

    total = process(tmp_path, work, out)

    assert total["failed"] == {"http_500": ["M0-L001"]}
    with Ledger.open(work) as ledger:
        lesson = ledger.lessons(["M0-L001"])["M0-L001"]
    assert (lesson.state, lesson.attempts) == (NEEDS_ATTENTION, 3)


def test_with_no_cap_recorded_a_lesson_missing_from_its_third_batch_s_files_is_held_for_a_person(tmp_path):
    """(``saving.apply_batch`` 57.)"""
    work, out = tmp_path / "work", tmp_path / "lessons"
    third_request_with_no_cap_recorded(work)
    write_batch_results(work, [])

    total = process(tmp_path, work, out)

    assert total["missing"] == ["M0-L001"]
    with Ledger.open(work) as ledger:
        lesson = ledger.lessons(["M0-L001"])["M0-L001"]
    assert (lesson.state, lesson.attempts) == (NEEDS_ATTENTION, 3)
