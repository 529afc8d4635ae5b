"""The run ledger: lesson, shard and batch states, and the transitions between them."""

import sqlite3

import pytest

from lesson_batch.batch_info import BatchError, BatchInfo
from lesson_batch.batch_sync import store
from lesson_batch.ledger import Ledger, LedgerError, NotSaved, Saved
from lesson_batch.lifecycle import RanNothing
from lesson_batch.states import (
    NEEDS_ATTENTION,
    PENDING,
    SHARD_ABANDONED,
    SHARD_PLANNED,
    SHARD_SUBMITTED,
    SHARD_UPLOADED,
    SUBMITTED,
    SUCCEEDED,
    TRUNCATED,
    LessonState,
    ShardState,
)

LESSONS = ["M0-L001", "M0-L002", "M0-L003"]


@pytest.fixture
def ledger(tmp_path):
    with Ledger.open(tmp_path / "work") as opened:
        yield opened


def record(ledger, shard_key="run-s001", lessons=LESSONS, prompt_tokens=300):
    ledger.record_shard(
        shard_key=shard_key,
        run_id="run",
        model="gpt-6.1-terra",
        input_path="input.jsonl",
        sha256="abc",
        lessons=[(lesson_id, 16000, None) for lesson_id in lessons],
        prompt_tokens=prompt_tokens,
        output_tokens=900,
        required_sections=["Learning Objectives"],
    )


def submit(ledger, shard_key="run-s001", batch_id="batch_1", lessons=LESSONS, status="validating", prompt_tokens=300):
    record(ledger, shard_key, lessons, prompt_tokens)
    ledger.shard_uploaded(shard_key, f"file-{shard_key}")
    ledger.shard_submitted(shard_key, BatchInfo(id=batch_id, status=status, input_file_id=f"file-{shard_key}"))


def test_a_recorded_shard_is_unfinished_and_its_lessons_pending(ledger):
    record(ledger)
    assert [shard.state for shard in ledger.shards()] == [SHARD_PLANNED]
    assert {lesson.state for lesson in ledger.lessons().values()} == {PENDING}
    assert ledger.in_flight_lessons() == frozenset()


def test_an_uploaded_shard_keeps_its_file_id(ledger):
    record(ledger)
    ledger.shard_uploaded("run-s001", "file-123")
    (shard,) = ledger.shards()
    assert (shard.state, shard.file_id) == (SHARD_UPLOADED, "file-123")


def test_a_submitted_shard_puts_its_lessons_in_flight_in_that_batch(ledger):
    submit(ledger)
    assert ledger.shards()[0].state == SHARD_SUBMITTED
    assert ledger.in_flight_lessons() == frozenset(LESSONS)
    lessons = ledger.lessons()
    assert {lesson.batch_id for lesson in lessons.values()} == {"batch_1"}
    assert {lesson.attempts for lesson in lessons.values()} == {1}
    assert list(ledger.batch_requests("batch_1")) == LESSONS


def test_an_abandoned_shard_is_no_longer_unfinished(ledger):
    record(ledger)
    ledger.shard_abandoned("run-s001")
    assert ledger.shards()[0].state == SHARD_ABANDONED
    assert ledger.shards(["planned", "uploaded"]) == []


def test_a_failed_batch_puts_its_lessons_back_to_pending_with_the_error(ledger):
    submit(ledger)
    over_limit = (BatchError("token_limit_exceeded", "Enqueued token limit"),)
    store(ledger, BatchInfo(id="batch_1", status="failed", errors=over_limit))
    lessons = ledger.lessons()
    assert {lesson.state for lesson in lessons.values()} == {PENDING}
    assert all("token_limit_exceeded" in lesson.reason for lesson in lessons.values())
    assert ledger.in_flight_lessons() == frozenset()
    assert ledger.batch("batch_1").awaits_processing is False


def test_the_ledger_stores_a_failed_batch_as_told_and_leaves_its_lessons_to_the_rule_of_the_caller(ledger):
    submit(ledger)
    ledger.update_batch(BatchInfo(id="batch_1", status="failed", errors=(BatchError("invalid_request", "bad"),)))
    assert ledger.batch("batch_1").status == "failed"
    assert {lesson.state for lesson in ledger.lessons().values()} == {SUBMITTED}


