"""Settling the shards that interrupted runs left between upload and record (``submit.recover_unfinished_shards``):
a batch the API has for a shard is adopted, never created again; a shard with no batch has its
uploads deleted and its lessons planned again (issue 19, the paths the mutation run reached
only through killed processes).

The runs are driven in this process with the real client against the local server; an API
whose create call loses its answer stands for a run killed after the batch was created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lesson_batch.api import ApiError, BatchApi
from lesson_batch.ledger import Ledger
from lesson_batch.plan import PlanOptions, history_of, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.states import PENDING, SUBMITTED
from lesson_batch.submit import ShardAdopted, ShardCleanedUp, recover_unfinished_shards, submit_plan
from tests.helpers import BUNDLED_TEMPLATE
from tests.test_submit_and_status import Project


class AnswerLost(BatchApi):
    """The batch is created at the API, but its answer never reaches the run (connection lost)."""

    def create_batch(self, *args, **kwargs):
        super().create_batch(*args, **kwargs)
        raise ApiError("the connection was lost before the answer came", transient=True)


class UploadAnswerLost(BatchApi):
    """The file is uploaded, but the answer never reaches the run: the ledger has no file id."""

    def upload(self, *args, **kwargs):
        super().upload(*args, **kwargs)
        raise ApiError("the connection was lost before the answer came", transient=True)


class CreateRefused(BatchApi):
    """The create call is refused: no batch exists for the shard (its upload is recorded)."""

    def create_batch(self, *args, **kwargs):
        raise ApiError("the API is overloaded", status=503, transient=True)


def one_lesson(project: Project, lesson_id: str) -> PlanOptions:
    return PlanOptions(
        curriculum_path=project.curriculum, template_path=BUNDLED_TEMPLATE, output_dir=project.out,
        work_dir=project.work, settings=RequestSettings(), lessons=(lesson_id,),
    )


def test_every_shard_whose_batch_exists_is_adopted_not_only_the_first(tmp_path, fake_openai):
    """Two runs each lost the answer to their create call: both batches exist at the API. The
    next run adopts both before it plans; a shard left unsettled would have its lesson planned
    again, and paid for twice."""
    fake_openai.set_scenario({"batches": ["stuck"]})
    project = Project(tmp_path, fake_openai)
    lost = AnswerLost("sk-test", base_url=fake_openai.base_url)
    with Ledger.open(project.work) as ledger:
        for run, lesson_id in (("run1", "M0-L001"), ("run2", "M0-L002")):
            with pytest.raises(ApiError):
                submit_plan(make_plan(one_lesson(project, lesson_id)), ledger, lost, run)
        created = sorted(batch["id"] for batch in fake_openai.created_batches())
        assert len(created) == 2

        events = []
        report = recover_unfinished_shards(ledger, BatchApi("sk-test", base_url=fake_openai.base_url), events.append)

        lessons = ledger.lessons()
        in_flight = history_of(ledger).in_flight
        shards = ledger.shards()
        kept = {shard.batch_id: Path(shard.input_path) for shard in shards}
    assert sorted(batch.id for batch in report.adopted) == created and report.abandoned_shards == []
    assert set(events) == {ShardAdopted(shard.batch_id, shard.shard_key) for shard in shards} and len(events) == 2
    batch_of = {
        line["custom_id"]: batch["id"]
        for batch in fake_openai.created_batches() for line in fake_openai.file_lines(batch["input_file_id"])
    }
    assert {lesson_id: (lesson.state, lesson.batch_id) for lesson_id, lesson in lessons.items()} == {
        lesson_id: (SUBMITTED, batch_id) for lesson_id, batch_id in batch_of.items()
    }
    assert in_flight == {"M0-L001", "M0-L002"}  # neither is planned again
    # Each request file is kept under its batch's name, and the ledger knows where (for the line
    # numbers of a validation error, and to delete it once the batch is processed).
    for batch in fake_openai.created_batches():
        assert kept[batch["id"]].name == f"{batch['id']}.jsonl"
        assert kept[batch["id"]].read_bytes() == fake_openai.file_content(batch["input_file_id"])


def test_a_shard_that_never_became_a_batch_has_its_uploads_deleted_and_its_lessons_planned_again(
    tmp_path, fake_openai
):
    """One run lost the answer to its upload (the ledger has no file id: the upload is found by
    its name), another had its create refused (the ledger has the file id). Neither has a batch:
    both uploads are deleted, both request files forgotten, both lessons pending again."""
    project = Project(tmp_path, fake_openai)
    with Ledger.open(project.work) as ledger:
        for run, lesson_id, api_class in (("run1", "M0-L001", UploadAnswerLost), ("run2", "M0-L002", CreateRefused)):
            with pytest.raises(ApiError):
                submit_plan(make_plan(one_lesson(project, lesson_id)), ledger,
                            api_class("sk-test", base_url=fake_openai.base_url), run)
        uploads = sorted(fake_openai.files)
        shards = {shard.shard_key: shard for shard in ledger.shards()}
        assert len(uploads) == 2 and len(shards) == 2
        events = []

        report = recover_unfinished_shards(ledger, BatchApi("sk-test", base_url=fake_openai.base_url), events.append)

        lessons = ledger.lessons()
        in_flight = history_of(ledger).in_flight
        settled = {shard.shard_key: shard.state for shard in ledger.shards()}
    assert fake_openai.created_batches() == [] and report.adopted == []
    assert sorted(report.abandoned_shards) == sorted(shards) and set(settled.values()) == {"abandoned"}
    assert sorted(fake_openai.files) == []  # both uploads deleted, the unrecorded one too
    assert not any(Path(shard.input_path).exists() for shard in shards.values())
    assert {lesson_id: lesson.state for lesson_id, lesson in lessons.items()} == {
        "M0-L001": PENDING, "M0-L002": PENDING,
    }
    assert in_flight == frozenset()
    cleaned = sorted(events, key=lambda event: event.shard_key)
    assert [event.shard_key for event in cleaned] == sorted(shards)
    assert sorted(file_id for event in cleaned for file_id in event.deleted_files) == uploads
    assert all(isinstance(event, ShardCleanedUp) and len(event.deleted_files) == 1 and event.lessons == 1
               for event in cleaned)


class UploadsNotListed(BatchApi):
    """The file list does not show this run's uploads (e.g. not yet listed, or on a later page)."""

    def find_uploads(self, *args, **kwargs):
        return []


