"""The rule for a batch that ran nothing, and how a run knows its lessons waited for token room."""

import pytest

from lesson_batch.batch_info import BatchError, BatchInfo
from lesson_batch.batch_sync import hit_token_limit, ran_nothing, store
from lesson_batch.ledger import Ledger
from lesson_batch.states import PENDING, SUBMITTED
from lesson_batch.workflow import _requeued_by_failed_batches

OVER_LIMIT = (BatchError("token_limit_exceeded", "Enqueued token limit reached for gpt-6.1-terra. Limit: 90,000"),)


@pytest.fixture
def ledger(tmp_path):
    with Ledger.open(tmp_path / "work") as opened:
        yield opened


def submit(ledger, batch_id, lessons):
    shard_key = f"{batch_id}-s001"
    ledger.record_shard(shard_key, "run", "gpt-6.1-terra", "in.jsonl", "x", [(lesson, 100, None) for lesson in lessons],
                        10, 10, [])
    ledger.shard_submitted(shard_key, BatchInfo(id=batch_id, status="validating"))


@pytest.mark.parametrize("status", ["validating", "in_progress", "finalizing", "completed", "expired", "cancelled"])
def test_only_a_failed_batch_ran_nothing(status):
    assert ran_nothing(BatchInfo(id="batch_1", status=status, errors=OVER_LIMIT)) is None


def test_a_failed_batch_ran_nothing_for_the_reasons_its_errors_give():
    reason = ran_nothing(BatchInfo(id="batch_1", status="failed", errors=OVER_LIMIT))
    assert reason == (
        "batch batch_1 failed: token_limit_exceeded: Enqueued token limit reached for gpt-6.1-terra. Limit: 90,000"
    )
    assert ran_nothing(BatchInfo(id="batch_2", status="failed")) == "batch batch_2 failed: the batch failed"


def test_storing_a_batch_still_running_leaves_its_lessons_submitted(ledger):
    submit(ledger, "batch_1", ["M0-L001"])
    store(ledger, BatchInfo(id="batch_1", status="in_progress"))
    assert ledger.lessons()["M0-L001"].state == SUBMITTED


def test_a_batch_over_the_token_limit_is_known_by_its_error_code_not_its_text(ledger):
    submit(ledger, "batch_1", ["M0-L001"])
    submit(ledger, "batch_2", ["M0-L002"])
    store(ledger, BatchInfo(id="batch_1", status="failed", errors=OVER_LIMIT))
    store(ledger, BatchInfo(id="batch_2", status="failed",
                            errors=(BatchError("invalid_request", "mentions token_limit_exceeded in passing"),)))
    assert hit_token_limit(ledger.batch("batch_1"))
    assert not hit_token_limit(ledger.batch("batch_2"))


def test_a_run_requeues_only_its_lessons_given_back_by_a_batch_over_the_token_limit(ledger):
    submit(ledger, "batch_1", ["M0-L001", "M0-L002"])
    submit(ledger, "batch_2", ["M0-L003"])
    store(ledger, BatchInfo(id="batch_1", status="failed", errors=OVER_LIMIT))
    store(ledger, BatchInfo(id="batch_2", status="failed", errors=(BatchError("invalid_request", "bad line"),)))
    assert {lesson.state for lesson in ledger.lessons().values()} == {PENDING}
    assert _requeued_by_failed_batches(ledger, ["M0-L001", "M0-L002", "M0-L003"]) == ["M0-L001", "M0-L002"]
    assert _requeued_by_failed_batches(ledger, ["M0-L002"]) == ["M0-L002"]


def test_a_lesson_submitted_again_after_the_token_limit_is_not_requeued_again(ledger):
    submit(ledger, "batch_1", ["M0-L001"])
    store(ledger, BatchInfo(id="batch_1", status="failed", errors=OVER_LIMIT))
    submit(ledger, "batch_2", ["M0-L001"])
    assert _requeued_by_failed_batches(ledger, ["M0-L001"]) == []