def test_a_batch_given_back_when_recorded_leaves_its_lessons_pending_and_itself_processed_at_once(ledger):
    record(ledger)
    failed = BatchInfo(id="batch_1", status="failed", errors=(BatchError("token_limit_exceeded", "full"),))
    ran_nothing = RanNothing("batch batch_1 failed: token_limit_exceeded: full")
    ledger.shard_submitted("run-s001", failed, ran_nothing=ran_nothing)
    lessons = ledger.lessons()
    assert {(lesson.state, lesson.attempts, lesson.batch_id) for lesson in lessons.values()} == {
        (PENDING, 0, "batch_1"),
    }
    assert ledger.shards()[0].state == SHARD_SUBMITTED
    assert ledger.batch("batch_1").processed_at is not None


def test_lesson_and_shard_records_carry_their_states_as_enums(ledger):
    submit(ledger)
    assert {type(lesson.state) for lesson in ledger.lessons().values()} == {LessonState}
    assert ledger.lessons()["M0-L001"].state is LessonState.SUBMITTED
    assert ledger.shards()[0].state is ShardState.SUBMITTED


def test_a_completed_batch_awaits_processing_until_marked_processed(ledger):
    submit(ledger)
    ledger.update_batch(BatchInfo(id="batch_1", status="completed", output_file_id="file-out", request_total=3))
    assert ledger.batch("batch_1").awaits_processing
    ledger.batch_processed("batch_1", {"prompt_tokens": 1})
    assert not ledger.batch("batch_1").awaits_processing


def test_saving_a_lesson_marks_it_succeeded_and_records_its_output_tokens(ledger):
    submit(ledger)
    ledger.lessons_saved([Saved("M0-L001", "batch_1", 2500, None)])
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.output_tokens) == (SUCCEEDED, 2500)
    assert ledger.measured_output_tokens() == {"M0-L001": 2500}
    assert ledger.in_flight_lessons() == frozenset(LESSONS[1:])


def test_saving_only_applies_to_the_batch_the_lesson_is_in(ledger):
    submit(ledger)
    ledger.lessons_saved([Saved("M0-L001", "batch_other", 2500, None)])
    assert ledger.lessons()["M0-L001"].state == SUBMITTED


def test_a_lesson_not_saved_is_marked_only_in_the_batch_it_is_in(ledger):
    """A stale line from an earlier batch of a lesson now in another batch changes nothing: marked
    failed, the lesson would be requested again while its batch runs, and paid for twice."""
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", TRUNCATED, "length", 32000, None)])
    submit(ledger, "run2-s001", "batch_2", ["M0-L001"])
    stale = NotSaved("M0-L001", "batch_1", "failed", "http_500: stale", 64000, "low")
    ledger.lessons_not_saved([stale], max_attempts=2)
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.batch_id, lesson.reason) == (SUBMITTED, "batch_2", None)
    assert ledger.retry_budgets() == {"M0-L001": (32000, None)}


def test_a_lesson_in_flight_by_flex_is_not_marked_from_another_run(ledger):
    ledger.note_pending(["M0-L001"])
    assert ledger.flex_sending("flex-b", "M0-L001", force=False)
    ledger.lessons_not_saved([NotSaved("M0-L001", "flex-a", "failed", "http_400: from an earlier run")])
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.batch_id) == ("flex", "flex-b")


def test_a_truncated_lesson_carries_its_retry_budget_until_it_succeeds(ledger):
    submit(ledger)
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", TRUNCATED, "length", 32000, "low")])
    assert ledger.retry_budgets() == {"M0-L001": (32000, "low")}
    submit(ledger, "run2-s001", "batch_2", ["M0-L001"])
    ledger.lessons_saved([Saved("M0-L001", "batch_2", 3000, None)])
    assert ledger.retry_budgets() == {}


def test_a_lesson_not_saved_cannot_be_given_the_succeeded_state(ledger):
    submit(ledger)
    with pytest.raises(ValueError):
        ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", SUCCEEDED, "no")])


def test_each_submission_counts_as_an_attempt(ledger):
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", TRUNCATED, "length", 32000, None)])
    submit(ledger, "run2-s001", "batch_2", ["M0-L001"])
    assert ledger.lessons()["M0-L001"].attempts == 2


@pytest.mark.parametrize("state", ["expired", "cancelled"])
def test_a_request_that_expired_or_was_cancelled_before_it_ran_gives_its_attempt_back(ledger, state):
    submit(ledger, lessons=["M0-L001", "M0-L002"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", state, f"batch_{state}"),
                              NotSaved("M0-L002", "batch_1", "failed", "http_400: bad")])
    attempts = {lesson_id: lesson.attempts for lesson_id, lesson in ledger.lessons().items()}
    assert attempts == {"M0-L001": 0, "M0-L002": 1}