def test_an_upload_whose_create_was_refused_is_deleted_by_the_file_id_the_ledger_recorded(tmp_path, fake_openai):
    """The ledger records the upload's file id before the create call: when the next run cannot
    find the upload by its name, that id is how the orphaned file is still deleted."""
    project = Project(tmp_path, fake_openai)
    with Ledger.open(project.work) as ledger:
        with pytest.raises(ApiError):
            submit_plan(make_plan(one_lesson(project, "M0-L001")), ledger,
                        CreateRefused("sk-test", base_url=fake_openai.base_url), "run1")
        [upload] = list(fake_openai.files)
        [shard] = ledger.shards()
        assert (shard.state, shard.file_id) == ("uploaded", upload)

        report = recover_unfinished_shards(ledger, UploadsNotListed("sk-test", base_url=fake_openai.base_url))

    assert report.abandoned_shards == [shard.shard_key]
    assert list(fake_openai.files) == []


def test_an_adopted_batch_that_has_already_failed_gives_its_lesson_back(tmp_path, fake_openai):
    """The run that created the batch lost the answer; by the next run the batch has failed (it
    ran nothing): adopting it puts its lesson back to pending, not ``submitted`` for ever."""
    fake_openai.set_scenario({"batches": ["fail_validation"]})
    project = Project(tmp_path, fake_openai)
    api = BatchApi("sk-test", base_url=fake_openai.base_url)
    with Ledger.open(project.work) as ledger:
        with pytest.raises(ApiError):
            submit_plan(make_plan(one_lesson(project, "M0-L001")), ledger,
                        AnswerLost("sk-test", base_url=fake_openai.base_url), "run1")
        [created] = fake_openai.created_batches()
        assert api.get_batch(created["id"]).status == "failed"  # one poll: validation fails

        report = recover_unfinished_shards(ledger, api)

        lesson = ledger.lessons()["M0-L001"]
        record = ledger.batch(created["id"])
    assert [batch.id for batch in report.adopted] == [created["id"]]
    assert (record.status, record.processed_at is not None) == ("failed", True)
    assert lesson.state == PENDING
