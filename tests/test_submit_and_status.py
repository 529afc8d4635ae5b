"""End to end: submitting lessons as batches, and following those batches (issue 4).

Every test runs the real scripts (tests/helpers.run_script) against the local fake Batch API server, with a
small curriculum, lessons folder and work dir in a temporary folder. What the scripts did is read
back from their output and exit code, the fake server's request log and state, and the run
ledger in the work dir.

A script run against the server takes a while, so a story that several tests
look at from different sides (submit, check, re-run, watch; crash, re-run; ...) is played once by
a class-scoped fixture with its own fake server, and each test then checks one behaviour of it.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from lesson_batch.ledger import Ledger
from tests.fake_openai import FakeOpenAIServer
from tests.helpers import PROCESS_SCRIPT, STATUS_SCRIPT, ScriptDriver, run_script, wait_until

KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else 137
INTERVAL = "0.01"

CURRICULUM = """\
# Tiny Governance Course

# M0: Basics — Lesson Map

A small module for the tests.

## L001: What Data Governance Is [F]
Key topics: decision rights; accountability.

## L002: Why Organisations Govern Data [F]
Key topics: risk; value; trust.

## L003: Roles and Responsibilities [I]
Key topics: owner; steward; custodian.
Related: M0-L001

## L004: Measuring Governance [A]
Key topics: metrics; maturity models.
"""
ALL_LESSONS = ["M0-L001", "M0-L002", "M0-L003", "M0-L004"]
THREE_LESSONS = ALL_LESSONS[:3]

# An enqueued-token cap under which two of these lessons fit in a batch, but not all four
# (each request is roughly 800 prompt tokens); the tests check the plan really has two shards.
TWO_SHARD_CAP = 2000

FAIL_VALIDATION_AT_LINE_3 = {
    "batches": [{"outcome": "fail_validation", "error": {"code": "invalid_json_line", "line": 3}}]
}


def _wait_for_server_status(server, batch_id: str, status: str) -> None:
    """Wait until the fake server (advancing on its own clock) shows the batch in ``status``."""
    wait_until(lambda: server.batches[batch_id]["status"] == status, f"the fake server shows batch {batch_id} {status}")


SELF_ADVANCING = {"advance": "time", "seconds_per_step": 0.02, "in_progress_steps": 1}


class Project(ScriptDriver):
    """A curriculum, lessons folder and work dir, and the scripts run on them against a fake server."""

    def __init__(self, root: Path, server: FakeOpenAIServer, lessons: list[str] | None = None):
        super().__init__(root, server, curriculum=root / "Content Structure.md")
        self.curriculum.write_text(CURRICULUM, encoding="utf-8")
        self.lessons = list(THREE_LESSONS if lessons is None else lessons)

    def generate(self, *args, api_key=None, **options):
        """``generate`` on the project's lessons; ``api_key`` replaces the server's key."""
        env = {"OPENAI_API_KEY": api_key} if api_key is not None else None
        return super().generate("--lessons", ",".join(self.lessons), *args, env=env, **options)

    def ledger(self) -> Ledger:
        return Ledger.open(self.work)

    def lesson_states(self) -> dict[str, tuple[str, str | None, int]]:
        """Each lesson in the ledger: (state, batch id, times submitted)."""
        with self.ledger() as ledger:
            return {lesson_id: (r.state, r.batch_id, r.attempts) for lesson_id, r in ledger.lessons().items()}


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def failed(result) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def killed(result) -> None:
    assert result.returncode == KILLED, f"expected the crash point to kill the script\n{result.stderr}"


def calls(log, method: str, path: str, status: int | None = None) -> list:
    return [e for e in log if e.method == method and e.path == path and (status is None or e.status == status)]


def batch_lessons(server, batch: dict) -> list[str]:
    """The lesson ids (custom_ids) in a batch's input file, sorted."""
    return sorted(line["custom_id"] for line in server.file_lines(batch["input_file_id"]))


def lessons_over_all_batches(server) -> list[str]:
    """Every lesson id of every batch created, sorted, with repeats (a lesson in two batches shows twice)."""
    return sorted(lesson for batch in server.created_batches() for lesson in batch_lessons(server, batch))