def test_a_batch_that_failed_before_running_gives_its_lessons_attempts_back(ledger):
    submit(ledger, lessons=["M0-L001"])
    store(ledger, BatchInfo(id="batch_1", status="failed", errors=(BatchError("token_limit_exceeded", "full"),)))
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.attempts) == (PENDING, 0)


def test_a_lesson_whose_request_ran_max_attempts_times_needs_attention_with_its_reason_kept(ledger):
    for run in range(1, 4):
        submit(ledger, f"run{run}-s001", f"batch_{run}", ["M0-L001"])
        truncated = NotSaved("M0-L001", f"batch_{run}", TRUNCATED, "length", 64000, "low")
        ledger.lessons_not_saved([truncated], max_attempts=3)
        expected = NEEDS_ATTENTION if run == 3 else TRUNCATED
        assert ledger.lessons()["M0-L001"].state == expected
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.attempts, lesson.reason, lesson.retry_budget, lesson.retry_effort) == (3, "length", 64000, "low")


def test_held_lessons_need_attention_but_lessons_in_flight_or_saved_are_left_alone(ledger):
    submit(ledger, lessons=["M0-L001", "M0-L002", "M0-L003"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", TRUNCATED, "length")])
    ledger.lessons_saved([Saved("M0-L003", "batch_1", 100, None)])
    ledger.hold_for_attention(["M0-L001", "M0-L002", "M0-L003"])
    states = {lesson_id: lesson.state for lesson_id, lesson in ledger.lessons().items()}
    assert states == {"M0-L001": NEEDS_ATTENTION, "M0-L002": SUBMITTED, "M0-L003": SUCCEEDED}


def test_the_attempts_cap_of_the_last_submitting_run_is_kept(ledger, tmp_path):
    assert ledger.max_attempts(default=3) == 3
    ledger.set_max_attempts(5)
    ledger.set_max_attempts(4)
    with Ledger.open(tmp_path / "work") as again:
        assert again.max_attempts(default=3) == 4


def test_attempts_of_unsaved_lessons_leave_out_saved_and_in_flight_ones(ledger):
    submit(ledger, lessons=["M0-L001", "M0-L002", "M0-L003"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", TRUNCATED, "length")])
    ledger.lessons_saved([Saved("M0-L003", "batch_1", 100, None)])
    assert ledger.attempts_of_unsaved() == {"M0-L001": 1}


def test_live_prompt_tokens_count_only_batches_still_queued_or_running(ledger):
    submit(ledger, "a-s001", "batch_a", ["M0-L001"], status="in_progress", prompt_tokens=100)
    submit(ledger, "b-s001", "batch_b", ["M0-L002"], status="in_progress", prompt_tokens=40)
    ledger.update_batch(BatchInfo(id="batch_b", status="completed"))
    assert ledger.live_prompt_tokens() == 100


def test_two_ledgers_on_the_same_folder_see_each_others_writes(tmp_path):
    with Ledger.open(tmp_path) as first, Ledger.open(tmp_path) as second:
        submit(first)
        second.update_batch(BatchInfo(id="batch_1", status="in_progress", request_total=3))
        assert first.batch("batch_1").status == "in_progress"


def test_only_one_submitting_run_at_a_time(tmp_path):
    with Ledger.open(tmp_path) as first, Ledger.open(tmp_path) as second:
        with first.submission_lock():
            with pytest.raises(LedgerError, match="another run is submitting"):
                with second.submission_lock():
                    pass
        with second.submission_lock():  # released when the first run is done
            pass


def test_a_ledger_from_another_schema_version_is_refused(tmp_path):
    Ledger.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="newer version"):
        Ledger.open(tmp_path)


def test_a_file_that_is_not_a_database_is_reported_as_a_ledger_error(tmp_path):
    (tmp_path / "ledger.sqlite3").write_text("not a database " * 100)
    with pytest.raises(LedgerError, match="cannot open the run ledger"):
        Ledger.open(tmp_path)


def test_lessons_noted_as_pending_are_listed_until_submitted(ledger):
    ledger.note_pending(["M0-L001", "M0-L004"])
    assert {lesson_id: lesson.state for lesson_id, lesson in ledger.lessons().items()} == {
        "M0-L001": PENDING,
        "M0-L004": PENDING,
    }
    submit(ledger)
    assert ledger.lessons()["M0-L001"].state == SUBMITTED


def test_noting_a_lesson_as_pending_does_not_change_one_already_known(ledger):
    submit(ledger)
    ledger.note_pending(["M0-L001"])
    assert ledger.lessons()["M0-L001"].state == SUBMITTED


# ------------------------------------------------------------- each recorded event goes through the lifecycle


def test_a_flex_request_for_a_lesson_in_a_batch_is_refused_and_changes_nothing(ledger):
    submit(ledger, lessons=["M0-L001"])
    assert not ledger.flex_sending("flex-a", "M0-L001", force=False)
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.batch_id, lesson.attempts) == (SUBMITTED, "batch_1", 1)


def test_a_flex_request_that_never_left_puts_its_lesson_back_to_pending_with_its_attempt_given_back(ledger):
    assert ledger.flex_sending("flex-a", "M0-L001", force=False)
    assert ledger.lessons()["M0-L001"].attempts == 1
    ledger.flex_not_sent("flex-a", ["M0-L001"], "flex request not run: flex had no capacity")
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.attempts, lesson.reason) == (PENDING, 0, "flex request not run: flex had no capacity")


def test_a_flex_request_another_run_did_not_send_leaves_the_lesson_in_flight_by_this_one(ledger):
    ledger.note_pending(["M0-L001"])
    assert ledger.flex_sending("flex-b", "M0-L001", force=False)
    ledger.flex_not_sent("flex-a", ["M0-L001"], "flex request not run: from an earlier run")
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.batch_id, lesson.attempts, lesson.reason) == ("flex", "flex-b", 1, None)


