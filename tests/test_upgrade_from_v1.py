"""Upgrading a version-1 ledger: the cases the mutation run of ``ledger/schema.py`` found unguarded
(issue 19). The main upgrade stories are in tests/test_ledger_upgrade.py; each version-1 ledger
here is built by tests/v1_ledger.py from the schema version 1 shipped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from lesson_batch.ledger import Assumptions, Ledger, LedgerError
from lesson_batch.states import SUBMITTED, SUCCEEDED
from tests.v1_ledger import PLAIN_ERRORS, PLAIN_RESULTS, V1Batch, V1WorkDir, result_line

ASSUMED = Assumptions(
    api_base_url="https://api.openai.com/v1",
    curriculum="/course/Content Structure.md",
    template="/course/prompt.md",
    output_dir="/course/lessons",
)


@pytest.fixture
def old(tmp_path):
    return V1WorkDir(tmp_path / "work")


def states(ledger: Ledger, batch_id: str) -> dict[str, str]:
    return {lesson.lesson_id: lesson.state for lesson in ledger.lessons_in_batch(batch_id)}


def test_a_batch_with_lessons_missing_is_opened_again_after_an_older_one_with_none_missing(old):
    """The candidates are looked at oldest first; one that needs nothing must not end the search:
    a later batch that version 1 processed with another batch's file is still opened again, or its
    lessons are paid for twice."""
    old.add_batch(V1Batch("batch_a", ["M0-L001"], status="completed", output_file_id="file-a", created_at=1.0,
                          processed=True))
    old.write_results(PLAIN_RESULTS, ["M0-L001"])
    old.add_batch(V1Batch("batch_b", ["M0-L002"], status="completed", output_file_id="file-b", created_at=2.0,
                          processed=True))  # processed with its own file (gone since): nothing missing
    old.add_batch(V1Batch("batch_c", ["M0-L003", "M0-L004"], status="completed", output_file_id="file-c",
                          created_at=3.0, processed=True), lesson_state="missing")

    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        assert not ledger.batch("batch_b").awaits_processing
        assert states(ledger, "batch_b") == {"M0-L002": SUCCEEDED}
        assert ledger.batch("batch_c").awaits_processing
        assert states(ledger, "batch_c") == {"M0-L003": SUBMITTED, "M0-L004": SUBMITTED}


def test_a_plain_results_file_with_lines_that_cannot_be_read_is_matched_by_the_lines_that_can(old):
    """A damaged line (cut by a crash, say), a line without a custom_id and a line that is no object
    do not stop the upgrade, nor the reading of the lines after them."""
    old.add_batch(V1Batch("batch_a", ["M0-L001", "M0-L002"], status="completed", output_file_id="file-a",
                          processed=True))
    old.add_batch(V1Batch("batch_b", ["M0-L003"], status="in_progress"))
    lines = [
        '{"custom_id": "M0-L0',  # cut short
        json.dumps({"id": "batch_req_1", "response": None}),  # no custom_id
        json.dumps(["M0-L003"]),  # not an object
        json.dumps(result_line("M0-L001")),
        json.dumps(result_line("M0-L002")),
    ]
    (old.work_dir / PLAIN_RESULTS).write_text("\n".join(lines) + "\n", encoding="utf-8")

    with Ledger.open(old.work_dir, assume=ASSUMED) as ledger:
        notes = ledger.upgrade_notes

    assert dict(old.query("SELECT batch_id, results_file FROM batches")) == {"batch_a": PLAIN_RESULTS, "batch_b": None}
    assert any("holds results of batch batch_a" in note for note in notes)


def test_a_plain_results_file_cut_in_the_middle_of_a_character_is_matched_by_the_lines_before(old):
    """A file cut short by a crash can end inside a character of a lesson's text (bytes that are
    not UTF-8): it is read as bytes, so that line is skipped like any other unreadable one, and the
    upgrade neither stops nor misses the lines before it."""
    old.add_batch(V1Batch("batch_a", ["M0-L001", "M0-L002"], status="completed", output_file_id="file-a",
                          processed=True))
    whole = json.dumps(result_line("M0-L001")).encode()
    cut = json.dumps(result_line("M0-L002", "# Caf\u00e9 society\n"), ensure_ascii=False).encode()
    cut = cut[:cut.index("\u00e9".encode()) + 1]  # the first of the two bytes of the accented letter
    (old.work_dir / PLAIN_RESULTS).write_bytes(whole + b"\n" + cut)

    with Ledger.open(old.work_dir, assume=ASSUMED):
        pass

    assert old.query("SELECT batch_id, results_file FROM batches") == [("batch_a", PLAIN_RESULTS)]


def test_a_plain_errors_file_is_matched_when_there_is_no_plain_results_file(old):
    """A batch whose every request failed left version 1 an errors file and no results file."""
    old.add_batch(V1Batch("batch_a", ["M0-L001", "M0-L002"], status="completed", error_file_id="file-a-errors"))
    old.write_results(PLAIN_ERRORS, ["M0-L001", "M0-L002"])

    Ledger.open(old.work_dir, assume=ASSUMED).close()

    assert dict(old.query("SELECT batch_id, errors_file FROM batches")) == {"batch_a": PLAIN_ERRORS}


def test_a_plain_errors_file_is_matched_when_the_plain_results_file_fits_no_batch(old):
    old.add_batch(V1Batch("batch_a", ["M0-L001", "M0-L002"], status="completed", output_file_id="file-a",
                          error_file_id="file-a-errors"))
    old.write_results(PLAIN_RESULTS, ["M9-L009"])
    old.write_results(PLAIN_ERRORS, ["M0-L002"])

    Ledger.open(old.work_dir, assume=ASSUMED).close()

    assert old.query("SELECT batch_id, results_file, errors_file FROM batches") == [("batch_a", None, PLAIN_ERRORS)]


def test_a_run_given_no_curriculum_still_records_the_lessons_folder_it_assumes(old):
    """``check_batch_status.py`` first after the upgrade: no curriculum or template is known, and
    the lessons folder (where processing saves lessons) is remembered all the same."""
    old.add_batch(V1Batch("batch_a", ["M0-L001"], status="in_progress"))

    with Ledger.open(old.work_dir, assume=replace(ASSUMED, curriculum=None, template=None)):
        pass

    remembered = dict(old.query("SELECT key, value FROM meta WHERE key != 'schema_version'"))
    assert remembered == {"api_base_url": ASSUMED.api_base_url, "output_dir": ASSUMED.output_dir}


@pytest.mark.parametrize(
    "value, why", [("three", "unreadable schema version 'three'"), ("0", "unknown ledger schema 0")]
)
def test_a_ledger_whose_schema_version_cannot_be_read_is_refused_in_plain_words(tmp_path, value, why):
    Ledger.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    with pytest.raises(LedgerError, match=why):
        Ledger.open(tmp_path)
