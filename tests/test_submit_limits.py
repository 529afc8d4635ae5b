"""Submitting shards: the edges of the enqueued-token cap, and the request files kept per shard
(issue 19, the gaps the mutation runs left open in ``submit_plan``).

The generate script runs against the local server; one test drives ``submit_plan`` itself, with
an API whose batch ids cannot name a file, to reach the kept files' own names.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lesson_batch.api import SHARD_METADATA_KEY, BatchApi
from lesson_batch.ledger import Ledger
from lesson_batch.plan import PlanOptions, make_plan
from lesson_batch.requests import RequestSettings
from lesson_batch.shards import ShardLimits
from lesson_batch.states import PENDING, SUBMITTED
from lesson_batch.submit import submit_plan
from tests.helpers import BUNDLED_TEMPLATE, ScriptDriver, write_curriculum
from tests.test_submit_and_status import ALL_LESSONS, Project, batch_lessons, ok

ONE_REQUEST_PER_BATCH = ("--max-requests-per-batch", "1")


def shard_prompt_tokens(project: Project) -> list[int]:
    """The estimated prompt tokens of each request file a dry run plans (one lesson each)."""
    result = project.generate("--dry-run", "--json", *ONE_REQUEST_PER_BATCH)
    assert result.returncode == 0, result.stderr
    return [entry["prompt_tokens"] for entry in json.loads(result.stdout)["result"]["plan"]["files"]]


def submitted_lessons(project: Project) -> list[str]:
    return [lesson for batch in project.server.created_batches() for lesson in batch_lessons(project.server, batch)]


# --------------------------------------------------------------------------- the enqueued-token cap


def test_with_nothing_enqueued_a_batch_bigger_than_the_cap_is_submitted_and_the_rest_wait(tmp_path, fake_openai):
    """A cap smaller than one request must not hold every batch back for ever: with nothing
    enqueued, the first goes; the next waits for room."""
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS[:2])

    ok(project.generate("--yes", "--max-enqueued-tokens", "1"))

    assert submitted_lessons(project) == ["M0-L001"]
    assert project.states() == {"M0-L001": SUBMITTED, "M0-L002": PENDING}


def test_a_batch_that_brings_the_enqueued_tokens_exactly_to_the_cap_is_submitted(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS[:2])
    first, second = shard_prompt_tokens(project)

    ok(project.generate("--yes", *ONE_REQUEST_PER_BATCH, "--max-enqueued-tokens", str(first + second)))

    assert submitted_lessons(project) == ["M0-L001", "M0-L002"]


def test_a_batch_one_token_over_the_cap_waits(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS[:2])
    first, second = shard_prompt_tokens(project)

    ok(project.generate("--yes", *ONE_REQUEST_PER_BATCH, "--max-enqueued-tokens", str(first + second - 1)))

    assert submitted_lessons(project) == ["M0-L001"]
    assert project.states() == {"M0-L001": SUBMITTED, "M0-L002": PENDING}


def test_the_cap_counts_every_batch_this_run_submitted_not_only_the_last(tmp_path, fake_openai):
    """Three one-lesson batches under a cap that holds two: the third waits, though beside the
    second alone it would fit (issue 19: ``submit_plan`` 50 kept only the last batch's tokens)."""
    project = Project(tmp_path, fake_openai, lessons=ALL_LESSONS[:3])
    first, second, third = shard_prompt_tokens(project)
    cap = first + second + third - 1
    assert second + third <= cap  # what the third would see beside the second alone

    ok(project.generate("--yes", *ONE_REQUEST_PER_BATCH, "--max-enqueued-tokens", str(cap)))

    assert submitted_lessons(project) == ["M0-L001", "M0-L002"]
    assert project.states() == {"M0-L001": SUBMITTED, "M0-L002": SUBMITTED, "M0-L003": PENDING}


# --------------------------------------------------------------------------- the kept request files


class IdsThatNameNoFile(BatchApi):
    """The local API, except that its batch ids cannot be used as file names: each submitted
    request file then keeps the name it was given before the batch existed."""

    def create_batch(self, *args, **kwargs):
        batch = super().create_batch(*args, **kwargs)
        return dataclasses.replace(batch, id=batch.id + "/x")


def test_each_shard_keeps_its_own_request_file_until_its_batch_is_processed(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai)  # writes the curriculum
    options = PlanOptions(
        curriculum_path=project.curriculum, template_path=BUNDLED_TEMPLATE, output_dir=project.out,
        work_dir=project.work, settings=RequestSettings(), limits=ShardLimits(max_requests=1),
        lessons=tuple(ALL_LESSONS[:3]),
    )
    with Ledger.open(options.work_dir) as ledger:
        plan = make_plan(options)
        assert len(plan.shards) == 3
        api = IdsThatNameNoFile("sk-test", base_url=fake_openai.base_url)
        report = submit_plan(plan, ledger, api, "run1")
        kept = {shard.shard_key: Path(shard.input_path) for shard in ledger.shards()}

    assert len(report.submitted) == 3 and len(kept) == 3
    # One file per shard, named by the shard, holding exactly what was uploaded for it.
    uploaded = {
        batch["metadata"][SHARD_METADATA_KEY]: batch["input_file_id"] for batch in fake_openai.created_batches()
    }
    assert sorted(uploaded) == sorted(kept)
    for shard_key, path in kept.items():
        assert path.name == f"{shard_key}.jsonl"
        assert path.read_bytes() == fake_openai.file_content(uploaded[shard_key])



class IdsThatClimbOutOfTheFolder(BatchApi):
    """The local API, except that its batch ids, used as file names, would name a file outside
    ``submitted/`` (``../<id>``), in a folder that exists."""

    def create_batch(self, *args, **kwargs):
        batch = super().create_batch(*args, **kwargs)
        return dataclasses.replace(batch, id="../" + batch.id)


def test_a_batch_id_that_is_not_a_plain_file_name_never_moves_the_request_file_out_of_submitted(
    tmp_path, fake_openai
):
    project = Project(tmp_path, fake_openai)
    options = PlanOptions(
        curriculum_path=project.curriculum, template_path=BUNDLED_TEMPLATE, output_dir=project.out,
        work_dir=project.work, settings=RequestSettings(), lessons=(ALL_LESSONS[0],),
    )
    with Ledger.open(options.work_dir) as ledger:
        submit_plan(make_plan(options), ledger, IdsThatClimbOutOfTheFolder("sk-test", base_url=fake_openai.base_url),
                    "run1")
        [shard] = ledger.shards()

    kept = Path(shard.input_path)
    assert kept == project.work / "submitted" / f"{shard.shard_key}.jsonl" and kept.is_file()
    assert sorted(path.name for path in project.work.glob("batch_*.jsonl")) == []

# --------------------------------------------------------------------------- the API's metadata limit

METADATA_VALUE_LIMIT = 512  # the Batch API refuses a longer metadata value (400 string_above_max_length)


def a_course_at(path: Path, root: Path, name: str = "Test Curriculum") -> ScriptDriver:
    """A one-lesson course at ``path``, run from ``root`` (its work dir and lessons folder there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root.mkdir(exist_ok=True)
    write_curriculum(path, ["One"], name=name)
    return ScriptDriver(root, curriculum=path)


def path_of_length(folder: Path, length: int) -> Path:
    """``folder``/.../course.md, ``length`` characters long once resolved (folders of at most 200)."""
    path = folder.resolve()
    while len(str(path / "course.md")) < length:
        path = path / ("d" * min(200, length - len(str(path / "course.md")) - 1 or 1))
    return path / "course.md"


def test_a_course_whose_name_is_longer_than_the_api_takes_still_gets_its_batch(tmp_path, fake_openai):
    """The batch's description names the course: it is cut to what the API takes, not refused."""
    driver = a_course_at(tmp_path / "course.md", tmp_path, name="A" * 600)
    driver.server = fake_openai

    ok(driver.generate("--yes"))

    [batch] = fake_openai.created_batches()
    assert batch["metadata"]["description"] == ("A" * 600 + " lessons, shard 1 of 1")[:METADATA_VALUE_LIMIT]


def test_a_course_path_of_exactly_the_api_s_limit_is_carried_and_a_longer_one_left_out(tmp_path, fake_openai):
    """The course's path in a batch's metadata lets a lost ledger be rebuilt with its course; a
    path longer than the API takes is left out (the batch is still created)."""
    exact = path_of_length(tmp_path / "a", METADATA_VALUE_LIMIT)
    longer = path_of_length(tmp_path / "b", METADATA_VALUE_LIMIT + 1)
    assert (len(str(exact)), len(str(longer))) == (METADATA_VALUE_LIMIT, METADATA_VALUE_LIMIT + 1)

    for path, root in ((exact, tmp_path / "exact"), (longer, tmp_path / "longer")):
        driver = a_course_at(path, root)
        driver.server = fake_openai
        ok(driver.generate("--yes"))

    first, second = fake_openai.created_batches()
    assert first["metadata"]["lesson_batch_course"] == str(exact)
    assert "lesson_batch_course" not in second["metadata"]