def test_lessons_left_in_flight_by_a_stopped_flex_run_keep_their_attempt_and_those_on_disk_are_saved(ledger):
    for lesson_id in ("M0-L001", "M0-L002"):
        assert ledger.flex_sending("flex-a", lesson_id, force=True)
    ledger.release_flex_lessons(["M0-L001", "M0-L002"], "in flight when it stopped", saved=["M0-L002"])
    lessons = ledger.lessons()
    assert [(lessons[i].state, lessons[i].attempts, lessons[i].force) for i in ("M0-L001", "M0-L002")] == [
        (PENDING, 1, True), (SUCCEEDED, 1, False),
    ]


def test_a_given_up_batch_puts_only_its_lessons_still_submitted_back_to_pending_with_their_attempt_given_back(ledger):
    submit(ledger)
    ledger.lessons_saved([Saved("M0-L001", "batch_1", 100, None)])
    freed = ledger.give_up_batch("batch_1", "batch batch_1 was given up")
    lessons = ledger.lessons()
    assert freed == ["M0-L002", "M0-L003"]
    assert {(lessons[i].state, lessons[i].attempts) for i in freed} == {(PENDING, 0)}
    assert (lessons["M0-L001"].state, lessons["M0-L001"].attempts) == (SUCCEEDED, 1)
    assert ledger.batch("batch_1").given_up_at is not None


def test_a_stale_failure_for_a_lesson_already_saved_changes_nothing(ledger):
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_saved([Saved("M0-L001", "batch_1", 100, None)])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", "failed", "http_500: late")], max_attempts=1)
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.attempts, lesson.reason) == (SUCCEEDED, 1, None)


def test_two_outcomes_for_one_lesson_in_one_group_apply_in_turn(ledger):
    """The second finds the lesson no longer in flight, as it would in a group of its own."""
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", "expired", "batch_expired"),
                              NotSaved("M0-L001", "batch_1", "cancelled", "batch_cancelled")])
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.attempts, lesson.reason) == ("expired", 0, "batch_expired")


def test_a_request_that_fails_again_unchanged_is_held_for_a_person_without_any_cap(ledger):
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_not_saved([NotSaved("M0-L001", "batch_1", NEEDS_ATTENTION, "the same request would fail again")])
    assert ledger.lessons()["M0-L001"].state == NEEDS_ATTENTION


def test_saving_a_lesson_requested_with_force_spends_the_force(ledger):
    record(ledger)
    ledger.record_shard(
        shard_key="run2-s001", run_id="run2", model="gpt-6.1-terra", input_path="input.jsonl", sha256="abc",
        lessons=[("M0-L001", 16000, None)], prompt_tokens=1, output_tokens=1, required_sections=[], force=True,
    )
    ledger.shard_submitted("run2-s001", BatchInfo(id="batch_2", status="validating"))
    assert ledger.lessons()["M0-L001"].force is True
    ledger.lessons_saved([Saved("M0-L001", "batch_2", 100, None)])
    assert ledger.lessons()["M0-L001"].force is False


def test_a_lesson_is_submitted_again_with_force_from_any_state_and_its_attempt_counted(ledger):
    submit(ledger, lessons=["M0-L001"])
    ledger.lessons_saved([Saved("M0-L001", "batch_1", 100, None)])
    submit(ledger, "run2-s001", "batch_2", ["M0-L001"])
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.batch_id, lesson.attempts, lesson.reason) == (SUBMITTED, "batch_2", 2, None)


