"""Upgrading the tool in the middle of a job: a ledger made by an older version is migrated.

Each version-1 ledger here is built by ``tests/v1_ledger.py`` from the schema version 1 shipped.
"""

import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import openai
import pytest

from lesson_batch.generate_wait import _requeued_by_failed_batches
from lesson_batch.ledger import Ledger, LedgerError
from lesson_batch.ledger import schema as ledger_schema
from lesson_batch.ledger.schema import Assumptions
from lesson_batch.settings import CURRICULUM, resolve_ledger_settings
from lesson_batch.states import SUBMITTED, SUCCEEDED
from tests.helpers import GENERATE_SCRIPT, PROCESS_SCRIPT, STATUS_SCRIPT, run_script, wait_until, write_curriculum
from tests.v1_ledger import PLAIN_ERRORS, PLAIN_RESULTS, V1Batch, V1WorkDir, submit_to

ASSUMED = Assumptions(
    api_base_url="https://api.openai.com/v1",
    curriculum="/course/Content Structure.md",
    template="/course/prompt.md",
    output_dir="/course/lessons",
)
SAME_SECOND = 1_764_000_000.0


def schema_version(path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


@pytest.fixture
def old(tmp_path):
    return V1WorkDir(tmp_path / "work")


def processed_and_in_flight(old, *, in_flight_sorts_first=False):
    """Batch A processed (its results under the plain names), batch B still running. Both were
    created in the same second; with ``in_flight_sorts_first`` B's id sorts before A's."""
    a_id, b_id = ("batch_b", "batch_a") if in_flight_sorts_first else ("batch_a", "batch_b")
    old.add_batch(V1Batch(a_id, ["M0-L001", "M0-L002"], status="completed", output_file_id="file-out-a",
                          created_at=SAME_SECOND, processed=True))
    old.write_results(PLAIN_RESULTS, ["M0-L001", "M0-L002"])
    old.add_batch(V1Batch(b_id, ["M0-L003", "M0-L004"], status="in_progress", created_at=SAME_SECOND))
    return a_id, b_id


def test_opening_a_version_1_ledger_brings_it_to_the_current_schema(old):
    processed_and_in_flight(old)
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    assert schema_version(old.path) == str(ledger_schema.SCHEMA_VERSION)


def test_the_version_1_file_is_kept_as_a_backup_before_upgrading(old):
    processed_and_in_flight(old)
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    backup = old.work_dir / "ledger.sqlite3.bak-v1"
    assert schema_version(backup) == "1"
    with sqlite3.connect(backup) as db:
        assert db.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 2


def test_the_batches_of_an_old_ledger_are_read_as_chat_completions_batches(old):
    processed_and_in_flight(old)
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert {record.endpoint for record in ledger.batches()} == {"/v1/chat/completions"}
        assert {shard.endpoint for shard in ledger.shards()} == {"/v1/chat/completions"}


def test_upgrading_keeps_every_batch_and_lesson_as_it_was(old):
    a_id, b_id = processed_and_in_flight(old)
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert {record.batch_id: record.status for record in ledger.batches()} == {
            a_id: "completed", b_id: "in_progress"
        }
        states = {lesson_id: (record.state, record.batch_id) for lesson_id, record in ledger.lessons().items()}
    assert states == {
        "M0-L001": (SUCCEEDED, a_id), "M0-L002": (SUCCEEDED, a_id),
        "M0-L003": (SUBMITTED, b_id), "M0-L004": (SUBMITTED, b_id),
    }


@pytest.mark.parametrize("in_flight_sorts_first", [False, True], ids=["in order", "same second, lower id"])
def test_the_plain_results_file_is_given_to_the_batch_whose_lessons_it_holds(old, in_flight_sorts_first):
    a_id, b_id = processed_and_in_flight(old, in_flight_sorts_first=in_flight_sorts_first)
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    assert dict(old.query("SELECT batch_id, results_file FROM batches")) == {a_id: PLAIN_RESULTS, b_id: None}


def test_a_plain_errors_file_is_matched_like_the_results_file(old):
    a_id, b_id = processed_and_in_flight(old)
    old.write_results(PLAIN_ERRORS, ["M0-L002"])
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    assert dict(old.query("SELECT batch_id, errors_file FROM batches")) == {a_id: PLAIN_ERRORS, b_id: None}


def test_a_result_file_named_after_its_batch_is_recorded_for_that_batch(old):
    a_id, b_id = processed_and_in_flight(old)
    old.write_results(f"datagov_lessons_results_{b_id}.jsonl", ["M0-L003"])
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    results_files = dict(old.query("SELECT batch_id, results_file FROM batches"))
    assert results_files[b_id] == f"datagov_lessons_results_{b_id}.jsonl"


def test_a_plain_file_that_fits_no_batch_is_left_unassigned_and_reported(old):
    processed_and_in_flight(old)
    old.write_results(PLAIN_RESULTS, ["M9-L009"])
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        notes = ledger.upgrade_notes
    assert old.query("SELECT batch_id FROM batches WHERE results_file IS NOT NULL") == []
    assert any(PLAIN_RESULTS in note and "matches no batch" in note for note in notes)


def test_a_batch_version_1_processed_with_another_batchs_file_is_opened_again(old):
    """The paid-twice bug of version 1: batch B read A's plain-named file and marked its own
    lessons missing. After the upgrade B's own results are downloaded instead of resubmitting."""
    old.add_batch(V1Batch("batch_a", ["M0-L001"], status="completed", output_file_id="file-a", processed=True))
    old.write_results(PLAIN_RESULTS, ["M0-L001"])
    old.add_batch(V1Batch("batch_b", ["M0-L002", "M0-L003"], status="completed", output_file_id="file-b",
                          processed=True), lesson_state="missing")
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        record = ledger.batch("batch_b")
        assert record.awaits_processing
        assert {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch("batch_b")} == {
            "M0-L002": SUBMITTED, "M0-L003": SUBMITTED
        }
        assert not ledger.batch("batch_a").awaits_processing



@pytest.mark.parametrize("status", ["expired", "cancelled"])
def test_an_expired_or_cancelled_batch_version_1_processed_with_another_batchs_file_is_opened_again(old, status):
    """An expired or cancelled batch has an output file of its own (what finished): version 1 could
    read the plain-named file of another batch instead, and mark its lessons missing."""
    old.add_batch(V1Batch("batch_a", ["M0-L001"], status="completed", output_file_id="file-a", processed=True))
    old.write_results(PLAIN_RESULTS, ["M0-L001"])
    old.add_batch(V1Batch("batch_b", ["M0-L002", "M0-L003"], status=status, output_file_id="file-b",
                          error_file_id="file-b-errors", processed=True), lesson_state="missing")
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert ledger.batch("batch_b").awaits_processing
        assert {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch("batch_b")} == {
            "M0-L002": SUBMITTED, "M0-L003": SUBMITTED
        }
        assert any("batch batch_b was processed without its own results file" in note for note in ledger.upgrade_notes)


def test_a_plain_file_whose_lessons_only_partly_belong_to_a_batch_is_given_to_no_batch(old):
    """A's file holds only A's lessons: a file that also holds a lesson A never asked for is not A's
    (nor B's, which asked for the other one)."""
    processed_and_in_flight(old)  # A: M0-L001, M0-L002; B: M0-L003, M0-L004
    old.write_results(PLAIN_RESULTS, ["M0-L002", "M0-L003"])
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        notes = ledger.upgrade_notes
    assert old.query("SELECT batch_id FROM batches WHERE results_file IS NOT NULL") == []
    assert any(PLAIN_RESULTS in note and "matches no batch" in note for note in notes)


def test_a_plain_file_that_fits_two_batches_goes_to_the_older_one_even_when_its_id_sorts_last(old):
    """A lesson requested again after its first batch lands in two batches; version 1 gave the plain
    names to the ledger's first batch, the oldest by ``created_at``, whatever the ids."""
    old.add_batch(V1Batch("batch_z_older", ["M0-L001", "M0-L002"], status="completed", output_file_id="file-z",
                          created_at=SAME_SECOND, processed=True))
    old.add_batch(V1Batch("batch_a_newer", ["M0-L002", "M0-L003"], status="in_progress",
                          created_at=SAME_SECOND + 3600))
    old.write_results(PLAIN_RESULTS, ["M0-L002"])
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        notes = ledger.upgrade_notes
    assert dict(old.query("SELECT batch_id, results_file FROM batches")) == {
        "batch_z_older": PLAIN_RESULTS, "batch_a_newer": None,
    }
    assert any("holds results of batch batch_z_older" in note and "also fits batch_a_newer" in note for note in notes)


def test_a_batch_processed_by_version_1_with_no_lesson_missing_is_not_opened_again(old):
    """A processed batch whose results file is gone, but none of whose lessons was marked missing,
    was processed with its own results: opening it again would only download and read them again."""
    old.add_batch(V1Batch("batch_a", ["M0-L001"], status="completed", output_file_id="file-a", processed=True))
    old.write_results(PLAIN_RESULTS, ["M0-L001"])
    old.add_batch(V1Batch("batch_b", ["M0-L002", "M0-L003"], status="expired", output_file_id="file-b",
                          error_file_id="file-b-errors", processed=True))
    old.query("UPDATE lessons SET state = 'expired', reason = 'batch_expired' WHERE lesson_id = 'M0-L003'")
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert not ledger.batch("batch_b").awaits_processing
        assert {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch("batch_b")} == {
            "M0-L002": SUCCEEDED, "M0-L003": "expired"
        }
        assert not any("batch_b" in note for note in ledger.upgrade_notes)


def test_a_version_1_ledger_with_no_lesson_saved_yet_keeps_the_lessons_folder_it_is_given(old, tmp_path):
    """Nothing saved yet: nothing contradicts the lessons folder the run assumes, so it is kept."""
    old.add_batch(V1Batch("batch_a", ["M0-L001", "M0-L002"], status="in_progress"))
    lessons = tmp_path / "lessons"
    with Ledger.open(old.work_dir, assume=replace(ASSUMED, output_dir=str(lessons))) as ledger:
        notes = ledger.upgrade_notes
    assert old.query("SELECT value FROM meta WHERE key = 'output_dir'") == [(str(lessons),)]
    assert not any("lessons folder of this ledger's job is not known" in note for note in notes)


def test_the_api_address_and_course_an_old_ledger_lacks_are_filled_in_and_said(old, tmp_path):
    processed_and_in_flight(old)
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "M0-L001.md").write_text("# Lesson\n", encoding="utf-8")
    assumed = replace(ASSUMED, output_dir=str(lessons))
    with Ledger.open(old.work_dir, assume=assumed) as ledger:
        notes = ledger.upgrade_notes
    assert dict(old.query("SELECT key, value FROM meta WHERE key != 'schema_version'")) == {
        "api_base_url": ASSUMED.api_base_url,
        "curriculum": ASSUMED.curriculum,
        "template": ASSUMED.template,
        "output_dir": str(lessons),
    }
    assert any(str(lessons) in note for note in notes)
    assert "upgraded from schema 1" in notes[0]


