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
from .requests import RequestSettings, build_request
from .settings import API_BASE_URL
from .shards import Shard, ShardLimits, ShardWriter
from .states import FAILS_AGAIN_UNCHANGED, FLEX, NEEDS_ATTENTION
from .wording import Commands, first_ids, plural


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


def select_lessons(curriculum: Curriculum, modules: tuple[str, ...] = (), lessons: tuple[str, ...] = ()) -> list[Lesson]:
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

    skipped_existing, skipped_in_flight, skipped_in_flex, held, to_request = [], [], [], [], []
    blocked: dict[str, str] = {}
    held_unchanged = []
    for lesson in selected:
        place = placement(lesson.id, history, options.output_dir, options.force, options.max_attempts)
        if place == BLOCKED:
            blocked[lesson.id] = lesson_path_problem(ids.lesson_file(options.output_dir, lesson.id)) or "not a regular file"
        elif place == IN_FLIGHT:
            # Counted against --limit: a run interrupted after submitting continues the same
            # lessons when run again, instead of adding N more.
            skipped_in_flight.append(lesson.id)
        elif place == IN_FLEX:
            skipped_in_flex.append(lesson.id)  # never in a batch while flex may be generating it
        elif place == EXISTS:
            skipped_existing.append(lesson.id)
        elif place == HELD_UNCHANGED:
            held_unchanged.append(lesson.id)
        elif place == HELD:
            held.append(lesson.id)
        elif options.limit is None or len(to_request) + len(skipped_in_flight) + len(skipped_in_flex) < options.limit:
            to_request.append(lesson)

    builder = PromptBuilder(template, curriculum)
    settings = options.settings
    measured = list(history.measured_output_tokens.values())
    measured_typical = round(sum(measured) / len(measured)) if measured else None
    efforts: dict[str | None, EffortShare] = {}
    retried = 0
    saved_before = {
        lesson.id: history.saved[lesson.id] for lesson in to_request
        if lesson.id in history.saved and not os.path.exists(ids.lesson_file(options.output_dir, lesson.id))
    }
    again_tokens = [0, 0]  # prompt and output tokens of the lessons in ``saved_before``
    if measured:
        source = (
            f"output: ~{measured_typical:,} a lesson, the average of {plural(len(measured), 'lesson')} "
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
    writer = ShardWriter(options.work_dir, options.limits)
    try:
        for lesson in to_request:
            budget, effort = history.retry_budgets.get(lesson.id, (None, None))
            request = build_request(builder, lesson, settings, budget, effort)
            if lesson.id in history.retry_budgets:
                # It truncated: it used its whole budget last time, so it may use the new one too.
                expected = request.max_completion_tokens
            else:
                typical = measured_typical or models.expected_output_tokens(
                    settings.model, request.reasoning_effort, settings.budget
                )
                expected = history.measured_output_tokens.get(lesson.id, typical)
            expected = min(expected, request.max_completion_tokens)
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

    truncated_before = sum(1 for lesson in to_request if lesson.id in history.retry_budgets)
    if truncated_before:
        source += (
            f"; {plural(truncated_before, 'lesson')} truncated before at "
            f"{'its' if truncated_before == 1 else 'their'} whole new budget"
        )
    return Plan(
        work_dir=options.work_dir,
        curriculum=curriculum,
        template=template,
        settings=settings,
        selected=selected,
        to_request=[lesson.id for lesson in to_request],
        skipped_existing=skipped_existing,
        skipped_in_flight=skipped_in_flight,
        shards=shards,
        warnings=list(curriculum.warnings) + list(template.warnings) + outside,
        skipped_in_flex=skipped_in_flex,
        held_for_attention=held,
        max_attempts=options.max_attempts,
        blocked_paths=blocked,
        efforts=efforts,
        retried=retried,
        saved_before=saved_before,
        saved_before_cost=models.batch_cost(settings.model, *again_tokens) if saved_before else 0.0,
        held_unchanged=held_unchanged,
        output_estimate_source=f"input from the prompts' text length; {source}",
    )


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


def format_plan(plan: Plan) -> str:
    settings = plan.settings
    lines = [
        f"Curriculum: {display_path(plan.curriculum.path)} ({plan.curriculum.name}): "
        f"{plural(len(plan.curriculum.modules), 'module')}, {plural(len(plan.curriculum.lessons), 'lesson')}",
        f"Selected: {plural(len(plan.selected), 'lesson')}",
        f"  already generated (skipped): {len(plan.skipped_existing)}",
        f"  in a batch not yet processed (skipped): {len(plan.skipped_in_flight)}",
    ]
    if plan.skipped_in_flex:
        lines.append(f"  in flight by flex (skipped): {len(plan.skipped_in_flex)}")
    lines.append(f"  to request: {len(plan.to_request)}")
    if plan.saved_before:
        lines.append(f"  of those, saved before elsewhere (paid again if requested): {len(plan.saved_before)}")
    if plan.held_for_attention:
        lines.append(
            f"  need a person, tried {plan.max_attempts} times already (held back): {len(plan.held_for_attention)}: "
            f"{first_ids(plan.held_for_attention)} (see {Commands(plan.work_dir).status} --lessons)"
        )
    if plan.held_unchanged:
        lines.append(
            f"  need a person, the same request would fail again (HTTP 400; held back): {len(plan.held_unchanged)}: "
            f"{first_ids(plan.held_unchanged)} (see {Commands(plan.work_dir).status} --lessons)"
        )
    if plan.blocked_paths:
        lines.append(f"  lesson path not a regular file (not requested until it is moved away): {len(plan.blocked_paths)}")
        lines.extend(f"    {lesson_id}: {problem}" for lesson_id, problem in plan.blocked_paths.items())
    held_back = plan.left_for_later
    if held_back:
        counted = (
            ", which counts those in a batch" if plan.skipped_in_flight
            else ", which counts those in flight by flex" if plan.skipped_in_flex else ""
        )
        lines.append(f"  left for a later run (--limit{counted}): {held_back}")
    lines.extend(describe_model(settings))
    if settings.efforts_by_complexity:
        lines.extend(describe_effort_mix(plan))
    if plan.retried:
        lines.append(f"  {plan.retried} truncated before: requested again with a larger budget or a lower effort")
    lines.append(f"Input files: {len(plan.shards)}")
    for shard in plan.shards:
        lines.append(
            f"  {display_path(shard.path)}: {plural(shard.request_count, 'request')}, {shard.size_bytes / 1_000_000:.1f} MB, "
            f"~{shard.prompt_tokens:,} prompt tokens"
        )
    if not plan.to_request:
        lines.append("Estimated cost: $0.00 (nothing to request)")
        return "\n".join(lines)
    cost = plan.estimated_cost
    price_note = "at Batch API prices" if cost is not None else f"the price of {settings.model} is not known"
    lines.append(f"Estimated tokens: ~{plan.prompt_tokens:,} input + ~{plan.output_tokens:,} output")
    lines.append(f"  ({plan.output_estimate_source})")
    lines.append(f"Estimated cost: {models.format_cost(cost)} ({price_note})")
    if plan.cache_write_tokens and cost is not None:
        lines.append(
            f"  includes ~{plan.cache_write_tokens:,} prompt tokens written to the prompt cache "
            f"({models.format_small_cost(models.cache_write_cost(settings.model, plan.cache_write_tokens))}, at "
            f"{models.CACHE_WRITE_MULTIPLIER:g}x the input price), assuming the first request of each input file "
            "writes its prompt to the cache and no request reads it (see docs/costs.md)"
        )
    return "\n".join(lines)


def plan_as_json(plan: Plan) -> dict:
    """The plan as the ``--json`` result of the generate script holds it: what ``format_plan``
    shows, with every lesson id instead of counts where a list is short enough to matter."""
    settings = plan.settings
    info = models.lookup(settings.model)
    price = info.batch_price
    order = {value: index for index, value in enumerate(models.EFFORTS)}
    efforts = sorted(plan.efforts.items(), key=lambda item: order.get(item[0] or info.default_effort, -1))
    return {
        "curriculum": {
            "path": str(plan.curriculum.path), "name": plan.curriculum.name,
            "modules": len(plan.curriculum.modules), "lessons": len(plan.curriculum.lessons),
        },
        "selected": len(plan.selected),
        "to_request": list(plan.to_request),
        "skipped": {
            "already_generated": list(plan.skipped_existing),
            "in_a_batch": list(plan.skipped_in_flight),
            "in_flight_by_flex": list(plan.skipped_in_flex),
            "need_a_person": list(plan.held_for_attention),
            "would_fail_again": list(plan.held_unchanged),
            "path_not_a_regular_file": dict(plan.blocked_paths),
            "left_for_a_later_run": plan.left_for_later,
        },
        "saved_before_elsewhere": dict(plan.saved_before),
        "retried_after_truncation": plan.retried,
        "max_attempts": plan.max_attempts,
        "model": {
            "name": settings.model,
            "endpoint": settings.endpoint_path,
            "reasoning": info.reasoning,
            "in_model_table": info.in_catalogue,
            "max_output_tokens": settings.budget,
            "reasoning_effort": settings.reasoning_effort,
            "efforts_by_complexity": dict(settings.efforts_by_complexity),
            "temperature": settings.temperature,
        },
        "batch_price_per_million_usd": None if price is None else {
            "input": price.input, "cached_input": price.cached_input, "output": price.output,
            "cache_write": models.cache_write_price(settings.model),
        },
        "model_table_date": str(models.CATALOGUE_DATE),
        "files": [
            {
                "path": str(shard.path), "requests": shard.request_count, "bytes": shard.size_bytes,
                "prompt_tokens": shard.prompt_tokens, "output_tokens": shard.output_tokens, "sha256": shard.sha256,
            }
            for shard in plan.shards
        ],
        "estimate": {
            "prompt_tokens": plan.prompt_tokens,
            "output_tokens": plan.output_tokens,
            "cache_write_tokens": plan.cache_write_tokens,
            "cost_usd": _rounded(plan.estimated_cost),
            "output_estimate_source": plan.output_estimate_source,
            "saved_before_cost_usd": _rounded(plan.saved_before_cost) if plan.saved_before else None,
        },
        "effort_mix": [
            {
                "effort": effort, "lessons": share.lessons, "tags": sorted(share.tags, key=_tag_order),
                "prompt_tokens": share.prompt_tokens, "output_tokens": share.output_tokens,
                "cost_usd": _rounded(models.batch_cost(settings.model, share.prompt_tokens, share.output_tokens)),
            }
            for effort, share in efforts
        ] if settings.efforts_by_complexity else [],
        "warnings": list(plan.warnings),
    }


def _rounded(cost: float | None) -> float | None:
    return None if cost is None else round(cost, 6)


def describe_effort_mix(plan: Plan) -> list[str]:
    """The plan's lines about efforts by complexity: the lessons and estimated cost at each effort."""
    settings = plan.settings
    info = models.lookup(settings.model)
    asked = ", ".join(f"[{tag}] {effort}" for tag, effort in settings.efforts_by_complexity)
    other = settings.reasoning_effort or (
        f"{info.default_effort} (the model's default)" if info.default_effort else "the model's default"
    )
    lines = [f"  effort by complexity: {asked}; any other lesson: {other}"]
    order = {value: index for index, value in enumerate(models.EFFORTS)}
    for effort, share in sorted(plan.efforts.items(), key=lambda item: order.get(item[0] or info.default_effort, -1)):
        shown = effort or (f"{info.default_effort} (default)" if info.default_effort else "the model's default")
        tags = ", ".join(f"[{tag}]" if tag else "untagged" for tag in sorted(share.tags, key=_tag_order))
        cost = models.batch_cost(settings.model, share.prompt_tokens, share.output_tokens)
        lines.append(
            f"    {shown}: {plural(share.lessons, 'lesson')} ({tags}), ~{share.output_tokens:,} output tokens, "
            f"estimated {models.format_cost(cost)}"
        )
    return lines


def _tag_order(tag: str) -> int:
    tags = ("F", "I", "A")
    return tags.index(tag) if tag in tags else len(tags)


def describe_model(settings: RequestSettings) -> list[str]:
    """The plan's lines about the model: what kind it is, its budget and effort, its Batch price."""
    info = models.lookup(settings.model)
    if settings.efforts_by_complexity:
        kind = f"{'reasoning model' if info.in_catalogue else 'not in the model table; a reasoning model by its name'}, " \
               f"effort by complexity {settings.effort_option}"
    elif info.reasoning and info.in_catalogue:
        effort = settings.reasoning_effort or f"{info.default_effort} (its default)"
        kind = f"reasoning model, effort {effort}"
    elif info.reasoning:
        effort = settings.reasoning_effort or "the model's own (none sent)"
        kind = f"not in the model table; a reasoning model by its name, effort {effort}"
    else:
        kind = "not a reasoning model" if info.in_catalogue else "not in the model table; not a reasoning model"
    temperature = f", temperature {settings.temperature:g}" if settings.temperature is not None else ""
    budget_name = "max_output_tokens" if settings.api == "responses" else "max_completion_tokens"
    lines = [f"Model: {settings.model} ({kind}), {budget_name} {settings.budget:,}{temperature}"]
    if settings.api == "responses":
        why = "--endpoint responses" if settings.endpoint else f"{settings.model} is offered on the Responses API only"
        lines.append(f"  Endpoint: {settings.endpoint_path} (the Responses API; {why})")
    if info.batch_price is not None:
        lines.append(
            f"  Batch price per 1M tokens: {models.format_price(info.batch_price)} "
            f"(model table of {models.CATALOGUE_DATE})"
        )
        if info.bills_cache_writes:
            lines.append(
                f"  prompt-cache writes billed at {models.CACHE_WRITE_MULTIPLIER:g}x the input price "
                f"(${models.cache_write_price(settings.model):g} per 1M)"
            )
        if info.price_note:
            lines.append(f"  note: {info.price_note}")
    else:
        lines.append(f"  Batch price: unknown ({settings.model} has no price in the model table of {models.CATALOGUE_DATE})")
    return lines
