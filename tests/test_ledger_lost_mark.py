"""A lost or damaged ledger is remembered as lost, with what happened to it, until it is rebuilt."""

from __future__ import annotations

from lesson_batch.ledger import Ledger


def test_a_damaged_ledger_reopened_before_its_rebuild_still_says_what_happened_and_where_the_file_is_kept(tmp_path):
    """A run that could not rebuild (no API) leaves the mark; the next run tells the same story in
    its rebuild note: damaged (why), the file kept aside, the backup restored and its time."""
    work_dir = tmp_path / "work"
    with Ledger.open(work_dir) as ledger:
        ledger.note_pending(["M0-L001"])  # changed: the rolling backup is written on close
    (work_dir / "ledger.sqlite3").write_bytes(b"this is not a database " * 200)
    with Ledger.open(work_dir, repair=True) as ledger:
        first = ledger.lost

    with Ledger.open(work_dir) as ledger:
        again = ledger.lost

    assert first is not None and first.reason == "damaged" and first.kept_as is not None
    assert again == first