def test_lessons_an_older_version_gave_back_for_the_token_limit_are_known_after_the_upgrade(old):
    old.add_batch(V1Batch("batch_full", ["M0-L001", "M0-L002"], status="failed", processed=True),
                  lesson_state="pending")
    errors = [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached", "line": None, "param": None}]
    with sqlite3.connect(old.path) as db:
        db.execute("UPDATE batches SET errors = ? WHERE batch_id = 'batch_full'", (json.dumps(errors),))
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert _requeued_by_failed_batches(ledger, ["M0-L001", "M0-L002"]) == ["M0-L001", "M0-L002"]


def test_what_was_assumed_is_said_only_by_the_run_that_upgrades(old):
    processed_and_in_flight(old)
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    with Ledger.open(old.work_dir, assume=ASSUMED) as again:
        assert again.upgrade_notes == []


def test_a_failed_migration_leaves_the_ledger_as_it_was(old, monkeypatch):
    processed_and_in_flight(old)

    def breaks_half_way(db, work_dir, assumed):
        db.execute("ALTER TABLE batches ADD COLUMN results_file TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(ledger_schema.MIGRATIONS, 2, breaks_half_way)
    with pytest.raises(LedgerError):
        Ledger.open(old.work_dir, assume=ASSUMED)
    assert schema_version(old.path) == "1"
    assert "results_file" not in [row[1] for row in old.query("PRAGMA table_info(batches)")]


def test_a_read_only_open_of_an_old_ledger_upgrades_a_copy_and_leaves_the_file_untouched(old):
    processed_and_in_flight(old)
    before = old.path.read_bytes()
    with Ledger.open(old.work_dir, assume=ASSUMED, read_only=True) as ledger:
        assert ledger.batch("batch_a").awaits_processing is False
        assert len(ledger.batches()) == 2
    assert old.path.read_bytes() == before
    assert not (old.work_dir / "ledger.sqlite3.bak-v1").exists()


def test_a_read_only_open_of_an_old_ledger_reads_it_with_what_the_run_assumes(old):
    """A dry run on an old ledger sees the copy upgraded in memory with the facts this run would
    assume, and says what it assumed, as the run that upgrades the file will."""
    processed_and_in_flight(old)
    with Ledger.open(old.work_dir, assume=ASSUMED, read_only=True) as ledger:
        meta, notes = ledger.meta(), ledger.upgrade_notes
    assert (meta["api_base_url"], meta["curriculum"], meta["template"]) == (
        ASSUMED.api_base_url, ASSUMED.curriculum, ASSUMED.template
    )
    assert f"the curriculum of this ledger's job is taken to be {ASSUMED.curriculum}" in notes


def test_a_read_only_open_of_an_old_ledger_writes_no_file_in_the_current_folder(old, tmp_path, monkeypatch):
    """The copy upgraded for a dry run lives in memory: no file is left where the run was started."""
    processed_and_in_flight(old)
    started_in = tmp_path / "started_in"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    with Ledger.open(old.work_dir, assume=ASSUMED, read_only=True) as ledger:
        assert len(ledger.batches()) == 2
    assert list(started_in.iterdir()) == []


def test_a_read_only_open_of_an_old_ledger_leaves_the_rolling_backup_alone(old):
    """The copy upgraded in memory is not the ledger: closing it must not put it in the place of
    the last good copy of the file on disk."""
    processed_and_in_flight(old)
    backup = old.work_dir / "ledger.sqlite3.bak"
    backup.write_bytes(old.path.read_bytes())  # the last good copy of the ledger as it is on disk
    before = backup.read_bytes()
    with Ledger.open(old.work_dir, assume=ASSUMED, read_only=True) as ledger:
        assert len(ledger.batches()) == 2
    assert backup.read_bytes() == before


def test_a_read_only_open_of_a_current_ledger_does_not_write_it(tmp_path):
    Ledger.open(tmp_path).close()
    path = tmp_path / "ledger.sqlite3"
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    with Ledger.open(tmp_path, read_only=True) as ledger:
        assert ledger.batches() == []
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


def test_a_ledger_from_a_newer_version_is_refused_in_plain_words(tmp_path):
    Ledger.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(ledger_schema.SCHEMA_VERSION + 1),))
    with pytest.raises(LedgerError, match="made by a newer version of this tool.*upgrade"):
        Ledger.open(tmp_path)


