"""The rule for a batch that ran nothing, and how a run knows its lessons waited for token room."""

import json
from dataclasses import replace

import pytest

from lesson_batch.api import ApiError, BatchApi
from lesson_batch.batch_info import BatchError, BatchInfo
from lesson_batch.batch_sync import cancel, hit_token_limit, ran_nothing, refresh, store
from lesson_batch.generate_wait import _requeued_by_failed_batches
from lesson_batch.ledger import Ledger
from lesson_batch.lifecycle import RanNothing
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.states import PENDING, SUBMITTED
from lesson_batch.submit import submit_plan
from tests.helpers import BUNDLED_TEMPLATE, ScriptDriver, wait_until, write_curriculum

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
    assert reason == RanNothing(
        "batch batch_1 failed: token_limit_exceeded: Enqueued token limit reached for gpt-6.1-terra. Limit: 90,000"
    )
    assert ran_nothing(BatchInfo(id="batch_2", status="failed")) == RanNothing("batch batch_2 failed: the batch failed")


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


# ---- second-line guards, with the real client against the local server (issue 19) ----------


class CreateAnswersFailed(BatchApi):
    """The real client and the local server, except that the answer to creating a batch says it
    has already failed. The API answers ``validating`` today; the rule must not lean on that."""

    def create_batch(self, input_file_id, metadata, *args, **kwargs):
        created = super().create_batch(input_file_id, metadata, *args, **kwargs)
        return replace(created, status="failed", errors=OVER_LIMIT)


def test_a_create_call_that_answers_failed_returns_the_lessons_to_pending(tmp_path, fake_openai):
    options = PlanOptions(
        curriculum_path=write_curriculum(tmp_path / "course.md", ["One", "Two"]), template_path=BUNDLED_TEMPLATE,
        output_dir=tmp_path / "lessons", work_dir=tmp_path / "work",
    )
    with Ledger.open(options.work_dir) as ledger:
        report = submit_plan(make_plan(options), ledger, CreateAnswersFailed("sk-test", base_url=fake_openai.base_url),
                             "run1")
        (batch,) = report.submitted
        lessons = ledger.lessons()
        record = ledger.batch(batch.id)
    assert {lesson_id: (lesson.state, lesson.attempts) for lesson_id, lesson in lessons.items()} == {
        "M0-L001": (PENDING, 0), "M0-L002": (PENDING, 0),
    }
    assert record.status == "failed" and record.processed_at is not None


def test_a_batch_the_api_does_not_know_does_not_stop_the_others_being_refreshed(tmp_path, fake_openai):
    driver = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(driver.curriculum, ["One", "Two"])
    assert driver.generate("--yes").returncode == 0
    with Ledger.open(driver.work) as ledger:
        (known,) = [record.batch_id for record in ledger.batches()]
        submit(ledger, "batch_gone", ["M0-L009"])  # e.g. made with another key, or on a restarted server
        api = BatchApi("sk-test", base_url=fake_openai.base_url)

        records, problems = refresh(ledger, api, ["batch_gone", known])

        stored = ledger.batch(known)
    assert [record.batch_id for record in records] == ["batch_gone", known]
    assert stored.status == fake_openai.batches[known]["status"] != "validating"
    (problem,) = problems
    assert problem.batch_id == "batch_gone" and not problem.everywhere and not problem.transient


def test_processing_saves_the_lessons_of_the_other_batches_when_one_batch_is_unknown_to_the_api(tmp_path, fake_openai):
    driver = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(driver.curriculum, ["One", "Two"])
    assert driver.generate("--yes").returncode == 0
    with Ledger.open(driver.work) as ledger:
        (known,) = [record.batch_id for record in ledger.batches()]
        submit(ledger, "batch_gone", ["M0-L009"])
    api = BatchApi("sk-test", base_url=fake_openai.base_url)
    wait_until(lambda: api.get_batch(known).status == "completed", "the batch has completed at the API")

    result = driver.process()  # the ledger last saw the batch validating: processing asks about both

    assert driver.saved_lessons() == {"M0-L001", "M0-L002"}, result.stdout + result.stderr
    assert driver.states()["M0-L009"] == SUBMITTED  # held: the batch may live on under another key


def test_watching_follows_the_other_batches_to_the_end_when_one_batch_is_unknown_to_the_api(tmp_path, fake_openai):
    driver = ScriptDriver(tmp_path, fake_openai)
    write_curriculum(driver.curriculum, ["One", "Two"])
    assert driver.generate("--yes").returncode == 0
    with Ledger.open(driver.work) as ledger:
        (known,) = [record.batch_id for record in ledger.batches()]
        submit(ledger, "batch_gone", ["M0-L009"])

    result = driver.watch(timeout=60)

    with Ledger.open(driver.work) as ledger:
        assert ledger.batch(known).status == "completed", result.stdout + result.stderr