def batch_line(output: str, batch_id: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"Batch {batch_id}:"))


@pytest.fixture(scope="class")
def server(request):
    scenario = getattr(request.cls, "scenario", None)
    with FakeOpenAIServer(scenario) as fake:
        yield fake


@pytest.fixture
def project(tmp_path, fake_openai) -> Project:
    return Project(tmp_path, fake_openai)


class Story:
    """Outputs and server snapshots of a played story, by step name."""

    def __init__(self, project: Project):
        self.project = project
        self.server = project.server
        self.results: dict = {}
        self.logs: dict = {}
        self.batches: dict = {}

    def step(self, name: str, result):
        self.results[name] = result
        self.logs[name] = self.server.requests
        self.batches[name] = self.server.created_batches()
        return result


# ---------------------------------------------------------------- submit, check, re-run, watch


class TestSubmitThenFollowToCompletion:
    """generate --yes; check_batch_status; generate again; --watch; --json."""

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("submit"), server))
        project = story.project
        ok(story.step("generate", project.generate("--yes")))
        ok(story.step("status", project.status()))  # the first poll: validating -> in_progress
        story.step("rerun", project.generate("--yes"))
        story.step("watch", project.status("--watch", "--interval", INTERVAL))
        story.step("json_after_watch", project.status("--json"))
        return story

    def test_generate_creates_exactly_one_batch(self, story):
        assert len(story.batches["generate"]) == 1
        assert len(calls(story.logs["generate"], "POST", "/v1/batches")) == 1

    def test_the_batch_has_a_24h_window_and_the_chat_completions_endpoint(self, story):
        [batch] = story.batches["generate"]
        assert batch["completion_window"] == "24h"
        assert batch["endpoint"] == "/v1/chat/completions"
        assert batch_lessons(story.server, batch) == story.project.lessons

    def test_the_batch_metadata_names_the_run_and_the_shard(self, story):
        [batch] = story.batches["generate"]
        with story.project.ledger() as ledger:
            [shard] = ledger.shards()
        assert batch["metadata"]["lesson_batch_run"] == shard.run_id
        assert batch["metadata"]["lesson_batch_shard"] == shard.shard_key
        assert shard.batch_id == batch["id"]

    def test_the_requests_are_uploaded_with_purpose_batch(self, story):
        [upload] = calls(story.logs["generate"], "POST", "/v1/files")
        assert upload.status == 200
        assert upload.upload["purpose"] == "batch"
        [batch] = story.batches["generate"]
        assert story.server.files[batch["input_file_id"]].purpose == "batch"

    def test_status_json_lists_the_batch_recorded_in_the_ledger(self, story):
        report = json.loads(ok(story.results["json_after_watch"]))["result"]
        [batch] = story.batches["generate"]
        assert [entry["id"] for entry in report["batches"]] == [batch["id"]]
        assert report["lessons"]["submitted"] == len(story.project.lessons)

    def test_status_shows_the_status_in_plain_words_and_the_next_step(self, story):
        out = story.results["status"].stdout
        [batch] = story.batches["generate"]
        line = batch_line(out, batch["id"])
        assert "in_progress" in line
        assert "running" in line  # what the status means, in plain words
        assert re.search(r"^\s+requests: \d+ completed, \d+ failed, 3 total$", out, re.MULTILINE)
        assert re.search(r"^\s+next: Wait\b.*check_batch_status\.py", out, re.MULTILINE)

    def test_rerunning_generate_while_the_batch_is_unprocessed_submits_nothing(self, story):
        rerun = ok(story.results["rerun"])
        assert "Nothing to submit" in rerun
        assert len(calls(story.logs["rerun"], "POST", "/v1/files")) == 1  # still only the first run's
        assert len(calls(story.logs["rerun"], "POST", "/v1/batches")) == 1

    def test_watch_ends_with_every_batch_completed_exit_0_and_a_summary(self, story):
        out = ok(story.results["watch"])
        assert [batch["status"] for batch in story.batches["watch"]] == ["completed"]
        assert "Summary: 1 completed" in out
        [batch] = story.batches["watch"]
        assert "completed" in batch_line(out, batch["id"])

    def test_status_json_of_a_completed_batch_has_status_counts_errors_and_file_ids(self, story):
        [entry] = json.loads(ok(story.results["json_after_watch"]))["result"]["batches"]
        [batch] = story.batches["watch"]
        assert entry["id"] == batch["id"]
        assert entry["status"] == "completed"
        assert entry["request_counts"] == {"completed": 3, "failed": 0, "total": 3}
        assert entry["errors"] == []
        assert entry["output_file_id"] is not None
        assert entry["output_file_id"] == batch["output_file_id"]
        assert entry["error_file_id"] is None


