"""What the ledger knows around a batch, a flex run and the lessons not saved: the data the status
and the processing report show (``text.status`` words it).

Asking the API and storing its answers is ``batch_sync``'s business; this module only reads the
ledger.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import ids, models
from .batch_sync import TOKEN_LIMIT_CODE
from .ledger import BatchRecord, FlexRunRecord, Ledger
from .next_steps import RequestStep, request_step, requestable, route_of
from .states import (
    FLEX,
    LESSON_STATES,
    NEEDS_ATTENTION,
    SETTLED_OR_HELD_STATES,
    SUBMITTED,
    SUCCEEDED,
    UNFINISHED_BATCH_STATUSES,
)

_LIMIT_IN_MESSAGE = re.compile(r"limit:\s*([0-9][0-9,]*)", re.IGNORECASE)


@dataclass(frozen=True)
class BatchView:
    """A batch as the status shows it: its record and what the ledger knows around it."""

    record: BatchRecord
    input_file: Path | None = None  # the request file it was created from, kept until it is processed
    lessons: int = 0  # lessons it was asked for (0: not a batch of this ledger)
    left: int = 0  # of those, neither saved nor submitted again: the next generate run requests them
    stale: bool = False  # the API could not be read just now: this is the ledger's last view
    held: int = 0  # of those, tried --max-attempts times without a usable lesson: they need a person
    lost: bool = False  # the API answered 404 for it just now: not found for this key and project
    again: tuple[str, ...] = ()  # of ``left``, those a generate run naming them requests (``next_steps``)
    again_via: str | None = None  # the route they last took ("flex"), for the command that requests them
    holding: int = 0  # its lessons still recorded as in it (held: not requested again while it may run)

    @property
    def token_limit(self) -> str | None:
        """For a batch over the organisation's enqueued-token limit: the limit its error names
        ("N" when it names none); None for any other batch."""
        errors = [error for error in self.record.errors if error.code == TOKEN_LIMIT_CODE]
        if not errors:
            return None
        found = _LIMIT_IN_MESSAGE.search(errors[0].message or "")
        return found.group(1).replace(",", "") if found else "N"


def view(ledger: Ledger, record: BatchRecord, stale: bool = False, lost: bool = False) -> BatchView:
    requested = ledger.batch_requests(record.batch_id)
    states = ledger.lessons(requested)

    def state_of(lesson_id: str) -> tuple[str | None, str | None]:
        lesson = states.get(lesson_id)
        return (None, None) if lesson is None else (lesson.state, lesson.batch_id)

    def taken_care_of(lesson_id: str) -> bool:
        state, batch_id = state_of(lesson_id)
        # on its way again (through flex, or in a later batch), or saved
        return state in (FLEX, SUCCEEDED) or (state == SUBMITTED and batch_id != record.batch_id)

    held = [lesson_id for lesson_id in requested if state_of(lesson_id)[0] == NEEDS_ATTENTION]
    shard = ledger.shard_of_batch(record.batch_id)
    left = [lesson_id for lesson_id in requested if not taken_care_of(lesson_id) and lesson_id not in held]
    again = requestable(ledger, left, None) if left and ledger.path is not None else []
    return BatchView(
        record=record,
        input_file=Path(shard.input_path) if shard and Path(shard.input_path).is_file() else None,
        lessons=len(requested),
        left=len(left),
        stale=stale,
        held=len(held),
        lost=lost,
        holding=sum(1 for lesson_id in requested if state_of(lesson_id) == (SUBMITTED, record.batch_id)),
        again=tuple(again),
        again_via=route_of(ledger, again) if again else None,
    )


def needs_attention(ledger: Ledger, record: BatchRecord) -> bool:
    """A batch that failed, expired or was cancelled, and some of whose lessons nobody has taken
    care of yet: not saved, and not submitted again in a later batch.

    Once every lesson of such a batch is saved or on its way again, the batch is history: it no
    longer makes the status script report a failure.
    """
    if record.status not in UNFINISHED_BATCH_STATUSES:
        return False
    batch = view(ledger, record)
    # Not a batch of this ledger: nothing tells what became of it.
    return not batch.lessons or batch.left > 0 or batch.held > 0


def lesson_counts(ledger: Ledger) -> dict[str, int]:
    counts = {state: 0 for state in LESSON_STATES}
    for lesson in ledger.lessons().values():
        counts[lesson.state] = counts.get(lesson.state, 0) + 1
    return counts


@dataclass(frozen=True)
class UnsavedLesson:
    """A lesson not saved yet, with its state and why (for one that needs a person: why it was held)."""

    lesson_id: str
    state: str
    batch_id: str | None
    reason: str | None
    attempts: int

    @property
    def needs_a_person(self) -> bool:
        return self.state == NEEDS_ATTENTION


def unsaved_lessons(ledger: Ledger) -> list[UnsavedLesson]:
    """Lessons not saved yet, in curriculum order."""
    lessons = sorted(ledger.lessons().values(), key=lambda lesson: ids.sort_key(lesson.lesson_id))
    return [
        UnsavedLesson(lesson.lesson_id, lesson.state, lesson.batch_id, lesson.reason, lesson.attempts)
        for lesson in lessons if lesson.state != SUCCEEDED
    ]


def lessons_needing_attention(ledger: Ledger, among: set[str] | None = None) -> list[UnsavedLesson]:
    return [
        lesson for lesson in unsaved_lessons(ledger)
        if lesson.needs_a_person and (among is None or lesson.lesson_id in among)
    ]


@dataclass(frozen=True)
class WaitingStep:
    """The step for lessons that are neither saved nor on their way nor held for a person: the
    command that requests them, and how many of them are in each state."""

    step: RequestStep
    states: dict[str, int]


def lessons_waiting(ledger: Ledger, commands) -> WaitingStep | None:
    """The lessons a generate run requests (``next_steps``), and the command that does; None if none."""
    waiting = [lesson for lesson in ledger.lessons().values() if lesson.state not in SETTLED_OR_HELD_STATES]
    step = request_step(ledger, [lesson.lesson_id for lesson in waiting], commands) if waiting else None
    if step is None:
        return None
    counts: dict[str, int] = {}
    for lesson in waiting:
        if lesson.lesson_id in step.lessons:
            counts[lesson.state] = counts.get(lesson.state, 0) + 1
    return WaitingStep(step, counts)


def in_flight_by_flex(ledger: Ledger) -> list[str]:
    """Lessons a flex run left in flight: a run that is over (killed, or interrupted with requests
    still out) leaves them ``flex`` until the next generate run settles them."""
    return sorted(ledger.in_flight_lessons(FLEX), key=ids.sort_key)


def flex_run_summary(ledger: Ledger, run: FlexRunRecord) -> dict:
    """What a flex run did, from the ledger: its answers, their tokens and cost, its lessons' states."""
    answers = ledger.flex_answers(run.run_id)
    states = Counter(lesson.state for lesson in ledger.lessons_in_batch(run.run_id))
    cost: float | None = 0.0
    other_tier = 0
    for answer in answers:
        one = models.answer_cost(
            run.model, answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens, answer.service_tier,
            answer.cache_write_tokens,
        )
        cost = None if one is None or cost is None else cost + one
        other_tier += answer.service_tier not in (models.FLEX_TIER, None)
    usage_names = ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "cache_write_tokens")
    return {
        "id": run.run_id,
        "via": "flex",
        "model": run.model,
        "requested": run.requested,
        "answers": len(answers),
        "lessons": {state: states[state] for state in LESSON_STATES if states[state]},
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "stop_reason": run.stop_reason,
        "usage": {name: sum(getattr(answer, name) for answer in answers) for name in usage_names},
        "cost_usd": None if cost is None else round(cost, 4),
        "answers_at_another_tier": other_tier,
    }
