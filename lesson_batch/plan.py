"""The plan: which lessons to request, in which input files, at what estimated cost.

Planning reads the curriculum and the prompt template, selects lessons (``--modules``,
``--lessons``, ``--limit``), leaves out lessons that are already generated (their file exists,
unless ``--force``) or already in a batch that has not been processed yet (never, even with
``--force``: that would pay twice), builds one request per remaining lesson and streams them into
shard files. It touches no network; the plan is printed before anything is submitted.

Lessons whose request already ran ``max_attempts`` times without a usable lesson are held back
(they need a person) unless ``--force``. The output estimate uses what the ledger measured for
earlier lessons when there is any, and a typical lesson size otherwise; a lesson requested again
after truncation is estimated at its whole new budget, since it used all of the last one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import ids, models
from .curriculum import Curriculum, Lesson, load_curriculum
from .errors import UsageError
from .files import display_path
from .ledger import DEFAULT_MAX_ATTEMPTS, RequestBudget
from .prompt import PromptBuilder, PromptTemplate, load_template
from .requests import RequestSettings, build_request
from .shards import Shard, ShardLimits, ShardWriter
from .wording import plural


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

    @property
    def prompt_tokens(self) -> int:
        return sum(shard.prompt_tokens for shard in self.shards)

    @property
    def output_tokens(self) -> int:
        return sum(shard.output_tokens for shard in self.shards)

    @property
    def estimated_cost(self) -> float | None:
        return models.batch_cost(self.settings.model, self.prompt_tokens, self.output_tokens)


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
    return chosen


def make_plan(options: PlanOptions, history: History = History()) -> Plan:
    """Build the plan and write its shard files into the work dir. No network."""
    curriculum = load_curriculum(options.curriculum_path)
    template = load_template(options.template_path)
    if options.limit is not None and options.limit < 1:
        raise SelectionError("--limit must be at least 1")
    selected = select_lessons(curriculum, options.modules, options.lessons)

    skipped_existing, skipped_in_flight, skipped_in_flex, held, to_request = [], [], [], [], []
    for lesson in selected:
        if lesson.id in history.in_flight:
            # Counted against --limit: a run interrupted after submitting continues the same
            # lessons when run again, instead of adding N more.
            skipped_in_flight.append(lesson.id)
        elif lesson.id in history.in_flex:
            skipped_in_flex.append(lesson.id)  # never in a batch while flex may be generating it
        elif not options.force and os.path.exists(ids.lesson_file(options.output_dir, lesson.id)):
            skipped_existing.append(lesson.id)
        elif not options.force and history.attempts.get(lesson.id, 0) >= options.max_attempts:
            held.append(lesson.id)
        elif options.limit is None or len(to_request) + len(skipped_in_flight) + len(skipped_in_flex) < options.limit:
            to_request.append(lesson)

    builder = PromptBuilder(template, curriculum)
    settings = options.settings
    measured = list(history.measured_output_tokens.values())
    typical_output = (
        round(sum(measured) / len(measured))
        if measured
        else models.expected_output_tokens(settings.model, settings.reasoning_effort, settings.budget)
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
                expected = history.measured_output_tokens.get(lesson.id, typical_output)
            writer.add(request, min(expected, request.max_completion_tokens))
        shards = writer.close()
    except BaseException:
        writer.abort()
        raise

    return Plan(
        curriculum=curriculum,
        template=template,
        settings=settings,
        selected=selected,
        to_request=[lesson.id for lesson in to_request],
        skipped_existing=skipped_existing,
        skipped_in_flight=skipped_in_flight,
        shards=shards,
        warnings=list(curriculum.warnings) + list(template.warnings),
        skipped_in_flex=skipped_in_flex,
        held_for_attention=held,
        max_attempts=options.max_attempts,
    )


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
    if plan.held_for_attention:
        lines.append(
            f"  need a person, tried {plan.max_attempts} times already (held back): {len(plan.held_for_attention)}: "
            f"{_shown(plan.held_for_attention)} (see check_batch_status.py --lessons)"
        )
    held_back = (
        len(plan.selected) - len(plan.skipped_existing) - len(plan.skipped_in_flight) - len(plan.skipped_in_flex)
        - len(plan.held_for_attention) - len(plan.to_request)
    )
    if held_back:
        counted = (
            ", which counts those in a batch" if plan.skipped_in_flight
            else ", which counts those in flight by flex" if plan.skipped_in_flex else ""
        )
        lines.append(f"  left for a later run (--limit{counted}): {held_back}")
    lines.extend(describe_model(settings))
    retried = sum(
        1 for shard in plan.shards for budget, request_effort in shard.budgets
        if (budget, request_effort) != (settings.budget, settings.reasoning_effort)
    )
    if retried:
        lines.append(f"  {retried} truncated before: requested again with a larger budget or a lower effort")
    lines.append(f"Input files: {len(plan.shards)}")
    for shard in plan.shards:
        lines.append(
            f"  {display_path(shard.path)}: {plural(shard.request_count, 'request')}, {shard.size_bytes / 1_000_000:.1f} MB, "
            f"~{shard.prompt_tokens:,} prompt tokens"
        )
    cost = plan.estimated_cost
    price_note = "at Batch API prices" if cost is not None else f"the price of {settings.model} is not known"
    lines.append(
        f"Estimated tokens: ~{plan.prompt_tokens:,} input + ~{plan.output_tokens:,} output "
        f"(estimate from text length)"
    )
    lines.append(f"Estimated cost: {models.format_cost(cost)} ({price_note})")
    return "\n".join(lines)


def describe_model(settings: RequestSettings) -> list[str]:
    """The plan's lines about the model: what kind it is, its budget and effort, its Batch price."""
    info = models.lookup(settings.model)
    if info.reasoning and info.in_catalogue:
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
    else:
        lines.append(f"  Batch price: unknown ({settings.model} has no price in the model table of {models.CATALOGUE_DATE})")
    return lines


def _shown(lesson_ids: list[str], limit: int = 10) -> str:
    return ", ".join(lesson_ids[:limit]) + (" ..." if len(lesson_ids) > limit else "")
