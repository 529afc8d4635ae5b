"""What the ledger keeps of a batch when it records one, as the runs that read it back rely on."""

from __future__ import annotations

from lesson_batch.api import BatchApi
from lesson_batch.batch_info import BatchInfo
from lesson_batch.batch_sync import refresh
from lesson_batch.ledger import Ledger

API_KEY = "sk-test-recorded-0000"


def _record_shard(ledger: Ledger, shard_key: str = "run1-s001", lessons: tuple[str, ...] = ("M0-L001",)) -> None:
    ledger.record_shard(
        shard_key=shard_key, run_id="run1", model="gpt-6.1-terra", input_path="input.jsonl", sha256="0" * 64,
        lessons=[(lesson_id, 16_000, None) for lesson_id in lessons], prompt_tokens=100, output_tokens=100,
        required_sections=[],
    )


def test_a_batch_that_had_ended_when_it_was_recorded_is_not_asked_about_again(fake_openai, tmp_path):
    """A run that adopts a batch (a run before it died after creating it) can find it ended
    already: the ledger records when the API last told it, so a status run answers from the
    ledger instead of spending an API call on a batch that never changes again."""
    api = BatchApi(API_KEY, base_url=fake_openai.base_url, max_retries=0, timeout=30)
    with Ledger.open(tmp_path / "work") as ledger:
        _record_shard(ledger)
        ledger.shard_submitted("run1-s001", BatchInfo(
            id="batch_ended", status="completed", input_file_id="file-in", output_file_id="file-out",
            request_total=1, request_completed=1,
        ))

        records, problems = refresh(ledger, api, ["batch_ended"])

    assert [record.status for record in records] == ["completed"] and problems == []
    assert [request.path for request in fake_openai.requests if "batch_ended" in request.path] == []
