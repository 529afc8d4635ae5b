"""The events of a generate run (its progress) in words, and its interrupt messages.

``RunWords`` is the ``words`` of the run's ``output.EventSink``: it turns each event a job tells
(``generate_job``, ``generate_wait``, ``flex``, ``flex.answers``) into ``output.Line``s, and keeps
the progress bars drawn between them.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .. import models
from ..batch_sync import Polled, problem_messages
from ..files import display_path
from ..flex import FlexAbandoned, FlexProgress, FlexStarted, FlexStillWaiting, FlexStopping
from ..flex.answers import Settled
from ..generate_job import (
    BatchUnreadable,
    FallingBack,
    FlexDone,
    ModelWarning,
    NothingToDo,
    OverBudget,
    PlanMade,
    SharedFolder,
    ViaFlex,
)
from ..generate_wait import (
    CancelSeen,
    Deferred,
    NoProgress,
    Processed,
    ProcessProblems,
    StoppedWaiting,
    WaitingFor,
    WatchPaused,
)
from ..output import Line
from ..plan import saved_before_sentence
from ..progress import ProgressBar
from ..submit import (
    BatchCreated,
    CancelBeforeShard,
    CancelledOnCreation,
    LaterNotSubmitted,
    ShardAdopted,
    ShardCleanedUp,
    Uploading,
)
from ..wording import Commands, cost_format, first_ids, plural
from .ending import flex_report_lines
from .plan import format_plan
from .processing import format_report
from .status import StatusWords, WatchDisplay

# --------------------------------------------------------------------------- before sending


def _plan_made(event: PlanMade) -> Iterable[Line]:
    plan = event.plan
    for warning in plan.warnings:
        yield Line(f"warning: {warning}", "note")
    yield Line(format_plan(plan))
    if plan.saved_before:
        yield Line(
            f"warning: {saved_before_sentence(plan)} (it takes --force, or a yes when asked, to pay for them again).",
            "note",
        )


def _model_warning(event: ModelWarning) -> Iterable[Line]:
    if not event.from_api:
        yield Line(f"warning: {event.message} (model table of {models.CATALOGUE_DATE})", "note")
        return
    source = "the API's shutdown_date"
    if event.today_overridden:
        source += (
            f", judged against {event.today.isoformat()}, the date {event.today_overridden} sets; "
            "the API still lists the model"
        )
    yield Line(f"warning: {event.message} ({source})", "note")


def _shared_folder(event: SharedFolder) -> Iterable[Line]:
    count = len(event.lessons)
    yield Line(
        f"warning: the lessons folder {display_path(event.output_dir)} is also used by the work dir "
        f"{display_path(event.other)}, where {plural(count, 'lesson')} of this plan "
        f"{'is' if count == 1 else 'are'} in flight ({first_ids(list(event.lessons))}): requesting them here pays "
        f"for them twice. Follow that work dir instead ({Commands(event.other).status} --watch), or leave them out.",
        "note",
    )


def _over_budget(event: OverBudget) -> Iterable[Line]:
    plan, max_cost = event.plan, event.max_cost
    cost = plan.estimated_cost
    if cost is None:
        yield Line(
            f"warning: --max-cost {max_cost:g} cannot be checked: {plan.settings.model} has no known price; "
            "the same command without --dry-run would refuse to submit.", "note",
        )
        return
    shown = cost_format(cost, max_cost)
    yield Line(
        f"warning: the estimated cost {shown(cost)} is above --max-cost {shown(max_cost)}: the same command "
        "without --dry-run would refuse to submit. Select fewer lessons (--modules, --lessons, --limit) or "
        "raise --max-cost.", "note",
    )


_API_NAMES = {"chat": "Chat Completions", "responses": "the Responses API"}


def _via_flex(event: ViaFlex) -> Iterable[Line]:
    plan, flex = event.plan, event.flex
    note = {
        True: "",
        None: " (the model catalogue does not say whether this model takes flex: the first request tells)",
        False: " (the model catalogue says this model does not take flex)",
    }[models.supports_flex(plan.settings.model)]
    line = (
        f"Via flex: {_API_NAMES[plan.settings.api]} with service_tier \"flex\", up to {flex.concurrency} requests "
        f"at a time, billed at Batch prices{note}"
    )
    if flex.max_cost is not None and plan.estimated_cost is not None and plan.estimated_cost > flex.max_cost:
        line += (
            f"\nThe estimate is above --max-cost {cost_format(plan.estimated_cost, flex.max_cost)(flex.max_cost)}: "
            "flex stops sending before the cost could pass it."
        )
    yield Line(line)


def _settled(event: Settled) -> Iterable[Line]:
    if event.kept:
        yield Line(
            f"{len(event.kept)} answers an earlier flex run received (and paid for) were kept in the work dir: "
            "processed now, without asking the API again."
        )
        yield from (Line(line) for line in format_report(event.kept_report))
    left, saved = len(event.released), len(event.saved)
    if left:
        yield Line(
            f"{left} lessons were in flight by flex when an earlier run stopped ({event.runs}): they may have been "
            f"paid for already. {saved} of them had been saved; the other {left - saved} are "
            "pending and requested again."
        )


# --------------------------------------------------------------------------- sending


def _nothing_to_do(event: NothingToDo) -> Iterable[Line]:
    yield Line("Nothing to send." if event.via == "flex" else "Nothing to submit.")


def _deferred(event: Deferred) -> Iterable[Line]:
    count = len(event.lessons)
    yield Line(
        f"{plural(count, 'lesson')} {'waits' if count == 1 else 'wait'} for room under the enqueued-token cap; "
        "they are submitted when earlier batches finish (run again later, or use --wait)."
    )


def _batch_unreadable(event: BatchUnreadable) -> Iterable[Line]:
    yield Line(
        f"warning: could not read batch {event.batch_id} (its last known status is kept): {event.message}", "note"
    )


def _falling_back(event: FallingBack) -> Iterable[Line]:
    plan = event.plan
    yield Line(
        f"Submitting the {plural(len(event.lessons), 'lesson')} flex did not take as an ordinary batch "
        "(--fallback batch)."
    )
    yield Line(
        f"Batch plan: {plural(len(plan.to_request), 'request')} in {plural(len(plan.shards), 'input file')}, "
        f"estimated {models.format_cost(plan.estimated_cost)} (at Batch API prices)"
    )


def _flex_started(event: FlexStarted) -> Iterable[Line]:
    yield Line(
        f"Sending {event.requested:,} requests through flex ({event.model}), up to {event.concurrency} "
        "at a time. Ctrl-C stops sending; what has arrived is kept."
    )


def _flex_stopping(event: FlexStopping) -> Iterable[Line]:
    if not event.in_flight:
        return
    if event.write_failed:
        yield Line(
            f"Stopping: a write failed; no new requests; waiting up to {event.grace_seconds:g} s "
            f"for the {event.in_flight} in flight, to keep their answers."
        )
    else:
        yield Line(
            f"Stopping: no new requests; waiting up to {event.grace_seconds:g} s for the "
            f"{event.in_flight} in flight (Ctrl-C again to quit at once)."
        )


def _flex_still_waiting(event: FlexStillWaiting) -> Iterable[Line]:
    many = len(event.lessons) != 1
    yield Line(
        f"Still waiting for the {plural(len(event.lessons), 'request')} in flight: OpenAI bills "
        f"{'them' if many else 'it'} whether or not the answer{'s' if many else ''} arrive{'' if many else 's'}, "
        "so quitting now would throw away paid answers, and the next run would ask (and pay) for "
        f"{'those lessons' if many else 'that lesson'} again. Press Ctrl-C once more to quit anyway.",
        "note",
    )


def _flex_done(event: FlexDone) -> Iterable[Line]:
    yield from (Line(line) for line in flex_report_lines(event.report, event.settings))


# --------------------------------------------------------------------------- --wait


def _waiting_for(event: WaitingFor) -> Iterable[Line]:
    yield Line(f"Waiting for {plural(len(event.batch_ids), 'batch', 'batches')}: {', '.join(event.batch_ids)}")


def _processed(event: Processed) -> Iterable[Line]:
    yield from (Line(line) for line in format_report(event.report))


def _process_problems(event: ProcessProblems) -> Iterable[Line]:
    yield from (Line(f"warning: {message}", "note") for message in problem_messages(event.problems))


def _cancel_seen(event: CancelSeen) -> Iterable[Line]:
    waiting = event.waiting
    yield Line(
        "A cancel was recorded (check_batch_status.py --cancel): no more batches are submitted; "
        f"{plural(waiting, 'lesson')} of this job {'was' if waiting == 1 else 'were'} not submitted."
    )


def _no_progress(event: NoProgress) -> Iterable[Line]:
    yield Line(
        f"warning: {event.rounds} rounds in a row saved no lesson, so waiting longer is not helping; "
        f"{plural(event.waiting, 'lesson')} pending: run {event.command} later.",
        "note",
    )


def _shard_adopted(event: ShardAdopted) -> Iterable[Line]:
    yield Line(f"Found batch {event.batch_id} created for shard {event.shard_key} by an interrupted run: adopted it.")


def _shard_cleaned_up(event: ShardCleanedUp) -> Iterable[Line]:
    detail = f" and deleted its uploaded file ({', '.join(event.deleted_files)})" if event.deleted_files else ""
    yield Line(
        f"Shard {event.shard_key} from an interrupted run never became a batch: cleaned it up{detail}; "
        f"its {event.lessons} lessons are planned again."
    )


def _uploading(event: Uploading) -> Iterable[Line]:
    yield Line(
        f"Uploading {display_path(event.path)} ({plural(event.requests, 'request')}, "
        f"{event.size_bytes / 1_000_000:.1f} MB)..."
    )


def _batch_created(event: BatchCreated) -> Iterable[Line]:
    yield Line(f"Created batch {event.batch_id} for {plural(event.lessons, 'lesson')} (status: {event.status}).")


def _not_submitted(count: int) -> str:
    return f"{plural(count, 'lesson')} of this run {'was' if count == 1 else 'were'} not submitted."


def _cancel_before_shard(event: CancelBeforeShard) -> Iterable[Line]:
    yield Line(
        "A cancel was recorded (check_batch_status.py --cancel): no more batches are submitted; "
        + _not_submitted(event.not_submitted)
    )


def _cancelled_on_creation(event: CancelledOnCreation) -> Iterable[Line]:
    yield Line(
        f"A cancel was recorded (check_batch_status.py --cancel) while batch {event.batch_id} was being created: "
        f"cancelled it at once (status: {event.status}); its finished requests keep their results."
    )


def _later_not_submitted(event: LaterNotSubmitted) -> Iterable[Line]:
    yield Line("No more batches are submitted; " + _not_submitted(event.lessons))


_WORDS: dict[type, Callable[[object], Iterable[Line]]] = {
    ShardAdopted: _shard_adopted, ShardCleanedUp: _shard_cleaned_up, Uploading: _uploading,
    BatchCreated: _batch_created, CancelBeforeShard: _cancel_before_shard,
    CancelledOnCreation: _cancelled_on_creation, LaterNotSubmitted: _later_not_submitted,
    PlanMade: _plan_made, ModelWarning: _model_warning, SharedFolder: _shared_folder, OverBudget: _over_budget,
    ViaFlex: _via_flex, Settled: _settled, NothingToDo: _nothing_to_do, Deferred: _deferred,
    BatchUnreadable: _batch_unreadable, FallingBack: _falling_back, FlexStarted: _flex_started,
    FlexStopping: _flex_stopping, FlexStillWaiting: _flex_still_waiting, FlexDone: _flex_done,
    WaitingFor: _waiting_for, Processed: _processed, ProcessProblems: _process_problems,
    CancelSeen: _cancel_seen, NoProgress: _no_progress,
}


class RunWords:
    """The words of a generate run's events (``output.EventSink``'s ``words``), with the progress
    bars drawn between them on a terminal: flex's over its requests, ``--wait``'s over the batches'
    (``text.status.WatchDisplay``, whose lines are notes). A bar's line ends before any other line.
    The events of processing (``process_job``: downloads) are ``text.status``'s to word."""

    def __init__(self) -> None:
        self.flex_bar: ProgressBar | None = None
        self.watch_lines: list[str] = []
        self.watch = WatchDisplay(self.watch_lines.append)
        self.processing = StatusWords()

    def __call__(self, event: object) -> list[Line]:
        if isinstance(event, FlexProgress):
            if self.flex_bar is None:
                self.flex_bar = ProgressBar("Flex", event.total)
            refusals = f", {event.refusals:,} capacity refusals waited out" if event.refusals else ""
            self.flex_bar.update(done=event.done, note=f"{event.saved:,} saved{refusals}")
            return []
        if isinstance(event, Polled):
            self.watch(event.records, event.problems)
            lines = [Line(line, "note") for line in self.watch_lines]
            self.watch_lines.clear()
            return lines
        if isinstance(event, WatchPaused):
            self.watch.close()
            return []
        self._close_flex_bar()
        words = _WORDS.get(type(event))
        return list(words(event)) if words is not None else list(self.processing(event))

    def _close_flex_bar(self) -> None:
        if self.flex_bar is not None:
            self.flex_bar.close()

    def close(self) -> None:
        self._close_flex_bar()
        self.watch.close()


