"""Two processing runs on one work dir take turns (``process_job.process_ready``): the second
waits for the first and says so once, then processes the batch itself."""

import threading

from lesson_batch.ledger import Ledger
from lesson_batch.process_job import ProcessRequest, WaitingForAnotherRun, process_results
from tests.helpers import ledger_awaiting_results, wait_until


def test_a_run_processing_batches_waits_while_another_run_processes_and_says_so(tmp_path, monkeypatch):
    """Issue 19: ``process_job.process_ready`` 34 and 35 (no word of the wait, or an empty event)."""
    # The batch has ended and has no output file: processing it asks the API nothing.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-offline")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], []).close()
    said, summaries = [], []

    def process_the_batches():
        with Ledger.open(work) as ledger:
            summaries.append(process_results(ledger, ProcessRequest(work, output_dir=out), said.append))

    with Ledger.open(work) as other_run, other_run.processing_lock():
        second = threading.Thread(target=process_the_batches)
        second.start()
        wait_until(lambda: WaitingForAnotherRun(work) in said, "the second run says it waits")
        assert summaries == []
    second.join(timeout=30)

    assert [event for event in said if isinstance(event, WaitingForAnotherRun)] == [WaitingForAnotherRun(work)]
    assert None not in said
    assert [report.label for report in summaries[0].reports] == ["batch batch_1"]
