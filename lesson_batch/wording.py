"""The words every script shares: counts, id lists, times, and the next steps (the sentences
that say what to do now, with the command to run). What each script shows is ``text.status``'s
(check_batch_status.py, process_batch_results.py) or ``text``'s (generate).

A next step is a command to copy and run as it is, from the current folder: the script's path
as seen from there (the project's scripts find their defaults from the project, wherever they
are run from), ``--work-dir`` when the run used another work dir than the default (the work dir
remembers the rest: the curriculum, the template and the lessons folder), ``--output-dir`` when
the run used another lessons folder than the remembered one, and, for a command that requests
lessons, exactly those lessons (``request``; which lessons a step names is ``next_steps``').
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import ids, models
from .defaults import DEFAULT_WORK_DIR, PROJECT_DIR
from .files import display_path
from .states import FAILS_AGAIN_UNCHANGED, TERMINAL_BATCH_STATUSES, BatchStatus

GENERATE_SCRIPT = "generate_datagov_lessons_batch.py"
STATUS_SCRIPT = "check_batch_status.py"
PROCESS_SCRIPT = "process_batch_results.py"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 lesson``, ``2 lessons``, ``1,000 batches``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def first_ids(ids_: list[str], limit: int = 10) -> str:
    """The first ``limit`` ids of a list, joined by commas, with `` ...`` when there are more: how
    a long list of lessons or batches is shown in a sentence (``--json`` lists them all)."""
    return ", ".join(ids_[:limit]) + (" ..." if len(ids_) > limit else "")


def cost_format(cost: float, limit: float) -> Callable[[float], str]:
    """How to show a cost next to a limit: in cents unless they would hide the difference
    (--max-cost 0.001 is not "$0.00")."""
    precise = round(limit, 2) != limit or round(cost, 2) <= limit
    return (lambda value: f"${value:,.6g}") if precise else models.format_cost


def tally(counts: dict) -> str:
    """``3 saved, 1 failed``: counts by name, in the order given."""
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def quoted(text: str) -> str:
    """An argument as it would be typed in a shell (quoted only when it has to be)."""
    if text and not any(ch.isspace() or ch in "\"'$`&|;<>()*?#" for ch in text):
        return text
    if os.name == "nt":
        return f'"{text}"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True)
class Commands:
    """The three scripts as commands to run for one work dir."""

    work_dir: Path = DEFAULT_WORK_DIR
    output_dir: Path | None = None  # a lessons folder other than the one the work dir remembers

    @property
    def _suffix(self) -> str:
        try:
            default = Path(self.work_dir).resolve() == DEFAULT_WORK_DIR.resolve()
        except OSError:
            default = False
        return "" if default else f" --work-dir {quoted(display_path(self.work_dir))}"

    @property
    def _lessons_folder(self) -> str:
        return "" if self.output_dir is None else f" --output-dir {quoted(display_path(self.output_dir))}"

    @property
    def generate(self) -> str:
        return f"python {script(GENERATE_SCRIPT)}{self._suffix}{self._lessons_folder}"

    @property
    def status(self) -> str:
        return f"python {script(STATUS_SCRIPT)}{self._suffix}"

    @property
    def process(self) -> str:
        return f"python {script(PROCESS_SCRIPT)}{self._suffix}{self._lessons_folder}"

    def request(self, lesson_ids, via: str | None = None) -> str:
        """The generate command that requests exactly ``lesson_ids`` (by ``--lessons``), through
        flex when ``via`` is "flex"."""
        listed = ",".join(sorted(lesson_ids, key=ids.sort_key))
        return f"{self.generate} --lessons {listed}" + (" --via flex" if via == "flex" else "")


def script(name: str) -> str:
    """A script of the project as a path to type from the current folder."""
    return quoted(display_path(PROJECT_DIR / name))


def is_are(count: int) -> str:
    return "is" if count == 1 else "are"


def them(count: int) -> str:
    """``it`` or ``them``."""
    return "it" if count == 1 else "them"


def the_lessons(count: int) -> str:
    """``the 3 lessons`` / ``the lesson``."""
    return "the lesson" if count == 1 else f"the {plural(count, 'lesson')}"


def clock(timestamp: float) -> str:
    """A moment as the local date and time, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_duration(seconds: float) -> str:
    """``2h 05m``, ``3m 09s``, ``12s``."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def given_up_reason(batch_id: str) -> str:
    """Why the lessons of a batch given up (``--give-up``) are pending again, as the ledger records it."""
    return f"batch {batch_id} was given up: the API did not know it (404) for this key and project"


# --- Next steps: what to do now, as a sentence with the command to run ---------------------------

# What each batch status means, and the next step while its results are not processed yet. The
# steps name the scripts with {status}, {process} and {generate}: commands for the run's work dir.
MEANINGS = {
    BatchStatus.VALIDATING: ("The API is checking the input file.", "Wait; run {status} again (or with --watch)."),
    BatchStatus.FAILED: ("The batch was rejected before running; nothing in it was charged.", ""),  # see next_step
    BatchStatus.IN_PROGRESS: ("The batch is running.", "Wait (up to 24 hours); run {status} again, or with --watch."),
    BatchStatus.FINALIZING: (
        "All requests ran; the API is writing the result files.",
        "Wait a few minutes; then run {process}.",
    ),
    BatchStatus.COMPLETED: ("Done: the results are ready.", "Run {process} to save the lessons."),
    BatchStatus.EXPIRED: (
        "The 24-hour window ended before every request ran; finished requests have results.",
        "Run {process} to save what finished; it then names the command that requests the rest again.",
    ),
    BatchStatus.CANCELLING: (
        "The batch is being cancelled (this can take up to 10 minutes).",
        "Wait; run {status} again.",
    ),
    BatchStatus.CANCELLED: (
        "The batch was cancelled; requests that finished before that have results.",
        "Run {process} to save what finished; it then names the command that requests the rest again.",
    ),
}


def meaning_of(record, unknown: tuple[str, str] = ("Unknown status.", "")) -> tuple[str, str]:
    """What the batch's status means (``record``: a ``ledger.BatchRecord``) and the step while its
    results are not processed: ``MEANINGS``, except that a completed batch some or all of whose
    requests failed is not called plain success (the API says "completed" even when every request
    failed and there is no output file)."""
    meaning, step = MEANINGS.get(record.status, unknown)
    if record.status == BatchStatus.COMPLETED and record.request_failed:
        failed, total = record.request_failed, max(record.request_total, record.request_failed)
        if not record.request_completed:
            meaning = (
                f"Finished, but every request failed ({failed:,} of {total:,}): no lesson came back; "
                "the reasons are in the error file."
            )
            step = "Run {process} to record why each request failed (there is nothing to save)."
        else:
            meaning = (
                f"Finished with failures: {failed:,} of its {total:,} requests failed (the reasons are in the "
                "error file); the others' results are ready."
            )
            step = "Run {process} to save the lessons and record why the others failed."
    return meaning, step


def next_step(batch, commands: Commands = Commands()) -> str:
    """What to do about this batch (a ``batch_view.BatchView``) now, true for its status and for what
    became of its lessons. (The data worded here is not imported, not even for its type: the ledger
    names commands, and an import of the ledger's data here would make a cycle.)"""
    record = batch.record
    names = {"status": commands.status, "process": commands.process, "generate": commands.generate}
    if record.given_up_at is not None:
        return "Nothing to do for this batch: it was given up (the API did not know it)."
    if batch.lost:
        return lost_step(batch, commands)
    if record.status == BatchStatus.FAILED:
        return _after_failure(batch, commands)
    if record.processed_at and record.status in TERMINAL_BATCH_STATUSES:
        steps = []
        if batch.again:
            its = "its lesson" if len(batch.again) == 1 else f"its {plural(len(batch.again), 'lesson')}"
            steps.append(f"Run {commands.request(batch.again, batch.again_via)} to request {its} not saved again.")
        if batch.held:
            steps.append(_held_step(batch, commands))
        return " ".join(steps) or "Nothing to do for this batch."
    _meaning, step = meaning_of(record, ("", "Check the batch in the OpenAI dashboard."))
    return step.format(**names)


def lost_step(batch, commands: Commands) -> str:
    """The way on for a batch the API answers 404 for: its lessons stay held (the batch may live on
    under another key, and running it again would pay twice) until the user gives it up."""
    return (
        f"Its {plural(batch.holding, 'lesson')} {is_are(batch.holding)} held, not requested again: the batch may "
        "still run under another key or project (check the OPENAI_API_KEY and project, and the dashboard). If it "
        f"is gone for good, give it up with {commands.status} --give-up {batch.record.batch_id}; "
        f"{'that lesson' if batch.holding == 1 else 'those lessons'} can then be requested again."
    )


def _held_step(batch, commands: Commands) -> str:
    many = batch.held != 1
    return (
        f"{batch.held:,} of its lessons need{'' if many else 's'} a person (tried --max-attempts times, or a "
        f"request that would fail again unchanged): see why with {commands.status} --lessons."
    )


def _after_failure(batch, commands: Commands) -> str:
    record = batch.record
    if batch.lessons and not batch.left:
        if batch.held:
            return _held_step(batch, commands)
        return "Nothing to do for this batch: its lessons were submitted again or are saved."
    if batch.lessons:
        pending = f"Its {plural(batch.left, 'lesson')} {is_are(batch.left)} pending again"
    else:
        pending = "Its lessons are pending again"
    # The command names the lessons a run would request (``next_steps``); none: the plain command.
    generate = commands.request(batch.again, batch.again_via) if batch.again else commands.generate
    if batch.token_limit is not None:
        return (
            f"{pending}. The batch was over your organisation's enqueued-token limit for {record.model}: "
            f"run {generate} --max-enqueued-tokens {batch.token_limit} to submit them in batches that fit under it "
            "(each waits for room; add --wait to see them through)."
        )
    where = f" (the line numbers are in {display_path(batch.input_file)})" if batch.input_file else ""
    return f"Read the errors above{where}. {pending}: fix the cause, then run {generate} to submit them."


def what_to_do_for(lesson_id: str, commands: Commands = Commands(), reason: str | None = None) -> str:
    """The advice for a lesson that needs a person (``reason``: why it was held)."""
    if (reason or "").startswith(FAILS_AGAIN_UNCHANGED):
        return (
            "its request failed in a way the same request fails again (read the reason): change what makes it "
            "fail (the prompt or curriculum entry that makes it too long, --max-completion-tokens, or the model); "
            f"then request it again with {commands.generate} --lessons {lesson_id} --force"
        )
    return (
        "read the reason (and the work dir's rejected/" + lesson_id + ".md, if there is one) and fix its cause "
        "(the prompt, the curriculum entry, the budget or the model); then request it again with "
        f"{commands.generate} --lessons {lesson_id} --force "
        "(or run the generate script with a higher --max-attempts)"
    )


def waiting_step(waiting) -> str:
    """The step for lessons neither saved nor on their way nor held (a ``batch_view.WaitingStep``):
    the generate command that requests them."""
    return (f"Run {waiting.step.command} to request {the_lessons(len(waiting.step.lessons))} not saved yet "
            f"({tally(waiting.states)}).")


def flex_in_flight_step(left: list[str], commands: Commands) -> str | None:
    """The step for lessons a flex run left in flight (``batch_view.in_flight_by_flex``)."""
    if not left:
        return None
    return (
        f"{plural(len(left), 'lesson')} {is_are(len(left))} in flight by flex. If no flex run is "
        f"going any more (it was killed or interrupted), run {commands.request(left, 'flex')}: it first settles "
        f"{them(len(left))} (a lesson whose file was written counts as saved; the others may have been paid already, "
        f"and are requested, and paid, again), then sends those through flex. A dry run shows {them(len(left))} as "
        "in flight."
    )