# --------------------------------------------------------------------------- interrupted


def interrupted_message(stop: KeyboardInterrupt) -> str:
    """What a Ctrl-C that ends a generate run leaves, in words (``cli.run`` prints it)."""
    if isinstance(stop, FlexAbandoned):
        return _abandoned(stop.lessons)
    if isinstance(stop, StoppedWaiting):
        return _stopped_waiting(stop.running, Commands(stop.work_dir))
    return getattr(stop, "message", None) or str(stop)


def _abandoned(lessons: list[str]) -> str:
    many = len(lessons) != 1
    return (
        f"Quit with {plural(len(lessons), 'request')} in flight abandoned ({', '.join(lessons)}): "
        f"OpenAI bills {'them' if many else 'it'} although the answer{'s are' if many else ' is'} lost. Running the "
        f"same command again asks for {'those lessons' if many else 'that lesson'} again, and pays again; "
        "every answer that arrived before is kept."
    )


def _stopped_waiting(running: list[str], commands: Commands) -> str:
    """What a Ctrl-C under ``--wait`` leaves: the batches run on, and are billed, on the server."""
    if not running:
        return (
            "Interrupted while waiting. No batch is running; the ledger records every step: run "
            f"{commands.process} to save what finished, then {commands.status} for what is left."
        )
    return (
        f"Interrupted: this run stopped, but {plural(len(running), 'batch', 'batches')} of this work dir "
        f"({first_ids(running)}) keep running on the server and are billed for every request they run. Follow "
        f"them with {commands.status} --watch and save the lessons with {commands.process}; or cancel them with "
        f"{commands.status} --cancel (requests already finished are still billed; their results are kept)."
    )