# --------------------------------------------------------------------------- as a user meets it


def test_a_dry_run_on_an_old_ledger_says_what_it_would_assume_and_leaves_the_file_as_it_was(old, tmp_path):
    processed_and_in_flight(old)
    before = old.path.read_bytes()
    result = run_script(GENERATE_SCRIPT, "--dry-run", "--work-dir", old.work_dir,
                        "--output-dir", tmp_path / "lessons", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        f"has schema 1; it is read here as schema {ledger_schema.SCHEMA_VERSION} without changing the file"
        in result.stderr
    )
    assert "in a batch not yet processed (skipped): 2" in result.stdout
    assert old.path.read_bytes() == before


def test_status_on_an_old_ledger_upgrades_it_and_says_so_once(old, tmp_path, no_retry_waits):
    processed_and_in_flight(old)
    first = run_script(STATUS_SCRIPT, "--work-dir", old.work_dir, cwd=tmp_path,
                       env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    again = run_script(STATUS_SCRIPT, "--work-dir", old.work_dir, cwd=tmp_path,
                       env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "Traceback" not in first.stderr + again.stderr
    assert "upgraded from schema 1" in first.stderr
    assert "upgraded" not in again.stderr
    assert schema_version(old.path) == str(ledger_schema.SCHEMA_VERSION)


def leave_a_version_1_job(client: openai.OpenAI, old: V1WorkDir, lessons: Path, running_sorts_first: bool) -> None:
    """What version 1 left: M0-L001 and M0-L002 in a batch it processed (its results under the plain
    name, its lessons saved), M0-L003 and M0-L004 in a batch still running."""
    first = submit_to(client, old.work_dir, ["M0-L001", "M0-L002"])
    wait_until(lambda: client.batches.retrieve(first.id).status == "completed", f"batch {first.id} has completed")
    done = client.batches.retrieve(first.id)
    old.add_batch(V1Batch(first.id, ["M0-L001", "M0-L002"], status="completed",
                          output_file_id=done.output_file_id, created_at=float(done.created_at), processed=True))
    (old.work_dir / PLAIN_RESULTS).write_bytes(client.files.content(done.output_file_id).read())
    for lesson_id in ("M0-L001", "M0-L002"):
        (lessons / f"{lesson_id}.md").write_text("# An earlier lesson\n", encoding="utf-8")
    second = submit_to(client, old.work_dir, ["M0-L003", "M0-L004"])
    created = float(done.created_at) + (-1 if running_sorts_first else 1)
    old.add_batch(V1Batch(second.id, ["M0-L003", "M0-L004"], status="validating", created_at=created))


def test_a_job_left_by_version_1_is_finished_by_this_version_without_paying_twice(fake_openai, tmp_path):
    """One batch processed by version 1, one still running: status --watch, then processing, save
    every lesson; a following generate submits nothing; no lesson is in two batches."""
    client = openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url)
    old = V1WorkDir(tmp_path / "work")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    # The running batch sorts first: the case that made version 1 read the wrong file.
    leave_a_version_1_job(client, old, lessons, running_sorts_first=True)

    env = fake_openai.env()
    common = ("--work-dir", old.work_dir)
    watched = run_script(STATUS_SCRIPT, "--watch", "--interval", "0.01", *common, env=env, cwd=tmp_path)
    processed = run_script(PROCESS_SCRIPT, *common, "--output-dir", lessons, env=env, cwd=tmp_path)
    generated = run_script(GENERATE_SCRIPT, "--lessons", "M0-L001,M0-L002,M0-L003,M0-L004", "--yes",
                           *common, "--output-dir", lessons, env=env, cwd=tmp_path)

    for result in (watched, processed, generated):
        assert "Traceback" not in result.stderr, result.stderr
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert processed.returncode == 0, processed.stdout + processed.stderr
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Nothing to submit" in generated.stdout
    assert sorted(path.name for path in lessons.iterdir()) == [f"M0-L00{n}.md" for n in range(1, 5)]
    assert (lessons / "M0-L001.md").read_text(encoding="utf-8") == "# An earlier lesson\n"
    assert len(fake_openai.created_batches()) == 2
    with Ledger.open(old.work_dir) as ledger:
        assert {lesson_id: record.state for lesson_id, record in ledger.lessons().items()} == {
            f"M0-L00{n}": SUCCEEDED for n in range(1, 5)
        }


def test_the_lessons_folder_is_not_assumed_when_the_saved_lessons_are_not_there(old):
    processed_and_in_flight(old)
    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        notes = ledger.upgrade_notes
    assert old.query("SELECT value FROM meta WHERE key = 'output_dir'") == []
    assert any("lessons folder of this ledger's job is not known" in note for note in notes)


def columns_of(path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: sorted(row[1] for row in db.execute(f"PRAGMA table_info({table})")) for table in tables}


def test_an_upgraded_ledger_has_every_table_and_column_of_a_new_one(old, tmp_path):
    processed_and_in_flight(old)
    Ledger.open(old.work_dir, assume=ASSUMED).close()
    Ledger.open(tmp_path / "new").close()
    assert columns_of(old.path) == columns_of(tmp_path / "new" / "ledger.sqlite3")


# --------------------------------------------------------------------------- 2 -> 3 (true costs)


def make_v2_ledger(work_dir):
    """A ledger as version 2 made it: its schema, a flex answer and a batch."""
    work_dir.mkdir(parents=True)
    path = work_dir / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        for statement in ledger_schema.statements(ledger_schema.SCHEMA):
            db.execute(statement)
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        db.execute("INSERT INTO flex_answers (run_id, lesson_id, prompt_tokens, received_at) "
                   "VALUES ('flex-1', 'M0-L001', 900, 1.0)")
        db.execute(
            "INSERT INTO batches (batch_id, shard_key, model, status) "
            "VALUES ('batch_1', 's1', 'gpt-6.1-terra', 'completed')"
        )
    return path


def test_a_version_2_ledger_gains_cache_writes_and_the_batch_usage_keeping_its_rows(tmp_path):
    path = make_v2_ledger(tmp_path / "work")
    with Ledger.open(tmp_path / "work") as ledger:
        (answer,) = ledger.flex_answers()
        (batch,) = ledger.batches()
    assert (answer.prompt_tokens, answer.cache_write_tokens) == (900, 0)
    assert batch.api_usage is None
    assert schema_version(path) == str(ledger_schema.SCHEMA_VERSION)
    Ledger.open(tmp_path / "new").close()
    assert columns_of(path) == columns_of(tmp_path / "new" / "ledger.sqlite3")


# --------------------------------------------------------------------------- the course is never guessed


def test_a_version_1_job_with_its_own_curriculum_keeps_it_whichever_command_runs_first(fake_openai, tmp_path):
    """A job version 1 ran with ``--curriculum course.md`` (one batch processed, one in flight):
    after the upgrade, status --watch runs first, then processing, then generate with that
    curriculum. No command that does not know the course may fill in the bundled one."""
    client = openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url)
    course = write_curriculum(tmp_path / "course.md", [f"Topic {n}" for n in range(1, 6)], name="My Course")
    old = V1WorkDir(tmp_path / "work")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    leave_a_version_1_job(client, old, lessons, running_sorts_first=False)

    env = fake_openai.env()
    common = ("--work-dir", old.work_dir)
    watched = run_script(STATUS_SCRIPT, "--watch", "--interval", "0.01", *common, env=env, cwd=tmp_path)
    processed = run_script(PROCESS_SCRIPT, *common, "--output-dir", lessons, env=env, cwd=tmp_path)
    generated = run_script(GENERATE_SCRIPT, "--curriculum", course, "--yes", *common, "--output-dir", lessons,
                           env=env, cwd=tmp_path)

    for result in (watched, processed, generated):
        assert "Traceback" not in result.stderr, result.stderr
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert processed.returncode == 0, processed.stdout + processed.stderr
    assert "belongs to the curriculum" not in generated.stderr
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "to request: 1" in generated.stdout  # M0-L005, the only lesson of course.md not saved yet
    assert sorted(path.name for path in lessons.iterdir()) == [f"M0-L00{n}.md" for n in range(1, 5)]
    assert dict(old.query("SELECT key, value FROM meta WHERE key = 'curriculum'")) == {
        "curriculum": str(course.resolve())
    }