# ---------------------------------------------------------------- crashes during submission


class TestCrashAfterUpload:
    """generate killed right after the upload (before it is recorded), then generate again."""

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("after_upload"), server))
        killed(story.step("crash", story.project.generate("--yes", crash_at="after_upload")))
        assert story.batches["crash"] == []
        story.orphan_ids = list(server.files)
        ok(story.step("rerun", story.project.generate("--yes")))
        return story

    def test_the_rerun_creates_no_second_batch(self, story):
        assert len(story.batches["rerun"]) == 1
        assert len(calls(story.logs["rerun"], "POST", "/v1/batches")) == 1

    def test_the_orphaned_upload_is_deleted_or_reused(self, story):
        [orphan_id] = story.orphan_ids
        [batch] = story.batches["rerun"]
        assert orphan_id not in story.server.files or orphan_id == batch["input_file_id"]
        uploads_left = [file_id for file_id, stored in story.server.files.items() if stored.purpose == "batch"]
        assert uploads_left == [batch["input_file_id"]]

    def test_every_lesson_ends_in_exactly_one_batch(self, story):
        [batch] = story.batches["rerun"]
        assert lessons_over_all_batches(story.server) == story.project.lessons
        lessons = story.project.lessons
        assert story.project.lesson_states() == {lesson: ("submitted", batch["id"], 1) for lesson in lessons}


class TestCrashAfterBatchCreate:
    """generate killed right after creating the batch (before recording it), then generate again."""

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("after_create"), server))
        killed(story.step("crash", story.project.generate("--yes", crash_at="after_create")))
        with story.project.ledger() as ledger:
            assert ledger.batches() == []  # the batch exists on the server only
        ok(story.step("rerun", story.project.generate("--yes")))
        return story

    def test_the_rerun_adopts_the_existing_batch_found_by_its_metadata(self, story):
        [batch] = story.batches["crash"]
        assert "adopted" in story.results["rerun"].stdout
        with story.project.ledger() as ledger:
            assert [record.batch_id for record in ledger.batches()] == [batch["id"]]
            [shard] = ledger.shards()
        assert shard.shard_key == batch["metadata"]["lesson_batch_shard"]
        assert shard.state == "submitted"

    def test_the_rerun_creates_no_second_batch(self, story):
        assert [b["id"] for b in story.batches["rerun"]] == [b["id"] for b in story.batches["crash"]]
        assert len(calls(story.logs["rerun"], "POST", "/v1/batches")) == 1
        assert len(calls(story.logs["rerun"], "POST", "/v1/files")) == 1

    def test_every_lesson_is_submitted_once(self, story):
        [batch] = story.batches["rerun"]
        lessons = story.project.lessons
        assert story.project.lesson_states() == {lesson: ("submitted", batch["id"], 1) for lesson in lessons}


def test_crash_right_after_recording_the_shard_then_rerun_submits_exactly_once(project, fake_openai):
    killed(project.generate("--yes", crash_at="shard_recorded"))
    assert calls(fake_openai.requests, "POST", "/v1/files") == []

    ok(project.generate("--yes"))

    assert len(calls(fake_openai.requests, "POST", "/v1/files")) == 1
    [batch] = fake_openai.created_batches()
    assert lessons_over_all_batches(fake_openai) == project.lessons
    assert project.lesson_states() == {lesson: ("submitted", batch["id"], 1) for lesson in project.lessons}


# ---------------------------------------------------------------- batches that fail


