"""A whole-job cancel (``check_batch_status.py --cancel``) recorded while a run submits: what
``submit_plan`` does at each of the two places it looks (issue 19, the paths the mutation run
left unguarded in ``submit.py``).

Each test drives ``submit_plan`` with the real client against the local server; the cancel is
recorded in the run's own ledger at the moment the test names (before the first shard, or while a
batch is being created), as another terminal would record it.
"""

from __future__ import annotations

from lesson_batch.api import BatchApi
from lesson_batch.ledger import Ledger
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.shards import ShardLimits
from lesson_batch.states import PENDING, SUBMITTED, BatchStatus
from lesson_batch.submit import CancelBeforeShard, CancelledOnCreation, LaterNotSubmitted, submit_plan
from tests.helpers import BUNDLED_TEMPLATE
from tests.test_submit_and_status import ALL_LESSONS, Project, batch_lessons


def three_shards(project: Project) -> PlanOptions:
    """One lesson a shard, three lessons: three batches when nothing stops the run."""
    return PlanOptions(
        curriculum_path=project.curriculum, template_path=BUNDLED_TEMPLATE, output_dir=project.out,
        work_dir=project.work, settings=RequestSettings(), limits=ShardLimits(max_requests=1),
        lessons=tuple(ALL_LESSONS[:3]),
    )


class CancelWhileCreating(BatchApi):
    """The local API; as the first batch is created, another terminal records a cancel of the
    whole job. With ``failed_first``, that batch has already failed at the API by then."""

    def __init__(self, *args, ledger: Ledger, failed_first: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.ledger, self.failed_first = ledger, failed_first

    def create_batch(self, *args, **kwargs):
        created = super().create_batch(*args, **kwargs)
        if self.failed_first:
            assert self.get_batch(created.id).status == BatchStatus.FAILED  # one poll: validation fails
        self.ledger.request_cancel()
        return created


def test_a_cancel_recorded_before_the_first_shard_stops_the_run_from_submitting_anything(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai)
    events = []
    with Ledger.open(project.work) as ledger:
        plan = make_plan(three_shards(project))
        cancels_at_start = ledger.cancel_requests()
        ledger.request_cancel()
        api = BatchApi("sk-test", base_url=fake_openai.base_url)

        report = submit_plan(plan, ledger, api, "run1", events=events.append, cancels_at_start=cancels_at_start)

        states = {lesson_id: lesson.state for lesson_id, lesson in ledger.lessons().items()}
    assert fake_openai.created_batches() == [] and report.submitted == []
    assert all(state == PENDING for state in states.values())
    assert report.cancel_seen  # a --wait run then does not say it a second time
    assert report.stopped_by_cancel == ALL_LESSONS[:3]
    assert CancelBeforeShard(3) in events


def test_a_cancel_recorded_between_two_shards_stops_the_run_before_the_second_and_counts_only_the_rest(
    tmp_path, fake_openai
):
    """Another terminal records the cancel just after the run checked, once the first batch was
    created: the check before the next shard sees it, and the note counts the lessons of that
    shard and the later ones, not the one already submitted."""
    fake_openai.set_scenario({"batches": ["stuck"]})
    project = Project(tmp_path, fake_openai)
    events = []
    with Ledger.open(project.work) as ledger:
        plan = make_plan(three_shards(project))
        cancels_at_start = ledger.cancel_requests()
        looks = []
        read_cancels = ledger.cancel_requests

        def cancel_after_the_first_shard_was_checked() -> int:
            looks.append(None)
            if len(looks) == 3:  # the look before the second shard (1 and 2: before and after the first batch)
                ledger.request_cancel()
            return read_cancels()

        ledger.cancel_requests = cancel_after_the_first_shard_was_checked
        api = BatchApi("sk-test", base_url=fake_openai.base_url)

        report = submit_plan(plan, ledger, api, "run1", events=events.append, cancels_at_start=cancels_at_start)

    [created] = fake_openai.created_batches()
    assert batch_lessons(fake_openai, created) == ["M0-L001"]
    assert report.cancel_seen and report.cancelled_on_creation == []
    assert report.stopped_by_cancel == ["M0-L002", "M0-L003"]
    assert CancelBeforeShard(2) in events


def test_a_cancel_recorded_as_a_batch_is_created_cancels_that_batch_and_submits_no_later_shard(
    tmp_path, fake_openai
):
    fake_openai.set_scenario({"batches": ["stuck"]})
    project = Project(tmp_path, fake_openai)
    events = []
    with Ledger.open(project.work) as ledger:
        plan = make_plan(three_shards(project))
        api = CancelWhileCreating("sk-test", base_url=fake_openai.base_url, ledger=ledger)

        report = submit_plan(plan, ledger, api, "run1", events=events.append, cancels_at_start=ledger.cancel_requests())

        [created] = fake_openai.created_batches()
        record = ledger.batch(created["id"])
        states = {lesson_id: lesson.state for lesson_id, lesson in ledger.lessons().items()}
    assert batch_lessons(fake_openai, created) == ["M0-L001"]
    assert fake_openai.batches[created["id"]]["status"] == "cancelling"
    assert record.status == "cancelling"  # recorded from the cancel's answer, without waiting for a poll
    assert states == {"M0-L001": SUBMITTED}  # the later lessons were never recorded: a later run plans them
    assert report.cancel_seen
    assert report.cancelled_on_creation == [created["id"]]
    assert report.stopped_by_cancel == ["M0-L002", "M0-L003"]
    assert CancelledOnCreation(created["id"], "cancelling") in events
    assert LaterNotSubmitted(2) in events


def test_a_batch_that_failed_before_the_cancel_reached_it_gives_its_lessons_back(tmp_path, fake_openai):
    """The API refuses to cancel a batch that has already ended (409); its status is then read
    back and recorded: a failed batch ran nothing, so its lesson goes back to pending (not left
    ``submitted`` in a batch that will never answer)."""
    project = Project(tmp_path, fake_openai)
    fake_openai.set_scenario({"batches": ["fail_validation"]})
    events = []
    with Ledger.open(project.work) as ledger:
        plan = make_plan(three_shards(project))
        # max_retries=0: the client retries a 409 five times, 13 s of backoff that changes nothing here.
        api = CancelWhileCreating("sk-test", base_url=fake_openai.base_url, ledger=ledger, failed_first=True,
                                  max_retries=0)

        report = submit_plan(plan, ledger, api, "run1", events=events.append, cancels_at_start=ledger.cancel_requests())

        [created] = fake_openai.created_batches()
        record = ledger.batch(created["id"])
        first = ledger.lessons()["M0-L001"]
    assert (record.status, record.processed_at is not None) == ("failed", True)
    assert (first.state, first.attempts) == (PENDING, 0)
    assert report.cancelled_on_creation == [created["id"]]
    assert CancelledOnCreation(created["id"], "failed") in events
