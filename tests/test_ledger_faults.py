"""Faults a user meets around the run ledger (issue 23: items 1, 3, 4, 7, 9), each run against the
local server, whose request log judges what was paid: a lesson in two created batches is paid twice.

- a ledger deleted or emptied while a batch runs is rebuilt from the API's batches and the work
  dir's files: the running batch is adopted, never created again;
- a cancel (``check_batch_status.py --cancel``) stops a waiting ``generate --wait`` from submitting,
  and one that arrives while a batch is being created gets that batch cancelled as it exists;
- a work dir whose ledger is gone but that served another course is not given the default course;
- two processing runs on one work dir take turns: no traceback, each lesson counted once;
- a damaged ledger is noticed on open, refused with what to run, and repaired from its backup.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lesson_batch import process_job as processing_module
from lesson_batch.api import BatchApi
from lesson_batch.defaults import DEFAULT_CURRICULUM
from lesson_batch.ledger import Ledger
from lesson_batch.ledger.file import LedgerError, damage, set_aside_damaged_ledger, try_lock
from lesson_batch.workspace import Workspace
from tests.helpers import (
    PROCESS_SCRIPT,
    REPO_ROOT,
    STATUS_SCRIPT,
    ScriptDriver,
    batches_per_lesson,
    run_script,
    script_env,
    start_python,
    wait_until,
    write_curriculum,
)

LESSONS = [f"M0-L{number:03d}" for number in range(1, 7)]
INTERVAL = "0.01"
SELF_ADVANCING = {"advance": "time", "seconds_per_step": 0.02, "in_progress_steps": 1}
# With two lessons a shard (~1,550 prompt tokens each), a 2,000-token cap submits one batch at a time.
ONE_BATCH_AT_A_TIME = ("--max-enqueued-tokens", "2000")


class Job(ScriptDriver):
    def __init__(self, root: Path, server):
        super().__init__(root, server)
        write_curriculum(self.curriculum, [f"Topic {number}" for number in range(1, 7)], name="Six Lessons")

    @property
    def ledger_path(self) -> Path:
        return self.work / "ledger.sqlite3"

    def paid(self):
        return batches_per_lesson(self.server)

    def creates(self) -> int:
        return sum(1 for entry in self.server.requests if entry.method == "POST" and entry.path == "/v1/batches")


@pytest.fixture
def job(tmp_path, fake_openai) -> Job:
    return Job(tmp_path, fake_openai)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


# ---------------------------------------------------------------- 1. a lost ledger


@pytest.mark.parametrize("loss", ["deleted", "emptied"])
def test_a_ledger_lost_with_its_backup_while_its_batch_runs_is_rebuilt_from_the_api_without_a_second_batch(job, loss):
    ok(job.generate("--yes"))  # the batch moves a step each time it is read: it is still running here
    [batch] = job.server.created_batches()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)
    if loss == "deleted":
        job.ledger_path.unlink()
    else:
        job.ledger_path.write_bytes(b"")

    out = ok(job.generate("--yes", "--wait", "--interval", INTERVAL))

    assert job.creates() == 1, out
    assert f"adopted 1 batch still running (not paid again): {batch['id']}" in out
    assert "not recovered: flex runs" in out
    assert job.saved_lessons() == set(LESSONS)
    assert set(job.paid().values()) == {1}


def test_every_batch_of_a_job_is_adopted_whatever_order_the_api_lists_them_in(job):
    job.server.set_scenario({"batch_list_order": "shuffled"})
    ok(job.generate("--yes", "--max-requests-per-batch", "2"))
    created = [batch["id"] for batch in job.server.created_batches()]
    assert len(created) == 3
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)

    out = ok(job.generate("--yes", "--wait", "--interval", INTERVAL, "--max-requests-per-batch", "2"))

    assert "adopted 3 batches still running" in out
    assert job.creates() == 3 and set(job.paid().values()) == {1}
    assert job.saved_lessons() == set(LESSONS)


def test_a_ledger_deleted_while_its_batch_runs_comes_back_from_its_backup_and_the_job_finishes_once(job):
    ok(job.generate("--yes"))
    job.ledger_path.unlink()

    out = ok(job.generate("--yes", "--wait", "--interval", INTERVAL))

    assert "was missing; restored its last good copy (ledger.sqlite3.bak" in out
    assert job.creates() == 1 and set(job.paid().values()) == {1}
    assert job.saved_lessons() == set(LESSONS)


def test_a_lost_ledger_of_a_finished_batch_is_rebuilt_and_its_lessons_saved_once(job):
    job.server.set_scenario(SELF_ADVANCING)
    ok(job.generate("--yes"))
    [batch] = job.server.created_batches()
    wait_until(lambda: job.server.batches[batch["id"]]["status"] == "completed", "the batch completes")
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)

    out = ok(job.process())

    assert f"whose results are processed next: {batch['id']}" in out
    assert job.saved_lessons() == set(LESSONS)
    again = ok(job.generate("--yes"))
    assert "Nothing to submit." in again and job.creates() == 1
    assert set(job.states().values()) == {"succeeded"}


def test_a_link_at_a_lesson_path_is_not_taken_for_a_saved_lesson_when_the_ledger_is_rebuilt(job, tmp_path):
    job.server.set_scenario(SELF_ADVANCING)
    ok(job.generate("--yes"))
    [batch] = job.server.created_batches()
    wait_until(lambda: job.server.batches[batch["id"]]["status"] == "completed", "the batch completes")
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Not a lesson of this job\n", encoding="utf-8")
    job.out.mkdir(parents=True, exist_ok=True)
    (job.out / f"{LESSONS[0]}.md").symlink_to(outside)
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)

    job.process()

    states = job.states()
    assert states[LESSONS[0]] != "succeeded"
    assert {states[lesson] for lesson in LESSONS[1:]} == {"succeeded"}


def test_the_processing_command_the_status_suggests_for_a_batch_works_where_the_ledger_is_gone(job):
    job.server.set_scenario(SELF_ADVANCING)
    ok(job.generate("--yes"))
    [batch] = job.server.created_batches()
    wait_until(lambda: job.server.batches[batch["id"]]["status"] == "completed", "the batch completes")
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)

    status = ok(job.status(batch["id"]))
    suggested = f"python {PROCESS_SCRIPT} --work-dir {job.work}"
    assert suggested in status.replace(str(job.root) + "/", "") or f"--work-dir {job.work.name}" in status, status

    out = ok(run_script(PROCESS_SCRIPT, "--work-dir", job.work, env=job.env(), cwd=job.root))  # as suggested

    assert "Rebuilt it from the API's batches" in out
    assert job.saved_lessons() == set(LESSONS) and job.creates() == 1


def test_the_status_of_a_work_dir_whose_ledger_is_gone_says_how_to_rebuild_it(job):
    job.server.set_scenario({"batches": ["stuck"]})
    ok(job.generate("--yes"))
    job.ledger_path.unlink()

    out = refused(job.status())

    assert "the ledger was lost" in out and PROCESS_SCRIPT in out
    assert "nothing was submitted from there yet" not in out


def test_every_batch_carries_the_work_dir_and_course_it_belongs_to(job):
    ok(job.generate("--yes"))
    [batch] = job.server.created_batches()
    metadata = batch["metadata"]
    assert metadata["lesson_batch_course"] == str(job.curriculum.resolve())
    assert metadata["lesson_batch_lessons_dir"] == str(job.out.resolve())
    assert metadata["lesson_batch_job"] and metadata["lesson_batch_shard"]


# ---------------------------------------------------------------- 3. a cancel


def test_a_cancel_during_generate_wait_stops_every_further_batch(job):
    job.server.set_scenario({**SELF_ADVANCING, "batches": ["stuck"]})
    args = ["--curriculum", job.curriculum, "--work-dir", job.work, "--output-dir", job.out, "--yes", "--wait",
            "--interval", INTERVAL, *ONE_BATCH_AT_A_TIME]
    with (
        open(job.root / "out.txt", "w+", encoding="utf-8") as out,
        open(job.root / "err.txt", "w+", encoding="utf-8") as err,
    ):
        process = start_python(REPO_ROOT / "generate_datagov_lessons_batch.py", *args, cwd=job.root,
                               env=script_env(job.env()), stdout=out, stderr=err)
        try:
            wait_until(lambda: job.server.created_batches() and process.poll() is None, "the first batch exists", 60)
            first = job.server.created_batches()[0]["id"]
            wait_until(lambda: Ledger.exists(job.work) and job.status_json()["batches"], "the batch is recorded", 60)
            cancel = ok(job.status("--cancel", "--yes"))
            assert f"Batch {first}: cancelling" in cancel
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()

    assert "Traceback" not in stderr, stderr
    assert [batch["id"] for batch in job.server.created_batches()] == [first], stdout
    assert "A cancel was recorded" in stdout and "no more batches are submitted" in stdout
    assert job.server.batches[first]["status"] == "cancelled"


def test_a_cancel_while_the_first_batch_is_being_created_gets_that_batch_cancelled(job, monkeypatch):
    job.server.set_scenario({"batches": ["stuck"]})
    seen = {}
    real_create = BatchApi.create_batch

    def create_after_a_cancel(self, input_file_id, metadata, *rest):
        # Another terminal cancels the job while this run is between its upload and its create.
        seen["cancel"] = run_script(STATUS_SCRIPT, "--work-dir", job.work, "--cancel", "--yes", env=job.env(),
                                    cwd=job.root, own_process=True)
        return real_create(self, input_file_id, metadata, *rest)

    monkeypatch.setattr(BatchApi, "create_batch", create_after_a_cancel)
    out = ok(job.generate("--yes"))

    cancel = ok(seen["cancel"])
    assert "No batches recorded" not in cancel
    assert "A run is submitting right now" in cancel
    [batch] = job.server.created_batches()
    assert job.server.batches[batch["id"]]["status"] in ("cancelling", "cancelled")
    assert f"while batch {batch['id']} was being created: cancelled it at once" in out


def test_a_run_started_after_a_cancel_submits_again(job):
    job.server.set_scenario({"batches": ["stuck"]})
    ok(job.generate("--yes", "--lessons", "M0-L001"))
    ok(job.status("--cancel", "--yes"))

    ok(job.generate("--yes", "--lessons", "M0-L002"))

    assert job.creates() == 2


# ---------------------------------------------------------------- 4. no default course


def test_a_work_dir_that_served_another_course_gets_no_default_course_when_its_ledger_is_gone(job):
    job.server.set_scenario({"batches": ["stuck"]})
    ok(job.generate("--yes"))
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)
    uploads_before = sum(1 for entry in job.server.requests if entry.method == "POST" and entry.path == "/v1/files")

    out = refused(job.run("generate_datagov_lessons_batch.py", "--work-dir", job.work, "--yes"))

    assert f"--curriculum {job.curriculum.name}" in out or f"--curriculum {job.curriculum}" in out, out
    assert str(DEFAULT_CURRICULUM.name) in out and "Nothing was submitted" in out
    assert job.creates() == 1
    assert sum(1 for e in job.server.requests if e.method == "POST" and e.path == "/v1/files") == uploads_before


def test_a_dry_run_in_a_work_dir_that_served_another_course_names_no_default_course(job):
    job.server.set_scenario({"batches": ["stuck"]})
    ok(job.generate("--yes"))
    job.ledger_path.unlink()
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)

    out = refused(job.run("generate_datagov_lessons_batch.py", "--work-dir", job.work, "--dry-run"))

    assert "served another course" in out and "--curriculum" in out


# ---------------------------------------------------------------- 7. two terminals


def test_two_processing_runs_of_one_batch_take_turns_and_count_each_lesson_once(job, monkeypatch):
    job.server.set_scenario(SELF_ADVANCING)
    ok(job.generate("--yes"))
    [batch] = job.server.created_batches()
    wait_until(lambda: job.server.batches[batch["id"]]["status"] == "completed", "the batch completes")
    other = {}
    real_download = processing_module.download_results

    def second_terminal_starts(processing, api, record, events):
        # While this run is at the batch, a second terminal processes the same work dir.
        if not other:
            out = open(job.root / "t2.out", "w+", encoding="utf-8")
            err = open(job.root / "t2.err", "w+", encoding="utf-8")
            other["files"] = out, err
            other["process"] = start_python(
                REPO_ROOT / PROCESS_SCRIPT, "--work-dir", job.work, "--output-dir", job.out, "--json",
                cwd=job.root, env=script_env(job.env()), stdout=out, stderr=err,
            )
            wait_until(lambda: other["process"].poll() is not None or "waiting" in (job.root / "t2.err").read_text(),
                       "the second terminal ends or waits its turn", 60)
        return real_download(processing, api, record, events)

    monkeypatch.setattr(processing_module, "download_results", second_terminal_starts)
    first = job.process("--json")
    other["process"].wait(timeout=60)
    for handle in other["files"]:
        handle.close()
    second_out, second_err = (job.root / "t2.out").read_text(), (job.root / "t2.err").read_text()

    assert "Traceback" not in first.stderr + second_err, first.stderr + second_err
    assert first.returncode == 0 and other["process"].returncode == 0, first.stderr + second_err
    saved = json.loads(first.stdout)["result"]["total"]["saved"] + json.loads(second_out)["result"]["total"]["saved"]
    assert saved == len(LESSONS)
    assert job.saved_lessons() == set(LESSONS)


# ---------------------------------------------------------------- 9. a damaged ledger


def _damage_a_middle_page(path: Path) -> None:
    """Overwrite one page in the middle of the database (neither its header nor its last page)."""
    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'lessons'").fetchone()[0]
    db.close()
    assert 1 < root <= pages
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\x0d" + b"\xff" * (page_size - 1))


def test_a_damaged_page_is_noticed_on_open_and_a_dry_run_says_what_to_run(job):
    job.server.set_scenario({"batches": ["stuck"]})
    ok(job.generate("--yes"))
    _damage_a_middle_page(job.ledger_path)

    out = refused(job.generate("--dry-run"))

    assert "cannot open the run ledger: it is damaged" in out
    assert "Run python " in out and f"{PROCESS_SCRIPT} --work-dir" in out


def _add_a_page_nothing_uses(path: Path) -> int:
    """Append a page that the database's header counts and no table uses; return its number. SQLite
    opens such a file and its quick check reports the page (a page overwritten with garbage, above,
    fails the check itself with an error instead)."""
    with sqlite3.connect(path) as db:
        page_size, pages = db.execute("PRAGMA page_size").fetchone()[0], db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    with open(path, "r+b") as handle:
        handle.seek(0, 2)
        handle.write(b"\0" * page_size)
        handle.seek(28)  # the header's page count: 4 bytes, big-endian
        handle.write((pages + 1).to_bytes(4, "big"))
    return pages + 1


def test_a_ledger_whose_quick_check_reports_a_problem_is_damaged_in_the_check_s_own_words(tmp_path):
    Ledger.open(tmp_path).close()
    ledger_path = Workspace(tmp_path).ledger_path
    page = _add_a_page_nothing_uses(ledger_path)

    assert damage(ledger_path) == f"*** in database main ***\nPage {page} is never used"


def test_a_damaged_ledger_beside_a_journal_left_by_a_killed_write_is_still_found_damaged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a wrong path opened instead of the ledger would be created here, not in the repo
    Ledger.open(tmp_path / "work").close()
    ledger_path = Workspace(tmp_path / "work").ledger_path
    page = _add_a_page_nothing_uses(ledger_path)
    ledger_path.with_name(ledger_path.name + "-journal").write_bytes(b"")

    assert damage(ledger_path) == f"*** in database main ***\nPage {page} is never used"


def test_a_run_that_does_not_repair_a_damaged_ledger_says_what_is_wrong_with_it(tmp_path):
    workspace = Workspace(tmp_path)
    workspace.ledger_path.write_bytes(b"these bytes are not an SQLite database " * 200)
    problem = damage(workspace.ledger_path)
    assert problem

    with pytest.raises(LedgerError) as refusal:
        set_aside_damaged_ledger(workspace, repair=False)

    assert f"it is damaged ({problem}); nothing was changed" in str(refusal.value)
    assert workspace.ledger_path.is_file(), "a run that does not repair leaves the ledger where it is"


def test_a_damaged_ledger_is_set_aside_restored_from_its_backup_and_the_job_finishes_once(job):
    ok(job.generate("--yes"))
    assert (job.work / "ledger.sqlite3.bak").is_file(), "the run keeps a backup of the ledger"
    _damage_a_middle_page(job.ledger_path)

    out = ok(job.generate("--yes", "--wait", "--interval", INTERVAL))

    assert "was damaged" in out and "restored its last good copy (ledger.sqlite3.bak" in out
    assert list(job.work.glob("ledger.sqlite3.damaged-*")), "the damaged file is kept"
    assert job.creates() == 1 and set(job.paid().values()) == {1}
    assert job.saved_lessons() == set(LESSONS)


def test_a_file_that_is_not_a_ledger_at_all_is_replaced_and_rebuilt_from_the_api(job):
    ok(job.generate("--yes"))
    (job.work / "ledger.sqlite3.bak").unlink(missing_ok=True)
    job.ledger_path.write_bytes(b"this is not a database " * 200)

    out = ok(job.generate("--yes", "--wait", "--interval", INTERVAL))

    assert "file is not a database" in out and "adopted 1 batch still running" in out
    assert job.creates() == 1 and job.saved_lessons() == set(LESSONS)



def test_a_dry_run_on_an_emptied_ledger_says_what_to_run_instead_of_planning_blind(job):
    ok(job.generate("--yes"))
    job.ledger_path.write_bytes(b"")

    out = refused(job.generate("--dry-run"))

    assert "it was truncated" in out and f"{PROCESS_SCRIPT} --work-dir" in out


KILLED_IN_THE_MIDDLE_OF_A_WRITE = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size = 1")  # the write spills to the file before it commits
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE lessons SET state = 'failed', reason = 'never committed'")
db.execute("INSERT INTO meta (key, value) SELECT 'filler' || lesson_id, zeroblob(8192) FROM lessons")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_ledger_whose_writer_was_killed_mid_write_is_rolled_back_not_taken_for_damaged(tmp_path):
    lesson_ids = [f"M0-L{number:03d}" for number in range(1, 201)]
    with Ledger.open(tmp_path) as ledger:
        ledger.note_pending(lesson_ids)
    ledger_path = tmp_path / "ledger.sqlite3"
    subprocess.run([sys.executable, "-c", KILLED_IN_THE_MIDDLE_OF_A_WRITE, str(ledger_path)], check=False)
    assert ledger_path.with_name("ledger.sqlite3-journal").exists()  # the kill left a hot journal

    with Ledger.open(tmp_path, repair=True) as ledger:
        assert ledger.lost is None
        lessons = ledger.lessons()
    assert sorted(lessons) == lesson_ids and {lesson.state for lesson in lessons.values()} == {"pending"}
    assert not list(tmp_path.glob("ledger.sqlite3.damaged-*"))


def test_a_ledger_damaged_while_a_run_has_it_open_never_replaces_its_last_good_copy(tmp_path):
    lesson_ids = [f"M0-L{number:03d}" for number in range(1, 201)]
    with Ledger.open(tmp_path) as ledger:
        ledger.note_pending(lesson_ids)
    backup = tmp_path / "ledger.sqlite3.bak"
    good = backup.read_bytes()

    ledger = Ledger.open(tmp_path)
    ledger.set_max_attempts(5)  # the run changed it: it is copied on close, if sound
    _damage_a_middle_page(tmp_path / "ledger.sqlite3")
    ledger.close()

    assert backup.read_bytes() == good


def test_a_run_that_changed_one_row_leaves_it_in_the_rolling_backup(tmp_path):
    Ledger.open(tmp_path).close()
    with Ledger.open(tmp_path) as ledger:
        ledger.set_max_attempts(7)  # one row
    with sqlite3.connect(tmp_path / "ledger.sqlite3.bak") as backup:
        assert backup.execute("SELECT value FROM meta WHERE key = 'max_attempts'").fetchone() == ("7",)


def test_a_run_that_finds_another_repairing_the_ledger_waits_and_uses_its_repair(tmp_path, monkeypatch):
    lesson_ids = [f"M0-L{number:03d}" for number in range(1, 201)]
    with Ledger.open(tmp_path) as ledger:
        ledger.note_pending(lesson_ids)
    workspace = Workspace(tmp_path)
    _damage_a_middle_page(workspace.ledger_path)
    other_run = open(workspace.recovery_lock_path, "a+b")
    assert try_lock(other_run)  # another run is repairing the ledger right now
    waits = []

    def other_run_finishes(seconds):
        waits.append(seconds)
        shutil.copyfile(workspace.rolling_backup, workspace.ledger_path)  # its repair
        other_run.close()

    monkeypatch.setattr(time, "sleep", other_run_finishes)
    with Ledger.open(tmp_path, repair=True) as ledger:
        assert ledger.lost is None, "the other run's repair is used, not set aside again"
        assert sorted(ledger.lessons()) == lesson_ids
    assert len(waits) == 1 and isinstance(waits[0], float) and waits[0] > 0
    assert not list(tmp_path.glob("ledger.sqlite3.damaged-*"))
