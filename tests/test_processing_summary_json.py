"""What ``process_batch_results.py --json`` says a run did and left: the keys a program reads
(issue 19: the mutation run of ``process_job.py`` found ``ProcessingSummary.as_json``, the
order of ``lessons_left`` and ``lessons_in_unfinished_submissions``, and parts of
``process_results`` unguarded).

Mostly the batch is recorded in the ledger and its results file is on disk, as after a download,
and the script runs offline, as a user runs it; a batch still running is run on the local server.
"""

from __future__ import annotations

import json

from lesson_batch.batch_info import BatchInfo
from lesson_batch.ledger import Ledger
from tests.helpers import PROCESS_SCRIPT, ScriptDriver, run_script, success_record, write_modules_curriculum

OFFLINE = {"OPENAI_API_KEY": "sk-test-offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
MODEL = "gpt-6.1-terra"
IN_THE_BATCH = ["M0-L001", "M0-L003", "M10-L001", "M2-L001"]
IN_AN_UNFINISHED_SUBMISSION = ["M10-L002", "M2-L002"]


def _ledger(work) -> None:
    """batch_1 (completed, its files named) and a submission a stopped run left before its upload."""
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="run1-s001", run_id="run1", model=MODEL, input_path=str(work / "input.jsonl"), sha256="0" * 64,
            lessons=[(lesson_id, 16_000, None) for lesson_id in IN_THE_BATCH], prompt_tokens=1_000,
            output_tokens=1_000, required_sections=[],
        )
        ledger.shard_uploaded("run1-s001", "file-input")
        ledger.shard_submitted("run1-s001", BatchInfo(
            id="batch_1", status="completed", input_file_id="file-input", output_file_id="file-out",
            request_total=4, request_completed=4,
        ))
        ledger.name_result_files("batch_1", "results_batch_1.jsonl", "errors_batch_1.jsonl")
        ledger.record_shard(
            shard_key="run1-s002", run_id="run1", model=MODEL, input_path=str(work / "input_002.jsonl"),
            sha256="1" * 64, lessons=[(lesson_id, 16_000, None) for lesson_id in IN_AN_UNFINISHED_SUBMISSION],
            prompt_tokens=500, output_tokens=500, required_sections=[],
        )


def test_the_json_summary_names_the_lessons_folder_and_the_lessons_left_in_course_order(tmp_path):
    work, out = tmp_path / "work", tmp_path / "lessons"
    _ledger(work)
    too_long = {"id": "batch_req_3", "custom_id": "M0-L003", "error": None, "response": {
        "status_code": 400, "request_id": "req_3",
        "body": {"error": {"code": "context_length_exceeded", "message": "Too long."}}}}
    lines = [success_record("M0-L001", "# M0-L001\n\nA lesson.\n"), too_long]  # M2-L001 and M10-L001: no line
    (work / "results_batch_1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json", env=OFFLINE, cwd=tmp_path)

    assert "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)["result"]
    assert set(summary) == {"batches", "total", "not_ready", "not_found", "needs_attention", "lessons_folder",
                            "lessons_to_request_again", "lessons_in_unfinished_submissions"}
    assert summary["lessons_folder"] == str(out)
    assert summary["lessons_to_request_again"] == ["M2-L001", "M10-L001"]
    assert summary["lessons_in_unfinished_submissions"] == ["M2-L002", "M10-L002"]
    assert summary["needs_attention"] == ["M0-L003"]
    assert (summary["not_ready"], summary["not_found"]) == ([], [])
    assert [batch["label"] for batch in summary["batches"]] == ["batch batch_1"]
    assert (summary["total"]["saved"], set(summary["total"]["missing"])) == (1, {"M2-L001", "M10-L001"})


def test_a_second_run_names_no_lesson_needing_a_person_that_an_earlier_run_reported(tmp_path):
    """Those are in check_batch_status.py --lessons; a run names those its own results held back
    (issue 19: ``process_results`` 115, 117)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    _ledger(work)
    too_long = {"id": "batch_req_3", "custom_id": "M0-L003", "error": None, "response": {
        "status_code": 400, "request_id": "req_3", "body": {"error": {"code": "context_length_exceeded"}}}}
    (work / "results_batch_1.jsonl").write_text(json.dumps(too_long) + "\n", encoding="utf-8")
    process = (PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json")
    first = json.loads(run_script(*process, env=OFFLINE, cwd=tmp_path).stdout)["result"]

    second = json.loads(run_script(*process, env=OFFLINE, cwd=tmp_path).stdout)["result"]

    assert first["needs_attention"] == ["M0-L003"]
    assert (second["batches"], second["needs_attention"]) == ([], [])


def test_a_batch_still_running_is_named_as_not_ready_as_the_api_sees_it_now(tmp_path, fake_openai):
    """Issue 19: ``process_results`` 80, 93, 94."""
    fake_openai.set_scenario({"batches": ["stuck"]})
    project = ScriptDriver(tmp_path, fake_openai)
    write_modules_curriculum(project.curriculum, 1, 2)
    assert project.generate("--yes").returncode == 0
    [batch_id] = list(fake_openai.batches)

    summary = json.loads(project.process("--json").stdout)["result"]
    said = project.process()

    assert (summary["batches"], summary["not_ready"], summary["not_found"]) == ([], [batch_id], [])
    assert f"Batch {batch_id}: in_progress" in said.stdout, said.stdout
    assert "the API could not be read now" not in said.stdout + said.stderr


def test_a_lesson_saved_by_the_run_is_not_named_as_in_an_unfinished_submission(tmp_path):
    """An interrupted run (a --force one) left M0-L001 in a submission it never sent; once the
    batch_1 result saves M0-L001, only the lessons still to request are named there, and in the
    command that finishes it (issue 19: ``lessons_in_unfinished_submissions`` 6)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    _ledger(work)
    with Ledger.open(work) as ledger:
        ledger.record_shard(
            shard_key="run2-s001", run_id="run2", model=MODEL, input_path=str(work / "input_run2.jsonl"),
            sha256="2" * 64, lessons=[("M0-L001", 16_000, None)], prompt_tokens=100, output_tokens=100,
            required_sections=[], force=True,
        )
    lines = [success_record("M0-L001", "# M0-L001\n\nA lesson.\n")]
    (work / "results_batch_1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = run_script(PROCESS_SCRIPT, "--work-dir", work, "--output-dir", out, "--json", env=OFFLINE, cwd=tmp_path)

    assert "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)["result"]
    assert summary["total"]["saved"] == 1
    assert summary["lessons_in_unfinished_submissions"] == ["M2-L002", "M10-L002"]
