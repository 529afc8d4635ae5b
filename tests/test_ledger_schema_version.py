"""A ledger whose schema version this tool cannot use is refused in plain words, not a traceback."""

from __future__ import annotations

import sqlite3

import pytest

from lesson_batch.ledger import Ledger, LedgerError


def _set_schema_version(work_dir, value: str) -> None:
    Ledger.open(work_dir).close()
    with sqlite3.connect(work_dir / "ledger.sqlite3") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    db.close()


def test_a_ledger_whose_schema_version_is_not_a_number_is_refused_naming_it(tmp_path):
    _set_schema_version(tmp_path, "three")
    with pytest.raises(LedgerError, match="cannot use this run ledger: unreadable schema version 'three'"):
        Ledger.open(tmp_path)


def test_a_ledger_of_a_schema_version_below_the_first_is_refused_naming_it(tmp_path):
    _set_schema_version(tmp_path, "0")
    with pytest.raises(LedgerError, match="cannot use this run ledger: unknown ledger schema 0"):
        Ledger.open(tmp_path)
