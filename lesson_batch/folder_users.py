"""Other work dirs that use the same lessons folder, so that a run can warn when one of them has
some of the lessons it is about to request in flight (both work dirs would pay for them).

What the tool can tell without writing anything anywhere: the work dirs beside this one (the
other folders of its parent that hold a run ledger) and the default work dir. Each is asked,
from its ledger opened read only, whether it remembers this lessons folder and which of the
lessons are in a batch not processed yet or sent through flex there. A work dir elsewhere, or
whose ledger cannot be read, is not known.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

from .defaults import DEFAULT_WORK_DIR
from .errors import LessonBatchError
from .ledger import Ledger
from .states import FLEX, SUBMITTED

MAX_NEIGHBOURS = 50  # a parent folder with more entries than this is not searched further


def neighbours(work_dir: Path) -> list[Path]:
    """The work dirs that may share a lessons folder with ``work_dir``: its siblings with a ledger,
    and the default work dir."""
    mine = Path(work_dir).resolve()
    found: list[Path] = []
    try:
        siblings = sorted(mine.parent.iterdir())[:MAX_NEIGHBOURS]
    except OSError:
        siblings = []
    for candidate in [*siblings, DEFAULT_WORK_DIR.resolve()]:
        try:
            if candidate != mine and candidate not in found and Ledger.exists(candidate):
                found.append(candidate)
        except OSError:
            continue
    return found


def in_flight_elsewhere(output_dir: Path, work_dir: Path, lesson_ids: Iterable[str]) -> dict[Path, list[str]]:
    """Of ``lesson_ids``, those in flight from another work dir that uses ``output_dir``, by work dir."""
    wanted = set(lesson_ids)
    folder = str(Path(output_dir).resolve())
    found: dict[Path, list[str]] = {}
    if not wanted:
        return found
    for other in neighbours(work_dir):
        try:
            with Ledger.open(other, read_only=True) as ledger:
                if ledger.meta().get("output_dir") != folder:
                    continue
                flying = ledger.in_flight_lessons(SUBMITTED) | ledger.in_flight_lessons(FLEX)
        except (LessonBatchError, sqlite3.Error, OSError):
            continue
        shared = sorted(wanted & flying)
        if shared:
            found[other] = shared
    return found
