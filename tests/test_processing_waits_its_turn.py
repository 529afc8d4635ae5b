"""Two processing runs on one work dir take turns (``process_job.process_ready``): the second
waits for the first and says so once, then processes the batch itself."""

from lesson_batch.process_job import ProcessRequest, WaitingForAnotherRun
from tests.helpers import ledger_awaiting_results, process_while_another_run_processes


def test_a_run_processing_batches_waits_while_another_run_processes_and_says_so(tmp_path, monkeypatch):
    """Issue 19: ``process_job.process_ready`` 34 and 35 (no word of the wait, or an empty event)."""
    # The batch has ended and has no output file: processing it asks the API nothing.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-offline")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger_awaiting_results(work, ["M0-L001"], []).close()

    said, summaries = process_while_another_run_processes(ProcessRequest(work, output_dir=out))

    assert [event for event in said if isinstance(event, WaitingForAnotherRun)] == [WaitingForAnotherRun(work)]
    assert None not in said
    assert [report.label for report in summaries[0].reports] == ["batch batch_1"]
