"""A lesson's life: each event's move from each state, the refusals, and the attempts rule.

The expected moves are written out here from what each event means, not read from the table.
"""

import ast
from pathlib import Path

import pytest

from lesson_batch import lifecycle
from lesson_batch.lifecycle import Event, Step, may_request, outcome, step
from lesson_batch.states import (
    CANCELLED,
    EXPIRED,
    FAILED,
    FLEX,
    INVALID,
    LESSON_STATES,
    MISSING,
    NEEDS_ATTENTION,
    PENDING,
    SUBMITTED,
    SUCCEEDED,
    TRUNCATED,
)

IN_FLIGHT = (SUBMITTED, FLEX)
NOT_IN_FLIGHT = tuple(state for state in LESSON_STATES if state not in IN_FLIGHT)
AT_REST_NOT_HELD = (PENDING, FAILED, TRUNCATED, EXPIRED, CANCELLED, MISSING, INVALID)


def test_a_new_lesson_starts_pending():
    assert lifecycle.FIRST_STATE == PENDING


# --------------------------------------------------------------------------- sending a request


@pytest.mark.parametrize("state", LESSON_STATES)
def test_a_batch_that_exists_holds_its_lessons_whatever_state_they_were_in_and_counts_an_attempt(state):
    assert step(state, Event.SUBMITTED, 1) == Step(SUBMITTED, 2)


@pytest.mark.parametrize("state", NOT_IN_FLIGHT)
def test_a_flex_request_puts_a_lesson_not_in_flight_in_flight_and_counts_an_attempt(state):
    assert step(state, Event.FLEX_SENT, 2) == Step(FLEX, 3)


@pytest.mark.parametrize("state", IN_FLIGHT)
def test_a_flex_request_for_a_lesson_already_in_flight_is_refused_so_it_is_never_paid_twice(state):
    assert step(state, Event.FLEX_SENT, 1) is None


# --------------------------------------------------------------------------- what comes back


@pytest.mark.parametrize("state", LESSON_STATES)
def test_a_lesson_whose_file_is_on_disk_succeeds_from_any_state_keeping_its_attempts_and_spending_force(state):
    assert step(state, Event.SAVED, 2) == Step(SUCCEEDED, 2, clears_force=True)


@pytest.mark.parametrize("state", IN_FLIGHT)
@pytest.mark.parametrize(("event", "to"), [
    (Event.FAILED, FAILED), (Event.TRUNCATED, TRUNCATED), (Event.INVALID, INVALID), (Event.MISSING, MISSING),
])
def test_an_answer_that_is_no_lesson_leaves_it_to_request_again_its_attempt_counted(state, event, to):
    assert step(state, event, 1, cap=3) == Step(to, 1)


@pytest.mark.parametrize("state", IN_FLIGHT)
@pytest.mark.parametrize(("event", "to"), [(Event.EXPIRED, EXPIRED), (Event.CANCELLED, CANCELLED)])
def test_a_request_that_never_ran_before_its_batch_ended_gives_its_attempt_back(state, event, to):
    assert step(state, event, 2, cap=3) == Step(to, 1)


@pytest.mark.parametrize("state", IN_FLIGHT)
def test_a_request_that_fails_again_unchanged_is_held_for_a_person_at_once_whatever_the_cap(state):
    assert step(state, Event.FAILS_AGAIN, 1) == Step(NEEDS_ATTENTION, 1)
    assert step(state, Event.FAILS_AGAIN, 1, cap=99) == Step(NEEDS_ATTENTION, 1)


@pytest.mark.parametrize("state", NOT_IN_FLIGHT)
@pytest.mark.parametrize("event", [
    Event.FAILED, Event.TRUNCATED, Event.INVALID, Event.MISSING, Event.EXPIRED, Event.CANCELLED, Event.FAILS_AGAIN,
])
def test_an_outcome_for_a_lesson_not_in_flight_is_refused(state, event):
    """A stale result (the lesson saved, or already marked) changes nothing."""
    assert step(state, event, 1, cap=3) is None


# --------------------------------------------------------------------------- a whole batch or flex run


@pytest.mark.parametrize("event", [Event.RAN_NOTHING, Event.GIVEN_UP])
def test_a_batch_that_ran_nothing_or_was_given_up_puts_its_lessons_back_to_pending_giving_the_attempt_back(event):
    assert step(SUBMITTED, event, 1) == Step(PENDING, 0)


@pytest.mark.parametrize("event", [Event.RAN_NOTHING, Event.GIVEN_UP])
@pytest.mark.parametrize("state", [state for state in LESSON_STATES if state != SUBMITTED])
def test_a_batch_event_moves_only_lessons_still_submitted(event, state):
    assert step(state, event, 1) is None


def test_a_flex_request_that_never_left_puts_its_lesson_back_to_pending_giving_the_attempt_back():
    assert step(FLEX, Event.FLEX_NOT_SENT, 1) == Step(PENDING, 0)


def test_a_flex_request_left_without_an_answer_puts_its_lesson_back_to_pending_keeping_the_attempt():
    """It may have run and been paid for."""
    assert step(FLEX, Event.RELEASED, 1) == Step(PENDING, 1)


