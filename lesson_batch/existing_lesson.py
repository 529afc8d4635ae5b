"""A good lesson whose file exists already: what becomes of it, and of the file.

Three outcomes (``SaveOutcome``): the file holds the very bytes (an earlier, interrupted run wrote
it and only the ledger was behind: it counts as saved); it is overwritten because the lesson was
requested with ``--force`` or processing runs with it (the old file kept under ``replaced/``); or
it is not overwritten, and the new version is kept under ``not_overwritten/``. An existing lesson
file is never lost either way.
"""

from __future__ import annotations

import os
import time
from enum import Enum

from .files import write_atomic
from .report import Report
from .workspace import REPLACED_DIR, Workspace


class SaveOutcome(str, Enum):
    """What became of a good lesson whose file already existed."""

    SAVED = "saved"  # the same bytes: an earlier, interrupted run wrote it, only the ledger was behind
    REPLACED = "replaced"  # overwritten (--force), the old file kept under replaced/
    KEPT_EXISTING = "kept_existing"  # not overwritten, the new version kept under not_overwritten/

    def __str__(self) -> str:
        return self.value


def save_over_existing(
    lesson_id: str, data: bytes, temporary: str, path: str, workspace: Workspace, overwrite: bool, report: Report
) -> str | None:
    """A good lesson whose file exists already: decided by ``resolve_existing``; returns the
    ledger's note for it (where a version not saved over the file went)."""
    outcome = resolve_existing(workspace, lesson_id, data, temporary, path, overwrite)
    note = None
    if outcome is SaveOutcome.KEPT_EXISTING:
        kept = workspace.not_overwritten(lesson_id)
        write_atomic(kept, data)
        note = f"kept the existing file; the generated lesson is in {kept}"
        report.kept_existing.append(lesson_id)
        report.kept_in = str(kept.parent)
    elif outcome is SaveOutcome.REPLACED:
        report.replaced.append(lesson_id)
        report.replaced_in = str(workspace.root / REPLACED_DIR)
    else:
        report.saved.append(lesson_id)
    return note


def resolve_existing(
    workspace: Workspace, lesson_id: str, data: bytes, temporary: str, path: str, overwrite: bool
) -> SaveOutcome:
    """A lesson whose file exists already: SAVED (the same bytes: an earlier, interrupted run
    wrote it, only the ledger is behind), REPLACED (the old one kept under replaced/, the
    temporary given the name), or KEPT_EXISTING (not overwritten)."""
    with open(path, "rb") as handle:
        existing = handle.read()
    if existing == data:
        return SaveOutcome.SAVED
    if not overwrite:
        return SaveOutcome.KEPT_EXISTING
    write_atomic(workspace.replaced(lesson_id, time.strftime("%Y%m%dT%H%M%S")), existing)
    os.replace(temporary, path)
    return SaveOutcome.REPLACED
