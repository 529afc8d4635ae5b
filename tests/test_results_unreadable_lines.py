"""An unreadable line of a batch's own file that names a lesson: that lesson's answer, marked in
that batch only."""

from __future__ import annotations

import json

from lesson_batch.report import Report
from lesson_batch.saving import Expected, Processing, _apply
from tests.helpers import ledger_awaiting_results, unreadable_record

BILLED = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


def test_an_unreadable_line_of_a_batch_its_lesson_has_left_marks_nothing_in_its_new_batch(tmp_path):
    """A lesson requested again (--force) while its old batch's files are processed is in another
    batch by the time the old batch's answers are marked: an unreadable line of the old batch marks
    nothing there (issue 19: ``saving._apply`` 82 marked it without the batch id, so the lesson's
    new request was taken for answered: invalid, its request never waited for)."""
    work, out = tmp_path / "work", tmp_path / "lessons"
    ledger = ledger_awaiting_results(work, ["M0-L001"], [])  # the lesson is now in batch_1
    old_file = tmp_path / "batch_0_output.jsonl"
    old_file.write_text(json.dumps(unreadable_record("M0-L001", BILLED)) + "\n", encoding="utf-8")
    old_batch = Expected(batch_id="batch_0", model="gpt-6.1-terra", budget=16_000, effort=None,
                         required_sections=(), force=False)

    with ledger:
        before = ledger.lessons(["M0-L001"])["M0-L001"]
        report = Report(label="batch batch_0")
        _apply(Processing.of(ledger, out, work), [old_file], {"M0-L001": old_batch}, {}, report, total=1,
               stranger="was not requested in batch batch_0", own_files=True)
        after = ledger.lessons(["M0-L001"])["M0-L001"]

    assert dict(report.failed) == {"unreadable_line": ["M0-L001"]}
    assert (before.state, before.batch_id) == ("submitted", "batch_1")
    assert after == before