def test_a_flex_request_left_in_flight_whose_file_is_on_disk_is_saved_and_spends_force():
    assert step(FLEX, Event.FOUND_SAVED, 1) == Step(SUCCEEDED, 1, clears_force=True)


@pytest.mark.parametrize("event", [Event.FLEX_NOT_SENT, Event.RELEASED, Event.FOUND_SAVED])
@pytest.mark.parametrize("state", [state for state in LESSON_STATES if state != FLEX])
def test_a_flex_run_event_moves_only_lessons_in_flight_by_flex(event, state):
    assert step(state, event, 1) is None


# --------------------------------------------------------------------------- the attempts rule


@pytest.mark.parametrize("state", AT_REST_NOT_HELD)
def test_a_lesson_a_run_finds_tried_cap_times_already_is_held_for_a_person(state):
    assert step(state, Event.ATTEMPTS_EXHAUSTED, 3) == Step(NEEDS_ATTENTION, 3)


@pytest.mark.parametrize("state", [SUBMITTED, FLEX, SUCCEEDED, NEEDS_ATTENTION])
def test_a_lesson_in_flight_saved_or_already_held_is_not_held_back(state):
    assert step(state, Event.ATTEMPTS_EXHAUSTED, 3) is None


@pytest.mark.parametrize("event", [Event.FAILED, Event.TRUNCATED, Event.INVALID, Event.MISSING])
def test_an_outcome_that_reaches_the_cap_holds_the_lesson_for_a_person_instead(event):
    assert step(SUBMITTED, event, 2, cap=3).state == event.value
    assert step(SUBMITTED, event, 3, cap=3) == Step(NEEDS_ATTENTION, 3)
    assert step(SUBMITTED, event, 4, cap=3) == Step(NEEDS_ATTENTION, 4)


def test_without_a_cap_no_outcome_holds_a_lesson():
    assert step(SUBMITTED, Event.TRUNCATED, 50, cap=None) == Step(TRUNCATED, 50)


@pytest.mark.parametrize("event", [Event.EXPIRED, Event.CANCELLED])
def test_the_cap_weighs_the_attempts_left_after_one_is_given_back(event):
    assert step(SUBMITTED, event, 3, cap=3) == Step(event.value, 2)
    assert step(SUBMITTED, event, 4, cap=3) == Step(NEEDS_ATTENTION, 3)


@pytest.mark.parametrize("event", [Event.RAN_NOTHING, Event.GIVEN_UP, Event.FLEX_NOT_SENT, Event.RELEASED])
def test_putting_a_lesson_back_to_pending_never_holds_it_whatever_its_attempts(event):
    state = FLEX if event in (Event.FLEX_NOT_SENT, Event.RELEASED) else SUBMITTED
    assert step(state, event, 9, cap=1).state == PENDING


@pytest.mark.parametrize(("state", "event"), [
    (SUBMITTED, Event.EXPIRED), (SUBMITTED, Event.RAN_NOTHING), (SUBMITTED, Event.GIVEN_UP),
    (FLEX, Event.FLEX_NOT_SENT),
])
def test_an_attempt_given_back_never_takes_the_count_below_zero(state, event):
    assert step(state, event, 0, cap=3).attempts == 0


@pytest.mark.parametrize(("attempts", "force", "expected"), [
    (0, False, True), (2, False, True), (3, False, False), (4, False, False), (3, True, True), (9, True, True),
])
def test_a_run_requests_a_lesson_below_the_cap_or_with_force(attempts, force, expected):
    assert may_request(attempts, 3, force) is expected


def test_the_default_cap_is_three_attempts():
    assert lifecycle.DEFAULT_MAX_ATTEMPTS == 3


# --------------------------------------------------------------------------- outcomes named by a state


@pytest.mark.parametrize(("state", "event"), [
    (FAILED, Event.FAILED), (TRUNCATED, Event.TRUNCATED), (INVALID, Event.INVALID), (MISSING, Event.MISSING),
    (EXPIRED, Event.EXPIRED), (CANCELLED, Event.CANCELLED), (NEEDS_ATTENTION, Event.FAILS_AGAIN),
])
def test_each_state_a_result_can_ask_for_is_recorded_by_its_event(state, event):
    assert outcome(state) is event
    assert outcome(str(state)) is event


@pytest.mark.parametrize("state", [SUCCEEDED, SUBMITTED, FLEX, PENDING, "bogus"])
def test_a_state_no_result_can_ask_for_is_refused(state):
    with pytest.raises(ValueError, match="not a state for a lesson that was not saved"):
        outcome(state)


def test_the_table_moves_a_lesson_only_between_known_states():
    for (state, event), rule in lifecycle.TABLE.items():
        assert state in LESSON_STATES and rule.to in LESSON_STATES
        assert rule.event is event


def test_the_lifecycle_imports_nothing_but_the_states():
    tree = ast.parse(Path(lifecycle.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported <= {"__future__", "dataclasses", "enum", "functools", ".states"}