class TestValidationFailedBatch:
    """The batch fails validation (line 3, invalid_json_line); check; --json; generate again."""

    scenario = FAIL_VALIDATION_AT_LINE_3

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("fail_validation"), server))
        ok(story.step("generate", story.project.generate("--yes")))
        story.step("status", story.project.status())
        story.step("json", story.project.status("--json"))
        story.states_before_rerun = story.project.lesson_states()
        story.step("rerun", story.project.generate("--yes"))
        return story

    def test_status_reports_the_failure_with_line_number_and_code_and_exits_1(self, story):
        out = failed(story.results["status"])
        [batch] = story.batches["generate"]
        assert "failed" in batch_line(out, batch["id"])
        assert re.search(r"^\s+error: line 3: invalid_json_line\b", out, re.MULTILINE)

    def test_status_json_lists_the_errors_and_exits_1(self, story):
        [entry] = json.loads(failed(story.results["json"]))["result"]["batches"]
        assert entry["status"] == "failed"
        assert [(error["code"], error["line"]) for error in entry["errors"]] == [("invalid_json_line", 3)]
        assert entry["output_file_id"] is None

    def test_its_lessons_are_pending_again(self, story):
        assert {state for state, _batch, _times in story.states_before_rerun.values()} == {"pending"}

    def test_the_next_generate_resubmits_them(self, story):
        ok(story.results["rerun"])
        first, second = story.batches["rerun"]
        assert batch_lessons(story.server, second) == story.project.lessons
        assert {batch_id for _state, batch_id, _times in story.project.lesson_states().values()} == {second["id"]}


class TestTokenLimitExceededBatch:
    """The batch fails with token_limit_exceeded; check; generate again."""

    scenario = {"batches": ["token_limit"]}

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("token_limit"), server))
        ok(story.step("generate", story.project.generate("--yes")))
        story.step("status", story.project.status())
        with story.project.ledger() as ledger:
            story.lessons_before_rerun = ledger.lessons()
        story.step("rerun", story.project.generate("--yes"))
        return story

    def test_status_reports_it_and_exits_1(self, story):
        out = failed(story.results["status"])
        [batch] = story.batches["generate"]
        assert "failed" in batch_line(out, batch["id"])
        assert re.search(r"^\s+error: token_limit_exceeded\b", out, re.MULTILINE)

    def test_its_lessons_are_pending_again_with_the_reason(self, story):
        lessons = story.lessons_before_rerun
        assert {record.state for record in lessons.values()} == {"pending"}
        assert all("token_limit_exceeded" in record.reason for record in lessons.values())

    def test_the_next_generate_resubmits_them(self, story):
        ok(story.results["rerun"])
        first, second = story.batches["rerun"]
        assert batch_lessons(story.server, second) == story.project.lessons


# ---------------------------------------------------------------- rolling submission under a token cap


class TestTokenCapRollingSubmission:
    """Four lessons, a cap fitting two: generate; check; generate; watch; generate."""

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        project = Project(tmp_path_factory.mktemp("rolling"), server, lessons=list(ALL_LESSONS))
        story = Story(project)
        cap = ("--max-enqueued-tokens", TWO_SHARD_CAP)
        ok(story.step("generate", project.generate("--yes", *cap)))
        assert "Input files: 2" in story.results["generate"].stdout, "the cap must split the plan in two"
        with project.ledger() as ledger:
            story.in_flight_after_generate = ledger.in_flight_lessons()
        ok(story.step("status", project.status()))  # the first batch is in_progress
        ok(story.step("while_running", project.generate("--yes", *cap)))
        ok(story.step("watch", project.status("--watch", "--interval", INTERVAL)))
        ok(story.step("after_finish", project.generate("--yes", *cap)))
        return story

    def test_only_the_first_shard_is_submitted_and_the_rest_wait(self, story):
        [batch] = story.batches["generate"]
        first = batch_lessons(story.server, batch)
        assert 0 < len(first) < len(ALL_LESSONS)
        assert "2 lessons wait for room under the enqueued-token cap" in story.results["generate"].stdout
        assert story.in_flight_after_generate == set(first)  # the others are not in any batch yet

    def test_a_rerun_while_the_first_batch_is_in_progress_submits_nothing_more(self, story):
        assert len(story.batches["while_running"]) == 1
        assert len(calls(story.logs["while_running"], "POST", "/v1/files")) == 1
        assert "wait for room under the enqueued-token cap" in story.results["while_running"].stdout

    def test_a_rerun_after_the_first_batch_finished_submits_the_rest(self, story):
        first, second = story.batches["after_finish"]
        assert batch_lessons(story.server, second) == sorted(set(ALL_LESSONS) - set(batch_lessons(story.server, first)))
        assert lessons_over_all_batches(story.server) == ALL_LESSONS  # each lesson in exactly one batch