@pytest.mark.parametrize("on_disk", [False, True])
def test_releasing_a_lesson_no_longer_in_flight_by_flex_changes_nothing(ledger, on_disk):
    assert ledger.flex_sending("flex-a", "M0-L001", force=False)
    ledger.flex_not_sent("flex-a", ["M0-L001"], "never sent")
    ledger.release_flex_lessons(["M0-L001"], "in flight when it stopped", saved=["M0-L001"] if on_disk else [])
    lesson = ledger.lessons()["M0-L001"]
    assert (lesson.state, lesson.attempts, lesson.reason) == (PENDING, 0, "never sent")


def test_every_whole_job_cancel_is_counted_so_a_run_that_began_after_one_still_sees_the_next(ledger):
    assert ledger.cancel_requests() == 0
    ledger.request_cancel()
    began_with = ledger.cancel_requests()
    ledger.request_cancel()
    assert (began_with, ledger.cancel_requests()) == (1, 2)


def test_a_lost_ledger_is_known_lost_until_it_is_rebuilt_and_not_after(tmp_path):
    """A ledger deleted from a used work dir comes back from its backup marked lost; the mark
    outlives a run that does not rebuild it, and ``rebuilt`` clears it for this run and the next."""
    work_dir = tmp_path / "work"
    with Ledger.open(work_dir) as ledger:
        ledger.note_pending(LESSONS)  # changed: the rolling backup is written on close
    (work_dir / "ledger.sqlite3").unlink()

    with Ledger.open(work_dir) as ledger:
        assert ledger.lost is not None and ledger.lost.reason == "missing"
    with Ledger.open(work_dir) as ledger:
        assert ledger.lost is not None and ledger.lost.reason == "missing"
        ledger.rebuilt()
        assert ledger.lost is None
    with Ledger.open(work_dir) as ledger:
        assert ledger.lost is None


# More lessons than one query is given (500 ids each: SQLite's limit on parameters is 999 in older versions).
MANY = [f"M{module}-L{number:03d}" for module in range(3) for number in range(1, 401)]


def test_every_lesson_of_a_batch_bigger_than_one_query_is_put_in_it(ledger):
    submit(ledger, lessons=MANY)
    lessons = ledger.lessons()
    assert len(lessons) == 1200
    assert {(lesson.state, lesson.batch_id, lesson.attempts) for lesson in lessons.values()} == {
        (SUBMITTED, "batch_1", 1)
    }


def test_every_lesson_saved_from_a_batch_bigger_than_one_query_is_marked_saved(ledger):
    submit(ledger, lessons=MANY)
    ledger.lessons_saved([Saved(lesson_id, "batch_1") for lesson_id in MANY])
    assert {lesson.state for lesson in ledger.lessons().values()} == {SUCCEEDED}


def test_a_shard_recorded_without_force_does_not_force_its_lessons(ledger):
    """Recovery records the shards it adopts without naming ``force``: their lessons must not
    overwrite a lesson file that is on disk when their results arrive."""
    record(ledger)
    assert {lesson.force for lesson in ledger.lessons().values()} == {False}


def test_the_batch_s_own_usage_once_seen_is_kept_when_a_later_answer_gives_none(ledger):
    """The bill the API reported is kept: an answer without usage (None: not given) leaves it."""
    submit(ledger)
    usage = {"input_tokens": 3000, "cached_tokens": 0, "output_tokens": 8000, "reasoning_tokens": 2000}
    ledger.update_batch(BatchInfo(id="batch_1", status="completed", usage=usage))
    ledger.update_batch(BatchInfo(id="batch_1", status="completed"))
    assert ledger.batch("batch_1").api_usage == usage


def test_a_new_work_dir_is_made_with_the_folders_above_it(tmp_path):
    work_dir = tmp_path / "jobs" / "course" / "work"
    with Ledger.open(work_dir) as ledger:
        ledger.note_pending(LESSONS)
    assert (work_dir / "ledger.sqlite3").is_file()


def test_a_lost_mark_that_cannot_be_read_still_says_the_ledger_is_lost(tmp_path):
    work_dir = tmp_path / "work"
    with Ledger.open(work_dir) as ledger:
        ledger.set_meta({"rebuild_needed": "{not json"})
    with Ledger.open(work_dir) as ledger:
        assert ledger.lost is not None
        assert ledger.lost.describe(ledger.path) == f"the run ledger {ledger.path} was missing"
