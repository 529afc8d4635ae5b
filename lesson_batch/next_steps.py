"""The next steps the scripts print that request lessons: which lessons, by which route.

Every printed command that requests lessons is built here, from the ledger and the plan's own
rule (``plan.placement``, with the options the printed command carries: no ``--force``, the
default ``--max-attempts``), so that the command, run as printed, requests exactly the lessons
its sentence names: it lists them with ``--lessons``, goes through flex where they last went
through flex, and names the work dir (``wording.Commands``). Lessons the command would not
request (in flight, whose file exists, that need a person) are left out of both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from . import ids
from .ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from .plan import REQUEST, history_of, placement
from .settings import OUTPUT_DIR, remembered_path
from .wording import Commands

FLEX_RUN_PREFIX = "flex-"  # the ids of flex runs (``flex._Run``), recorded as a lesson's batch_id


@dataclass(frozen=True)
class RequestStep:
    """A command that requests ``lessons`` (``wording`` names them in a sentence)."""

    lessons: tuple[str, ...]
    command: str
    via: str | None = None


def requestable(
    ledger: Ledger, lesson_ids: Iterable[str], output_dir: Path | None, settling: Iterable[str] = ()
) -> list[str]:
    """Of ``lesson_ids``, those a generate run that names them with ``--lessons`` requests.
    ``settling``: lessons a flex run that is over left in flight; the next run settles them first
    (``flex.answers.settle_interrupted_flex``), so they count as not in flight."""
    history = history_of(ledger)
    if settling:
        history = replace(history, in_flex=history.in_flex - frozenset(settling))
    folder = output_dir if output_dir is not None else remembered_path(ledger, OUTPUT_DIR)
    return sorted(
        (
            lesson_id for lesson_id in set(lesson_ids)
            if folder is not None and placement(lesson_id, history, folder, False, DEFAULT_MAX_ATTEMPTS) == REQUEST
        ),
        key=ids.sort_key,
    )


def route_of(ledger: Ledger, lesson_ids: Iterable[str]) -> str | None:
    """``"flex"`` when every one of the lessons last went through flex, else None (a batch)."""
    records = ledger.lessons(lesson_ids)
    if records and all((record.batch_id or "").startswith(FLEX_RUN_PREFIX) for record in records.values()):
        return "flex"
    return None


def request_step(
    ledger: Ledger,
    lesson_ids: Iterable[str],
    commands: Commands,
    output_dir: Path | None = None,
    *,
    via: str | None = None,
    settling: Iterable[str] = (),
) -> RequestStep | None:
    """The command that requests those of ``lesson_ids`` a run would request; None if none.
    ``via``: the route to name (default: the one the lessons last took)."""
    folder = output_dir if output_dir is not None else commands.output_dir
    wanted = requestable(ledger, lesson_ids, folder, settling)
    if not wanted:
        return None
    via = via or route_of(ledger, wanted)
    return RequestStep(tuple(wanted), commands.request(wanted, via), via)