def test_status_first_after_the_upgrade_leaves_the_course_unknown_instead_of_guessing(old, tmp_path, no_retry_waits):
    processed_and_in_flight(old)
    status = run_script(STATUS_SCRIPT, "--work-dir", old.work_dir, cwd=tmp_path,
                        env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "upgraded from schema 1" in status.stderr
    remembered = dict(old.query("SELECT key, value FROM meta"))
    assert "curriculum" not in remembered and "template" not in remembered


def test_generate_without_a_curriculum_on_an_upgraded_ledger_of_another_course_asks_for_it(old, tmp_path):
    """The ledger's lessons are not all the bundled course's: the bundled one would be a wrong guess."""
    old.add_batch(V1Batch("batch_a", ["M20-L001", "M20-L002"], status="completed", output_file_id="file-out-a",
                          processed=True))
    old.add_batch(V1Batch("batch_b", ["M20-L003"], status="in_progress"))
    Ledger.open(old.work_dir, assume=replace(ASSUMED, curriculum=None, template=None)).close()
    result = run_script(GENERATE_SCRIPT, "--dry-run", "--work-dir", old.work_dir,
                        "--output-dir", tmp_path / "lessons", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not record its curriculum" in result.stderr and "--curriculum" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_without_a_curriculum_first_after_the_upgrade_does_not_bind_the_work_dir_to_the_bundled_one(
    old, tmp_path
):
    """The ledger's lessons fit the bundled course, so a run naming none may use it, as version 1
    did; but it does not record it: the course is still unknown, and a later run with the job's own
    --curriculum is not refused."""
    processed_and_in_flight(old)
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for lesson_id in ("M0-L001", "M0-L002"):
        (lessons / f"{lesson_id}.md").write_text("# An earlier lesson\n", encoding="utf-8")
    course = write_curriculum(tmp_path / "course.md", [f"Topic {n}" for n in range(1, 6)], name="My Course")
    common = ("--dry-run", "--work-dir", old.work_dir, "--output-dir", lessons)
    Ledger.open(old.work_dir, assume=replace(ASSUMED, curriculum=None, template=None, output_dir=str(lessons))).close()

    first = run_script(GENERATE_SCRIPT, *common, "--lessons", "M0-L005", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "does not record its curriculum" in first.stderr and "without recording it" in first.stderr
    # a run that records (not a dry run) would not record it either: resolve_ledger_settings says what it would keep
    with Ledger.open(old.work_dir) as ledger:
        settings = resolve_ledger_settings(ledger, old.work_dir, {CURRICULUM: None})
        assert CURRICULUM not in settings.remember
        assert "curriculum" not in ledger.meta()
    then = run_script(GENERATE_SCRIPT, *common, "--curriculum", course, cwd=tmp_path)
    assert then.returncode == 0, then.stderr
    assert "belongs to the curriculum" not in then.stderr
    assert "to request: 1" in then.stdout