def test_token_cap_with_wait_submits_every_shard_in_turn_in_one_command(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=list(ALL_LESSONS))

    out = ok(project.generate("--yes", "--wait", "--interval", INTERVAL, "--max-enqueued-tokens", TWO_SHARD_CAP))

    assert "Input files: 2" in out
    first, second = fake_openai.created_batches()
    assert [first["status"], second["status"]] == ["completed", "completed"]
    # the second batch was created only after the first had finished and its results were fetched
    log = [(entry.method, entry.path) for entry in fake_openai.requests]
    first_results = log.index(("GET", f"/v1/files/{first['output_file_id']}/content"))
    creates = [index for index, call in enumerate(log) if call == ("POST", "/v1/batches")]
    assert creates[0] < first_results < creates[1]
    assert lessons_over_all_batches(fake_openai) == ALL_LESSONS
    assert "All requested lessons are saved." in out
    assert sorted(path.stem for path in project.out.glob("*.md")) == ALL_LESSONS


def test_the_shard_submitted_later_by_wait_is_told_in_words_like_the_first(tmp_path, fake_openai):
    project = Project(tmp_path, fake_openai, lessons=list(ALL_LESSONS))

    out = ok(project.generate("--yes", "--wait", "--interval", INTERVAL, "--max-enqueued-tokens", TWO_SHARD_CAP))

    first, second = fake_openai.created_batches()
    assert f"Created batch {first['id']} for " in out and f"Created batch {second['id']} for " in out
    assert out.count("Uploading ") == 2 and "Uploading(" not in out and "BatchCreated(" not in out


def test_wait_resubmits_lessons_of_a_batch_that_hit_the_token_limit_once_the_queue_frees(tmp_path, fake_openai):
    # The first batch takes the queue; the second fails with token_limit_exceeded meanwhile. --wait
    # puts its lessons back, waits for the first to finish, and submits them again.
    fake_openai.set_scenario({"batches": ["complete", "token_limit", "complete"]})
    project = Project(tmp_path, fake_openai, lessons=list(ALL_LESSONS))

    out = ok(project.generate("--yes", "--wait", "--interval", INTERVAL, "--max-requests-per-batch", "2"))

    statuses = [batch["status"] for batch in fake_openai.created_batches()]
    assert statuses == ["completed", "failed", "completed"]
    assert sorted(batch_lessons(fake_openai, fake_openai.created_batches()[1])) == sorted(
        batch_lessons(fake_openai, fake_openai.created_batches()[2])
    )
    assert "All requested lessons are saved." in out
    assert sorted(path.stem for path in project.out.glob("*.md")) == ALL_LESSONS


def test_wait_gives_up_when_every_retry_hits_the_token_limit(tmp_path, fake_openai):
    fake_openai.set_scenario({"default_outcome": "token_limit"})
    project = Project(tmp_path, fake_openai, lessons=list(ALL_LESSONS))

    result = project.generate("--yes", "--wait", "--interval", INTERVAL)

    failed(result)
    assert "rounds in a row saved no lesson" in result.stderr
    assert len(fake_openai.created_batches()) == 3  # the first try and two retries, then it stops
    assert "4 lessons were not saved" in result.stdout


# ---------------------------------------------------------------- cancel, expire


def test_cancel_stops_a_running_batch_and_status_shows_cancelling_then_cancelled(project, fake_openai):
    fake_openai.set_scenario({**SELF_ADVANCING, "batches": ["stuck"]})
    ok(project.generate("--yes"))
    [batch] = fake_openai.created_batches()
    _wait_for_server_status(fake_openai, batch["id"], "in_progress")

    cancel = ok(project.status("--cancel", "--yes"))

    assert f"Batch {batch['id']}: cancelling" in cancel
    assert calls(fake_openai.requests, "POST", f"/v1/batches/{batch['id']}/cancel", status=200)
    _wait_for_server_status(fake_openai, batch["id"], "cancelled")  # the server's own pace, not the test's
    after = project.status()
    assert "cancelled" in batch_line(after.stdout, batch["id"])