# ---- a batch the ledger does not know (an id given on the command line) ----------------------


def a_finished_batch_of_another_work_dir(tmp_path, fake_openai, *options) -> tuple[str, dict]:
    """A batch of two lessons made by a run in another work dir, finished: its id, and the API's view of it."""
    other = ScriptDriver(tmp_path / "other", fake_openai)
    other.root.mkdir()
    write_curriculum(other.curriculum, ["One", "Two"])
    assert other.generate("--yes", *options).returncode == 0
    [batch_id] = fake_openai.batches
    api = BatchApi("sk-test", base_url=fake_openai.base_url)
    wait_until(lambda: api.get_batch(batch_id).status == "completed", "the batch has completed at the API")
    return batch_id, fake_openai.batches[batch_id]


def shown_by_status(tmp_path, fake_openai, batch_id: str) -> dict:
    """``check_batch_status.py --json BATCH_ID`` in a work dir whose ledger does not know it."""
    result = ScriptDriver(tmp_path, fake_openai).status("--json", batch_id)
    assert "Traceback" not in result.stderr, result.stderr
    [shown] = json.loads(result.stdout)["result"]["batches"]
    return shown


def test_the_status_of_a_batch_the_ledger_does_not_know_shows_its_files_and_times_as_the_api_says(
    tmp_path, fake_openai
):
    fake_openai.set_scenario({"faults": {"fail_400": ["M0-L002"]}})  # an output file and an error file
    batch_id, at_the_api = a_finished_batch_of_another_work_dir(tmp_path, fake_openai)

    shown = shown_by_status(tmp_path, fake_openai, batch_id)

    assert shown["id"] == batch_id and shown["status"] == "completed"
    assert shown["output_file_id"] == at_the_api["output_file_id"] is not None
    assert shown["error_file_id"] == at_the_api["error_file_id"] is not None
    assert (shown["created_at"], shown["expires_at"]) == (at_the_api["created_at"], at_the_api["expires_at"])
    assert shown["as_of"] is not None  # asked just now
    assert shown["request_counts"] == {"completed": 1, "failed": 1, "total": 2}


def test_the_status_of_a_batch_the_ledger_does_not_know_shows_its_endpoint_and_the_usage_the_api_reported(
    tmp_path, fake_openai
):
    """A Responses batch was shown as a Chat Completions one, with no usage, before this was fixed."""
    batch_id, at_the_api = a_finished_batch_of_another_work_dir(tmp_path, fake_openai, "--endpoint", "responses")

    shown = shown_by_status(tmp_path, fake_openai, batch_id)

    assert shown["endpoint"] == "/v1/responses"
    usage = shown["usage_reported_by_the_api"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (at_the_api["usage"]["input_tokens"],
                                                               at_the_api["usage"]["output_tokens"])


def test_a_cancel_the_api_refuses_for_another_reason_than_not_found_is_an_error_not_a_lost_batch(
    tmp_path, fake_openai
):
    """Only a 404 is told as a batch lost to this key (``on_lost``); a 409 for a batch that has
    already finished is the API's refusal, raised with its words."""
    batch_id, _at_the_api = a_finished_batch_of_another_work_dir(tmp_path, fake_openai)
    lost = []
    with Ledger.open(tmp_path / "work") as ledger:
        # max_retries=0: the client retries a 409 five times, 13 s of backoff that changes nothing here.
        api = BatchApi("sk-test", base_url=fake_openai.base_url, max_retries=0)
        with pytest.raises(ApiError) as raised:
            cancel(ledger, api, [batch_id], on_lost=lost.append)
    assert raised.value.status == 409 and "completed" in str(raised.value)
    assert lost == []


def test_the_status_of_batch_ids_the_api_does_not_know_names_each_of_them_as_not_found(tmp_path, fake_openai):
    """Each 404 is its own problem: two unknown ids are two errors, each naming its batch."""
    result = ScriptDriver(tmp_path, fake_openai).status("--json", "batch_nope_1", "batch_nope_2")

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [message["text"] for message in json.loads(result.stdout)["messages"] if message["level"] == "error"]
    assert len(errors) == 2
    assert "batch batch_nope_1 is not found" in errors[0] and "batch batch_nope_2 is not found" in errors[1]
