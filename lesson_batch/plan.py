"""The plan: which lessons to request, in which input files, at what estimated cost.

Planning reads the curriculum and the prompt template, selects lessons (``--modules``,
``--lessons``, ``--limit``), leaves out lessons that are already generated (their file exists,
unless ``--force``) or already in a batch that has not been processed yet (never, even with
``--force``: that would pay twice), builds one request per remaining lesson and streams them into
shard files. It touches no network; the plan is printed before anything is submitted.

Lessons whose request already ran ``max_attempts`` times without a usable lesson are held back
(they need a person) unless ``--force``. The output estimate uses what the ledger measured for
earlier lessons when there is any, and a typical lesson size otherwise (more reasoning at a higher
effort); a lesson requested again after truncation is estimated at its whole new budget, since it
used all of the last one.

With efforts by complexity (``--reasoning-effort F=low,I=medium,A=high``) the plan shows how many
lessons run at each effort and what each share is estimated to cost.

For a model that bills prompt-cache writes (GPT-5.6 and later), the estimate assumes that the
first request of each input file writes its whole prompt to the cache (billed at 1.25x the input
price) and that no other request writes or reads the cache: every other prompt is counted at the
full input price. Whether Batch and flex requests pay for cache writes at all is not stated by
OpenAI (docs/costs.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import ids, lifecycle, models
from .api import DEFAULT_BASE_URL
from .curriculum import Curriculum, Lesson, load_curriculum
from .defaults import DEFAULT_WORK_DIR
from .errors import UsageError
from .files import FolderError, disk_full_message, display_path, is_disk_full, lesson_path_problem
from .ledger import DEFAULT_MAX_ATTEMPTS, RequestBudget
from .prompt import PromptBuilder, PromptTemplate, load_template
from .requests import LessonRequest, RequestSettings, build_request
from .settings import API_BASE_URL
from .shards import Shard, ShardLimits, ShardWriter
from .states import FAILS_AGAIN_UNCHANGED, FLEX, NEEDS_ATTENTION
from .wording import first_ids, plural


class SelectionError(UsageError, ValueError):
    """``--modules`` / ``--lessons`` name something the curriculum does not have (a usage error)."""


@dataclass(frozen=True)
class PlanOptions:
    curriculum_path: Path
    template_path: Path
    output_dir: Path
    work_dir: Path
    settings: RequestSettings = field(default_factory=RequestSettings)
    limits: ShardLimits = field(default_factory=ShardLimits)
    modules: tuple[str, ...] = ()
    lessons: tuple[str, ...] = ()
    limit: int | None = None
    force: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True)
class History:
    """What earlier runs left in the ledger that changes the plan."""

    in_flight: frozenset[str] = frozenset()  # lessons in a batch not yet processed
    in_flex: frozenset[str] = frozenset()  # lessons sent through flex with no outcome recorded yet
    retry_budgets: dict[str, RequestBudget] = field(default_factory=dict)  # after truncation
    measured_output_tokens: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)  # runs of lessons not saved yet
    saved: dict[str, str | None] = field(default_factory=dict)  # recorded as saved, with the folder they went to
    # held for a person because the same request would fail again (an HTTP 400): never requested
    # again unchanged, whatever --max-attempts says; only --force (after a change) requests them
    fails_unchanged: frozenset[str] = frozenset()
    # the API that answered the measured lessons when it is not OpenAI's (a local test server):
    # its answers say nothing of a real lesson's length
    measured_elsewhere: str | None = None


@dataclass
class EffortShare:
    """The lessons of a plan that run at one effort, and their estimated tokens."""

    lessons: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    tags: set = field(default_factory=set)  # the complexity tags among them ("" for none)


@dataclass
class Plan:
    curriculum: Curriculum
    template: PromptTemplate
    settings: RequestSettings
    selected: list[Lesson]
    to_request: list[str]
    skipped_existing: list[str]
    skipped_in_flight: list[str]
    shards: list[Shard]
    warnings: list[str]
    skipped_in_flex: list[str] = field(default_factory=list)
    held_for_attention: list[str] = field(default_factory=list)  # tried max_attempts times already
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # Lessons whose path holds something that is not a regular file (a folder, a link): never
    # counted as generated, not requested (the answer could not be saved) until it is moved away.
    blocked_paths: dict[str, str] = field(default_factory=dict)  # lesson id -> the problem, in words
    efforts: dict[str | None, EffortShare] = field(default_factory=dict)  # effort sent (None: default) -> share
    retried: int = 0  # lessons requested with another budget or effort after truncating
    # Lessons to request that the ledger records as saved, but whose file is not in this lessons
    # folder (another folder, or moved or deleted): requesting them pays for them again.
    saved_before: dict[str, str | None] = field(default_factory=dict)  # lesson -> the folder it was saved in
    saved_before_cost: float | None = 0.0
    held_unchanged: list[str] = field(default_factory=list)  # the same request would fail again (HTTP 400)
    output_estimate_source: str = ""  # where the output estimate comes from, for the plan's label
    work_dir: Path = DEFAULT_WORK_DIR  # for the commands the plan names

    @property
    def prompt_tokens(self) -> int:
        return sum(shard.prompt_tokens for shard in self.shards)

    @property
    def output_tokens(self) -> int:
        return sum(shard.output_tokens for shard in self.shards)

    @property
    def cache_write_tokens(self) -> int:
        """Estimated prompt tokens written to the cache and billed for it: the first request of each
        input file, for a model that bills cache writes (see the module's note), where that prompt is
        long enough to be cached at all."""
        if not models.bills_cache_writes(self.settings.model):
            return 0
        return sum(
            shard.first_prompt_tokens for shard in self.shards
            if shard.first_prompt_tokens >= models.PROMPT_CACHE_MIN_TOKENS
        )

    @property
    def estimated_cost(self) -> float | None:
        return models.batch_cost(
            self.settings.model, self.prompt_tokens, self.output_tokens, cache_write_tokens=self.cache_write_tokens
        )

    @property
    def left_for_later(self) -> int:
        """Selected lessons neither requested nor skipped for a reason: held back by ``--limit``."""
        return (
            len(self.selected) - len(self.skipped_existing) - len(self.skipped_in_flight) - len(self.skipped_in_flex)
            - len(self.held_for_attention) - len(self.held_unchanged) - len(self.to_request) - len(self.blocked_paths)
        )


def parse_module_list(values: tuple[str, ...]) -> set[int]:
    numbers = set()
    for value in values:
        text = value.strip().upper()
        if not text.startswith("M") or not text[1:].isdigit():
            raise SelectionError(f"--modules takes module codes like M0,M3; {value!r} is not one")
        numbers.add(int(text[1:]))
    return numbers


def select_lessons(
    curriculum: Curriculum, modules: tuple[str, ...] = (), lessons: tuple[str, ...] = ()
) -> list[Lesson]:
    """The curriculum's lessons narrowed by ``--modules`` and ``--lessons``, in curriculum order."""
    chosen = list(curriculum.lessons)
    if modules:
        wanted = parse_module_list(modules)
        present = {module.number for module in curriculum.modules}
        unknown = sorted(wanted - present)
        if unknown:
            raise SelectionError(
                f"--modules names {', '.join(ids.module_code(n) for n in unknown)}, "
                f"not in {display_path(curriculum.path)} (it has {', '.join(m.code for m in curriculum.modules)})"
            )
        chosen = [lesson for lesson in chosen if lesson.module_number in wanted]
    if lessons:
        wanted_ids = []
        for typed in lessons:
            value = typed.strip().upper()
            if not ids.is_lesson_id(value):
                raise SelectionError(f"--lessons takes lesson ids like M0-L001; {typed.strip()!r} is not one")
            wanted_ids.append(value)
        known = {lesson.id for lesson in curriculum.lessons}
        unknown_ids = [value for value in wanted_ids if value not in known]
        if unknown_ids:
            raise SelectionError(f"--lessons names {', '.join(unknown_ids)}, not in {display_path(curriculum.path)}")
        wanted_set = set(wanted_ids)
        chosen = [lesson for lesson in chosen if lesson.id in wanted_set]
        if modules and not chosen:
            raise SelectionError(
                f"--lessons {','.join(wanted_ids)} and --modules {','.join(modules)} exclude each other: none of "
                "those lessons is in those modules, so nothing is selected. Drop one of the two, or name lessons "
                "of those modules."
            )
    return chosen


# Where a selected lesson goes in a plan (``placement``).
REQUEST, IN_FLIGHT, IN_FLEX, EXISTS, HELD, BLOCKED = "request", "in_flight", "in_flex", "exists", "held", "blocked"
HELD_UNCHANGED = "held_unchanged"


def placement(lesson_id: str, history: History, output_dir: Path, force: bool, max_attempts: int) -> str:
    """Whether a selected lesson is requested, or skipped and why: the one rule both the plan and
    the next steps the scripts print (``next_steps``) use, so a printed command requests what it says."""
    if lesson_id in history.in_flight:
        return IN_FLIGHT
    if lesson_id in history.in_flex:
        return IN_FLEX
    if lesson_path_problem(ids.lesson_file(output_dir, lesson_id)) is not None:
        return BLOCKED  # a folder or a link where the lesson's file goes: its answer could not be saved
    if not force and os.path.exists(ids.lesson_file(output_dir, lesson_id)):
        return EXISTS
    if not force and lesson_id in history.fails_unchanged:
        return HELD_UNCHANGED  # its request failed in a way the same request fails again (an HTTP 400)
    if not lifecycle.may_request(history.attempts.get(lesson_id, 0), max_attempts, force):
        return HELD
    return REQUEST


def history_of(ledger) -> History:
    """What the ledger records that changes a plan."""
    return History(
        in_flight=ledger.in_flight_lessons(),
        in_flex=ledger.in_flight_lessons(FLEX),
        retry_budgets=ledger.retry_budgets(),
        measured_output_tokens=ledger.measured_output_tokens(),
        attempts=ledger.attempts_of_unsaved(),
        saved=ledger.saved_folders(),
        measured_elsewhere=_not_openai(ledger.meta().get(API_BASE_URL)),
        fails_unchanged=frozenset(
            lesson.lesson_id for lesson in ledger.lessons().values()
            if lesson.state == NEEDS_ATTENTION and (lesson.reason or "").startswith(FAILS_AGAIN_UNCHANGED)
        ),
    )


def _not_openai(base_url: str | None) -> str | None:
    """``base_url`` when it is not the OpenAI API's address (a local test server, a proxy)."""
    if base_url is None or base_url.rstrip("/") == DEFAULT_BASE_URL.rstrip("/"):
        return None
    return base_url


def make_plan(options: PlanOptions, history: History = History()) -> Plan:
    """Build the plan and write its shard files into the work dir. No network."""
    curriculum = load_curriculum(options.curriculum_path)
    template = load_template(options.template_path)
    if options.limit is not None and options.limit < 1:
        raise SelectionError("--limit must be at least 1")
    selected = select_lessons(curriculum, options.modules, options.lessons)
    outside = _named_outside_modules(options, selected)
    placed = _place_lessons(selected, history, options)
    saved_before = {
        lesson.id: history.saved[lesson.id] for lesson in placed.to_request
        if lesson.id in history.saved and not os.path.exists(ids.lesson_file(options.output_dir, lesson.id))
    }
    written = _write_requests(options, history, PromptBuilder(template, curriculum), placed.to_request, saved_before)
    settings = options.settings
    return Plan(
        work_dir=options.work_dir,
        curriculum=curriculum,
        template=template,
        settings=settings,
        selected=selected,
        to_request=[lesson.id for lesson in placed.to_request],
        skipped_existing=placed.existing,
        skipped_in_flight=placed.in_flight,
        shards=written.shards,
        warnings=list(curriculum.warnings) + list(template.warnings) + outside,
        skipped_in_flex=placed.in_flex,
        held_for_attention=placed.held,
        max_attempts=options.max_attempts,
        blocked_paths=placed.blocked,
        efforts=written.efforts,
        retried=written.retried,
        saved_before=saved_before,
        saved_before_cost=models.batch_cost(settings.model, *written.again_tokens) if saved_before else 0.0,
        held_unchanged=placed.held_unchanged,
        output_estimate_source=_estimate_source(placed.to_request, history, settings),
    )


@dataclass
class _Placed:
    """The selected lessons sorted by ``placement`` (each list in curriculum order)."""

    to_request: list[Lesson] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    in_flex: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    held_unchanged: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # lesson id -> the problem, in words

    @property
    def counted_against_limit(self) -> int:
        return len(self.to_request) + len(self.in_flight) + len(self.in_flex)


def _place_lessons(selected: list[Lesson], history: History, options: PlanOptions) -> _Placed:
    """Each selected lesson's placement; ``--limit`` caps the lessons requested plus those in flight."""
    placed = _Placed()
    for lesson in selected:
        place = placement(lesson.id, history, options.output_dir, options.force, options.max_attempts)
        if place == BLOCKED:
            problem = lesson_path_problem(ids.lesson_file(options.output_dir, lesson.id))
            placed.blocked[lesson.id] = problem or "not a regular file"
        elif place == IN_FLIGHT:
            # Counted against --limit: a run interrupted after submitting continues the same
            # lessons when run again, instead of adding N more.
            placed.in_flight.append(lesson.id)
        elif place == IN_FLEX:
            placed.in_flex.append(lesson.id)  # never in a batch while flex may be generating it
        elif place == EXISTS:
            placed.existing.append(lesson.id)
        elif place == HELD_UNCHANGED:
            placed.held_unchanged.append(lesson.id)
        elif place == HELD:
            placed.held.append(lesson.id)
        elif options.limit is None or placed.counted_against_limit < options.limit:
            placed.to_request.append(lesson)
    return placed


@dataclass
class _Written:
    """What writing the requests into shard files gives the plan."""

    shards: list[Shard]
    efforts: dict[str | None, EffortShare]
    retried: int  # requested with another budget or effort than the run's own (after truncating)
    again_tokens: tuple[int, int]  # prompt and output tokens of the lessons saved before elsewhere


def _write_requests(
    options: PlanOptions, history: History, builder: PromptBuilder, to_request: list[Lesson],
    saved_before: dict[str, str | None],
) -> _Written:
    """Build each lesson's request and stream it into the shard files, with its expected output."""
    settings = options.settings
    typical = _measured_typical(history)
    efforts: dict[str | None, EffortShare] = {}
    retried = 0
    again_tokens = [0, 0]
    writer = ShardWriter(options.work_dir, options.limits)
    try:
        for lesson in to_request:
            budget, effort = history.retry_budgets.get(lesson.id, (None, None))
            request = build_request(builder, lesson, settings, budget, effort)
            expected = _expected_output(lesson, request, history, settings, typical)
            writer.add(request, expected)
            if (request.max_completion_tokens, request.reasoning_effort) != (
                settings.budget, settings.effort_for(lesson.complexity)
            ):
                retried += 1
            share = efforts.setdefault(request.reasoning_effort, EffortShare())
            share.lessons += 1
            share.prompt_tokens += request.prompt_tokens
            share.output_tokens += expected
            share.tags.add(lesson.complexity or "")
            if lesson.id in saved_before:
                again_tokens[0] += request.prompt_tokens
                again_tokens[1] += expected
        shards = writer.close()
    except BaseException as exc:
        writer.abort()
        if is_disk_full(exc):
            raise FolderError(disk_full_message(exc, "the plan's request files were not written, so none of "
                                                      "them was submitted or paid for")) from None
        raise
    return _Written(shards, efforts, retried, (again_tokens[0], again_tokens[1]))


def _measured_typical(history: History) -> int | None:
    """The average output of the lessons measured in this work dir (None: none measured yet)."""
    measured = list(history.measured_output_tokens.values())
    return round(sum(measured) / len(measured)) if measured else None


def _expected_output(
    lesson: Lesson, request: LessonRequest, history: History, settings: RequestSettings, typical: int | None
) -> int:
    """The output tokens a lesson's request is expected to use, within its budget."""
    if lesson.id in history.retry_budgets:
        # It truncated: it used its whole budget last time, so it may use the new one too.
        expected = request.max_completion_tokens
    else:
        typical = typical or models.expected_output_tokens(settings.model, request.reasoning_effort, settings.budget)
        expected = history.measured_output_tokens.get(lesson.id, typical)
    return min(expected, request.max_completion_tokens)


def _estimate_source(to_request: list[Lesson], history: History, settings: RequestSettings) -> str:
    """Where the plan's token estimate comes from, for its label."""
    measured = list(history.measured_output_tokens.values())
    if measured:
        source = (
            f"output: ~{_measured_typical(history):,} a lesson, the average of {plural(len(measured), 'lesson')} "
            "measured in this work dir"
        )
        if history.measured_elsewhere:
            source += (
                f", answered by {history.measured_elsewhere}, not the OpenAI API: real lessons may be much longer"
            )
    else:
        source = (
            f"output: a typical lesson for {settings.model} at the effort it is sent with "
            "(nothing measured in this work dir yet)"
        )
    truncated_before = sum(1 for lesson in to_request if lesson.id in history.retry_budgets)
    if truncated_before:
        source += (
            f"; {plural(truncated_before, 'lesson')} truncated before at "
            f"{'its' if truncated_before == 1 else 'their'} whole new budget"
        )
    return f"input from the prompts' text length; {source}"


def saved_before_sentence(plan: Plan) -> str:
    """What requesting the lessons recorded as saved elsewhere means: where they are, and the price."""
    count = len(plan.saved_before)
    folders = sorted({folder or "a folder the ledger did not record" for folder in plan.saved_before.values()})
    where = "; ".join(display_path(Path(folder)) if os.path.isabs(folder) else folder for folder in folders)
    return (
        f"{plural(count, 'lesson')} to request {'is' if count == 1 else 'are'} recorded as saved already, in {where}, "
        f"but not in this lessons folder ({first_ids(list(plan.saved_before))}): requesting "
        f"{'it' if count == 1 else 'them'} pays again, estimated {models.format_cost(plan.saved_before_cost)}"
    )


def _named_outside_modules(options: PlanOptions, selected: list[Lesson]) -> list[str]:
    """The warning for lessons named with --lessons that --modules leaves out (both given)."""
    if not (options.modules and options.lessons):
        return []
    kept = {lesson.id for lesson in selected}
    left_out = [typed.strip().upper() for typed in options.lessons if typed.strip().upper() not in kept]
    if not left_out:
        return []
    return [
        f"--lessons {', '.join(left_out)} {'is' if len(left_out) == 1 else 'are'} not in --modules "
        f"{','.join(options.modules)}: left out (the two filters together select only lessons that both name)"
    ]