def test_watch_on_a_batch_that_expires_exits_1(project, fake_openai):
    fake_openai.set_scenario({"batches": ["expire"]})
    ok(project.generate("--yes"))

    out = failed(project.status("--watch", "--interval", INTERVAL))

    assert "Summary: 1 expired" in out
    assert [batch["status"] for batch in fake_openai.created_batches()] == ["expired"]


# ---------------------------------------------------------------- transient faults


def test_submission_survives_two_upload_503s_and_a_create_429_with_one_batch(project, fake_openai):
    fake_openai.set_scenario({"faults": {"upload_503": 2, "create_429": 1}})

    ok(project.generate("--yes"))

    log = fake_openai.requests
    assert [entry.status for entry in calls(log, "POST", "/v1/files")] == [503, 503, 200]
    assert [entry.status for entry in calls(log, "POST", "/v1/batches")] == [429, 200]
    [batch] = fake_openai.created_batches()
    assert [file_id for file_id, f in fake_openai.files.items() if f.purpose == "batch"] == [batch["input_file_id"]]
    assert project.lesson_states() == {lesson: ("submitted", batch["id"], 1) for lesson in project.lessons}


def test_watch_survives_more_503s_than_the_client_retries_and_still_finishes(project, fake_openai):
    ok(project.generate("--yes"))
    # The client retries a 503 five times itself; eight in a row reach the watch loop, which
    # reports them and polls again instead of giving up.
    fake_openai.set_scenario({"faults": {"retrieve_503": 8}})

    result = project.status("--watch", "--interval", INTERVAL)

    out = ok(result)
    assert "(will retry)" in out
    assert "Summary: 1 completed" in out
    assert len(calls(fake_openai.requests, "GET", f"/v1/batches/{fake_openai.created_batches()[0]['id']}", 503)) == 8


# ---------------------------------------------------------------- a rejected key


class TestRejectedApiKey:
    """The server accepts only sk-good; generate runs with another key."""

    scenario = {"valid_api_keys": ["sk-good"]}
    wrong_key = "sk-wrong-key-0123456789abcdef"

    @pytest.fixture(scope="class")
    @classmethod
    def story(cls, server, tmp_path_factory) -> Story:
        story = Story(Project(tmp_path_factory.mktemp("bad_key"), server))
        story.step("generate", story.project.generate("--yes", api_key=cls.wrong_key))
        return story

    def test_generate_says_the_key_was_rejected_and_exits_1(self, story):
        result = story.results["generate"]
        failed(result)
        assert "rejected the key" in result.stderr
        assert "Traceback" not in result.stderr
        assert self.wrong_key not in result.stdout + result.stderr  # the key itself is never printed

    def test_nothing_is_uploaded_or_created(self, story):
        assert calls(story.logs["generate"], "POST", "/v1/files") == []
        assert calls(story.logs["generate"], "POST", "/v1/batches") == []

    def test_nothing_is_recorded_in_the_ledger(self, story):
        with story.project.ledger() as ledger:
            assert ledger.shards() == []
            assert ledger.batches() == []
            assert ledger.lessons() == {}


# ---------------------------------------------------------------- budget and confirmation


def test_max_cost_below_the_estimate_refuses_and_uploads_nothing(project, fake_openai):
    result = project.generate("--yes", "--max-cost", "0.0001")

    failed(result)
    assert "--max-cost" in result.stderr
    assert "Traceback" not in result.stderr
    assert calls(fake_openai.requests, "POST", "/v1/files") == []
    assert fake_openai.created_batches() == []
    with project.ledger() as ledger:
        assert ledger.shards() == []


def test_generate_without_yes_when_stdin_is_not_a_terminal_proceeds_instead_of_waiting(project, fake_openai):
    out = ok(project.generate(input=""))  # stdin: an empty pipe, so nobody could answer a prompt

    assert len(fake_openai.created_batches()) == 1
    assert "Created batch" in out


