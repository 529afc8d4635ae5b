"""A read-only open of the ledger (a dry run): what it says of the ledger it reads."""

from __future__ import annotations

from lesson_batch.ledger import Ledger


def test_a_dry_run_on_a_ledger_lost_and_not_rebuilt_yet_warns_that_its_plan_may_list_lessons_in_a_batch(tmp_path):
    """A run that could not rebuild a lost ledger (no API) leaves it marked; a dry run then plans
    from a ledger that may not know the batches already paid for, and says so."""
    work_dir = tmp_path / "work"
    with Ledger.open(work_dir) as ledger:
        ledger.note_pending(["M0-L001"])  # changed: the rolling backup is written on close
    (work_dir / "ledger.sqlite3").unlink()
    Ledger.open(work_dir).close()  # restored from the backup and marked lost, not rebuilt

    with Ledger.open(work_dir, read_only=True) as ledger:
        notes = ledger.upgrade_notes

    assert any("lost or damaged and is not rebuilt yet: this may list lessons that are in a batch" in note
               for note in notes)
