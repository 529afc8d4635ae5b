"""A lesson's life in one table: the events that move it between states, and the attempts rule.

Pure: no I/O and nothing from the ledger. The ledger reads a lesson's state and attempts, asks
``step`` what an event does to them, and writes the answer in the same transaction; what each
event means is decided here and nowhere else.

A lesson starts ``pending`` (``FIRST_STATE``). Its request goes out in a batch (``SUBMITTED``)
or through flex (``FLEX_SENT``); each of those counts as an attempt. What comes back moves it on:

- its file is on disk: ``SAVED`` (``succeeded``);
- an answer that is no lesson: ``FAILED``, ``TRUNCATED``, ``INVALID``, or no line at all for it
  (``MISSING``): requested again by the next run;
- its request never ran, the batch ending first: ``EXPIRED``, ``CANCELLED``: requested again,
  and the attempt is given back (nothing was generated or paid);
- it failed in a way the very same request fails again (an HTTP 400): ``FAILS_AGAIN``, held for a
  person (``needs_attention``) at once.

Events about a whole batch or flex run move every lesson still in it: a batch that ran nothing
(it failed validation: ``RAN_NOTHING``) or that the user gave up (the API no longer knows it:
``GIVEN_UP``) puts them back to pending with their attempt given back; a flex request that never
left (``FLEX_NOT_SENT``) likewise. A flex run that stopped with requests in flight, or a request
that got no answer, puts its lessons back to pending keeping the attempt (``RELEASED``: it may
have been paid), or marks them saved when their file is on disk (``FOUND_SAVED``).

The attempts rule: ``attempts`` counts the runs of a lesson's request (never below 0). When an
outcome that would have it requested again leaves it with ``cap`` attempts or more, it is held for
a person (``needs_attention``) instead, its reason kept; a run also holds back (``ATTEMPTS_EXHAUSTED``)
a lesson it finds tried ``cap`` times already. Only ``--force`` or a higher ``--max-attempts``
requests such a lesson again (``may_request``).

An event not in the table for a lesson's state is refused (``step`` returns None): the ledger then
leaves the lesson as it is, e.g. a stale result for a lesson already saved, or a flex request for
a lesson already in flight (which would pay twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from .states import (
    CANCELLED,
    EXPIRED,
    FAILED,
    FLEX,
    IN_FLIGHT_STATES,
    INVALID,
    LESSON_STATES,
    MISSING,
    NEEDS_ATTENTION,
    PENDING,
    SUBMITTED,
    SUCCEEDED,
    TRUNCATED,
    LessonState,
    StrEnum,
)

DEFAULT_MAX_ATTEMPTS = 3  # runs of one lesson's request before it needs a person
FIRST_STATE = PENDING  # a lesson the ledger meets for the first time


class Event(StrEnum):
    """What can happen to a lesson."""

    SUBMITTED = "submitted"  # its request is in a batch the API created (recorded whatever it was)
    FLEX_SENT = "flex_sent"  # its request goes out through flex
    SAVED = "saved"  # its lesson file is on disk
    FAILED = "failed"  # an error or a refusal came back
    TRUNCATED = "truncated"  # the answer ran out of output budget
    INVALID = "invalid"  # an answer came back, but no usable lesson
    MISSING = "missing"  # its batch ended with no line for it
    EXPIRED = "expired"  # its batch expired before its request ran
    CANCELLED = "cancelled"  # its batch was cancelled before its request ran
    FAILS_AGAIN = "fails_again"  # failed in a way the very same request fails again (an HTTP 400)
    RAN_NOTHING = "ran_nothing"  # its batch failed before running any request
    GIVEN_UP = "given_up"  # the user gave up its batch (the API no longer knows it)
    FLEX_NOT_SENT = "flex_not_sent"  # its flex request never ran (refused, or the run stopped first)
    RELEASED = "released"  # left in flight by a flex run that stopped, or no answer came: may be paid
    FOUND_SAVED = "found_saved"  # left in flight by a flex run that stopped, its file on disk
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # a run finds it tried ``cap`` times already


class Attempt(Enum):
    """What an event does to the attempts count."""

    COUNTS = 1  # the request went out
    GIVEN_BACK = -1  # the request never ran: nothing was generated or paid
    KEPT = 0


@dataclass(frozen=True)
class Rule:
    """One row of the table: ``event`` moves a lesson in one of ``from_states`` to ``to``.
    ``capped``: the attempts cap may hold it for a person instead."""

    event: Event
    from_states: frozenset[LessonState]
    to: LessonState
    attempt: Attempt = Attempt.KEPT
    capped: bool = False
    clears_force: bool = False  # a lesson saved no longer replaces its file (``--force`` is spent)


@dataclass(frozen=True)
class Step:
    """Where an event leaves a lesson: its new state and attempts count."""

    state: LessonState
    attempts: int
    clears_force: bool = False


_ALL = frozenset(LESSON_STATES)
_IN_FLIGHT = frozenset(IN_FLIGHT_STATES)
_OUT_OF_REACH = frozenset((SUBMITTED, FLEX, SUCCEEDED, NEEDS_ATTENTION))  # no run holds these back
# Lessons neither saved nor in flight: those a run may request, the attempts rule weighing their attempts.
AT_REST_UNSAVED = _ALL - _IN_FLIGHT - {SUCCEEDED}

RULES: tuple[Rule, ...] = (
    # A batch that exists holds its lessons, whatever the ledger said of them: recorded in every
    # state (which lessons may go into a batch is the plan's rule: never one in flight).
    Rule(Event.SUBMITTED, _ALL, SUBMITTED, Attempt.COUNTS),
    Rule(Event.FLEX_SENT, _ALL - _IN_FLIGHT, FLEX, Attempt.COUNTS),
    # A file on disk is a fact: recorded in every state (the ledger checks it is the lesson's batch).
    Rule(Event.SAVED, _ALL, SUCCEEDED, clears_force=True),
    Rule(Event.FAILED, _IN_FLIGHT, FAILED, capped=True),
    Rule(Event.TRUNCATED, _IN_FLIGHT, TRUNCATED, capped=True),
    Rule(Event.INVALID, _IN_FLIGHT, INVALID, capped=True),
    Rule(Event.MISSING, _IN_FLIGHT, MISSING, capped=True),
    Rule(Event.EXPIRED, _IN_FLIGHT, EXPIRED, Attempt.GIVEN_BACK, capped=True),
    Rule(Event.CANCELLED, _IN_FLIGHT, CANCELLED, Attempt.GIVEN_BACK, capped=True),
    Rule(Event.FAILS_AGAIN, _IN_FLIGHT, NEEDS_ATTENTION),
    Rule(Event.RAN_NOTHING, frozenset((SUBMITTED,)), PENDING, Attempt.GIVEN_BACK),
    Rule(Event.GIVEN_UP, frozenset((SUBMITTED,)), PENDING, Attempt.GIVEN_BACK),
    Rule(Event.FLEX_NOT_SENT, frozenset((FLEX,)), PENDING, Attempt.GIVEN_BACK),
    Rule(Event.RELEASED, frozenset((FLEX,)), PENDING),
    Rule(Event.FOUND_SAVED, frozenset((FLEX,)), SUCCEEDED, clears_force=True),
    Rule(Event.ATTEMPTS_EXHAUSTED, _ALL - _OUT_OF_REACH, NEEDS_ATTENTION),
)

# The table: (state, event) -> the rule that applies. A pair not in it is refused.
TABLE: dict[tuple[LessonState, Event], Rule] = {
    (state, rule.event): rule for rule in RULES for state in sorted(rule.from_states)
}

# The outcome a processed result names (the state it asks for) and the event that records it.
OUTCOMES: dict[LessonState, Event] = {
    FAILED: Event.FAILED,
    TRUNCATED: Event.TRUNCATED,
    INVALID: Event.INVALID,
    MISSING: Event.MISSING,
    EXPIRED: Event.EXPIRED,
    CANCELLED: Event.CANCELLED,
    NEEDS_ATTENTION: Event.FAILS_AGAIN,
}


@dataclass(frozen=True)
class RanNothing:
    """A batch that ran none of its requests (it failed before running any): every lesson still
    in it goes back to pending with ``reason`` (``Event.RAN_NOTHING``), and the batch has nothing
    to process. Which batch ran nothing is ``batch_sync``'s rule."""

    reason: str


def exhausted(attempts: int, cap: int | None) -> bool:
    """Whether a lesson whose request ran ``attempts`` times has reached the cap (None: no cap)."""
    return cap is not None and attempts >= cap


def may_request(attempts: int, cap: int, force: bool) -> bool:
    """Whether a run may request a lesson not saved whose request ran ``attempts`` times."""
    return force or not exhausted(attempts, cap)


def outcome(state: str) -> Event:
    """The event recording a result that asks for ``state`` (ValueError: not an outcome)."""
    try:
        return OUTCOMES[LessonState(state)]
    except (KeyError, ValueError):
        raise ValueError(f"{state!r} is not a state for a lesson that was not saved") from None


@lru_cache(maxsize=4096)
def step(state: str, event: Event, attempts: int, cap: int | None = None) -> Step | None:
    """What ``event`` does to a lesson in ``state`` whose request ran ``attempts`` times, under
    the attempts cap ``cap`` (None: none). None: the event is refused in that state."""
    rule = TABLE.get((LessonState(state), event))
    if rule is None:
        return None
    after = max(0, attempts + rule.attempt.value)
    to = NEEDS_ATTENTION if rule.capped and exhausted(after, cap) else rule.to
    return Step(to, after, rule.clears_force)