# ---------------------------------------------------------------- a re-run sees what happened meanwhile


def test_token_cap_rerun_submits_the_rest_once_the_first_batch_finished_even_if_nobody_checked(tmp_path, fake_openai):
    fake_openai.set_scenario(SELF_ADVANCING)
    project = Project(tmp_path, fake_openai, lessons=list(ALL_LESSONS))
    ok(project.generate("--yes", "--max-enqueued-tokens", TWO_SHARD_CAP))
    [first] = fake_openai.created_batches()
    _wait_for_server_status(fake_openai, first["id"], "completed")  # no check_batch_status in between

    ok(project.generate("--yes", "--max-enqueued-tokens", TWO_SHARD_CAP))

    assert len(fake_openai.created_batches()) == 2
    assert lessons_over_all_batches(fake_openai) == ALL_LESSONS


def test_rerun_resubmits_the_lessons_of_a_batch_that_failed_even_if_nobody_checked(project, fake_openai):
    fake_openai.set_scenario({**SELF_ADVANCING, **FAIL_VALIDATION_AT_LINE_3})
    ok(project.generate("--yes"))
    [first] = fake_openai.created_batches()
    _wait_for_server_status(fake_openai, first["id"], "failed")  # no check_batch_status in between

    ok(project.generate("--yes"))

    first, second = fake_openai.created_batches()
    assert batch_lessons(fake_openai, second) == project.lessons


# ---------------------------------------------------------------- a folder with no ledger


def test_status_in_a_folder_with_no_ledger_says_so_and_creates_nothing(tmp_path):
    result = run_script(STATUS_SCRIPT, "--work-dir", tmp_path / "work", cwd=tmp_path)

    assert "No run ledger in" in ok(result)
    assert not (tmp_path / "work").exists()


def test_processing_in_a_folder_with_no_ledger_says_there_is_nothing_to_process_and_creates_nothing(tmp_path):
    result = run_script(PROCESS_SCRIPT, "--work-dir", tmp_path / "work", cwd=tmp_path)

    assert ok(result).startswith("No run ledger in work: nothing was submitted from there yet")
    assert not (tmp_path / "work").exists()


def test_processing_a_results_file_in_a_folder_with_no_ledger_is_an_error_and_creates_nothing(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text("{}\n", encoding="utf-8")
    result = run_script(PROCESS_SCRIPT, "--work-dir", tmp_path / "work", "--results-file", results, cwd=tmp_path)

    failed(result)
    assert "no run ledger in" in result.stderr
    assert not (tmp_path / "work").exists()


# ---------------------------------------------------------------- old failures, settled


def test_an_expired_batch_whose_lessons_were_all_saved_later_no_longer_fails_the_status(project, fake_openai):
    fake_openai.set_scenario({"batches": [{"outcome": "expire", "done_fraction": 0.5}]})
    ok(project.generate("--yes"))
    failed(project.status("--watch", "--interval", INTERVAL))  # expired, lessons missing: needs attention
    work = ("--work-dir", project.work, "--output-dir", project.out)
    process = lambda: run_script(PROCESS_SCRIPT, *work, env=fake_openai.env(), cwd=project.root)  # noqa: E731
    failed(process())  # saves what finished; the rest is reported
    ok(project.generate("--yes"))  # the expired lessons, again: taken care of
    ok(project.status("--watch", "--interval", INTERVAL))
    ok(process())

    result = project.status()

    out = ok(result)
    expired, completed = fake_openai.created_batches()
    assert "expired" in batch_line(out, expired["id"])
    assert "completed" in batch_line(out, completed["id"])


def test_each_retry_the_client_makes_is_told_on_stderr_with_its_count(project, fake_openai):
    fake_openai.set_scenario({"faults": {"upload_503": 2}})

    result = project.generate("--yes")

    ok(result)
    retries = [line for line in result.stderr.splitlines() if "no usable answer from" in line]
    assert len(retries) == 2
    assert "retrying... (retry 1 of 5, in " in retries[0] and "retrying... (retry 2 of 5, in " in retries[1]
