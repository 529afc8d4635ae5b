"""Result files given by hand (``process_batch_results.py --results-file``): what the mutation
run of ``process_job.py`` found unguarded (issue 19: ``process_files_given`` 14-18).

Such a run takes its turn with any other processing run of the work dir, as an ordinary run
does, and a file it cannot write midway ends it with a plain message, not a traceback.
"""

from __future__ import annotations

import json
import threading

from lesson_batch.ledger import Ledger
from lesson_batch.process_job import WaitingForAnotherRun, process_files_given
from lesson_batch.saving import Processing
from tests.helpers import PROCESS_SCRIPT, ledger_awaiting_results, run_script, success_record, wait_until

LESSON = "# M0-L001\n\nA lesson.\n"


def test_a_run_given_result_files_waits_while_another_run_processes_and_says_so(tmp_path):
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], []).close()
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(success_record("M0-L001", LESSON)) + "\n", encoding="utf-8")
    said, reports = [], []

    def run_given_the_file():
        with Ledger.open(work) as ledger:
            reports.append(process_files_given(Processing.of(ledger, out, work), [results], said.append))

    with Ledger.open(work) as other_run, other_run.processing_lock():
        second = threading.Thread(target=run_given_the_file)
        second.start()
        wait_until(lambda: said, "the run given the file says it waits")
        assert reports == [] and not (out / "M0-L001.md").exists()
    second.join(timeout=30)

    assert said == [WaitingForAnotherRun(work)]
    assert [report.saved for report in reports] == [["M0-L001"]]


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
