"""The plan as a person reads it before anything is submitted, and the questions asked about it."""

from __future__ import annotations

from .. import models
from ..files import display_path
from ..plan import Plan, saved_before_sentence
from ..requests import RequestSettings
from ..wording import Commands, first_ids, plural


def confirm_question(plan: Plan, via: str = "batch") -> str:
    cost = models.format_cost(plan.estimated_cost)
    what = (
        f"Send {plural(len(plan.to_request), 'request')} through flex"
        if via == "flex"
        else f"Submit {plural(len(plan.to_request), 'request')} in {plural(len(plan.shards), 'batch', 'batches')}"
    )
    return f"{what}, estimated {cost}?"


def paying_again_question(plan: Plan) -> str:
    return f"{saved_before_sentence(plan)}. Pay for {'it' if len(plan.saved_before) == 1 else 'them'} again?"


def format_plan(plan: Plan) -> str:
    """The plan as a person reads it before anything is submitted."""
    lines = _plan_selection(plan)
    lines.extend(describe_model(plan.settings))
    if plan.settings.efforts_by_complexity:
        lines.extend(describe_effort_mix(plan))
    if plan.retried:
        lines.append(f"  {plan.retried} truncated before: requested again with a larger budget or a lower effort")
    lines.append(f"Input files: {len(plan.shards)}")
    for shard in plan.shards:
        lines.append(
            f"  {display_path(shard.path)}: {plural(shard.request_count, 'request')}, "
            f"{shard.size_bytes / 1_000_000:.1f} MB, ~{shard.prompt_tokens:,} prompt tokens"
        )
    lines.extend(_plan_estimate(plan))
    return "\n".join(lines)


def _plan_selection(plan: Plan) -> list[str]:
    """The plan's lines about the curriculum and which of its lessons are requested or skipped."""
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
    status = Commands(plan.work_dir).status
    if plan.held_for_attention:
        lines.append(
            f"  need a person, tried {plan.max_attempts} times already (held back): {len(plan.held_for_attention)}: "
            f"{first_ids(plan.held_for_attention)} (see {status} --lessons)"
        )
    if plan.held_unchanged:
        lines.append(
            f"  need a person, the same request would fail again (HTTP 400; held back): {len(plan.held_unchanged)}: "
            f"{first_ids(plan.held_unchanged)} (see {status} --lessons)"
        )
    if plan.blocked_paths:
        lines.append(
            f"  lesson path not a regular file (not requested until it is moved away): {len(plan.blocked_paths)}"
        )
        lines.extend(f"    {lesson_id}: {problem}" for lesson_id, problem in plan.blocked_paths.items())
    held_back = plan.left_for_later
    if held_back:
        counted = (
            ", which counts those in a batch" if plan.skipped_in_flight
            else ", which counts those in flight by flex" if plan.skipped_in_flex else ""
        )
        lines.append(f"  left for a later run (--limit{counted}): {held_back}")
    return lines


def _plan_estimate(plan: Plan) -> list[str]:
    """The plan's last lines: its estimated tokens and cost."""
    settings = plan.settings
    if not plan.to_request:
        return ["Estimated cost: $0.00 (nothing to request)"]
    cost = plan.estimated_cost
    price_note = "at Batch API prices" if cost is not None else f"the price of {settings.model} is not known"
    lines = [
        f"Estimated tokens: ~{plan.prompt_tokens:,} input + ~{plan.output_tokens:,} output",
        f"  ({plan.output_estimate_source})",
        f"Estimated cost: {models.format_cost(cost)} ({price_note})",
    ]
    if plan.cache_write_tokens and cost is not None:
        lines.append(
            f"  includes ~{plan.cache_write_tokens:,} prompt tokens written to the prompt cache "
            f"({models.format_small_cost(models.cache_write_cost(settings.model, plan.cache_write_tokens))}, at "
            f"{models.CACHE_WRITE_MULTIPLIER:g}x the input price), assuming the first request of each input file "
            "writes its prompt to the cache and no request reads it (see docs/costs.md)"
        )
    return lines


def describe_effort_mix(plan: Plan) -> list[str]:
    """The plan's lines about efforts by complexity: the lessons and estimated cost at each effort."""
    settings = plan.settings
    info = models.lookup(settings.model)
    asked = ", ".join(f"[{tag}] {effort}" for tag, effort in settings.efforts_by_complexity)
    other = settings.reasoning_effort or (
        f"{info.default_effort} (the model's default)" if info.default_effort else "the model's default"
    )
    lines = [f"  effort by complexity: {asked}; any other lesson: {other}"]
    for effort, share in effort_shares(plan):
        shown = effort or (f"{info.default_effort} (default)" if info.default_effort else "the model's default")
        tags = ", ".join(f"[{tag}]" if tag else "untagged" for tag in sorted(share.tags, key=tag_order))
        cost = models.batch_cost(settings.model, share.prompt_tokens, share.output_tokens)
        lines.append(
            f"    {shown}: {plural(share.lessons, 'lesson')} ({tags}), ~{share.output_tokens:,} output tokens, "
            f"estimated {models.format_cost(cost)}"
        )
    return lines


def effort_shares(plan: Plan) -> list:
    """The plan's shares of lessons by effort, lowest effort first (the model's default where it falls)."""
    info = models.lookup(plan.settings.model)
    order = {value: index for index, value in enumerate(models.EFFORTS)}
    return sorted(plan.efforts.items(), key=lambda item: order.get(item[0] or info.default_effort, -1))


def tag_order(tag: str) -> int:
    tags = ("F", "I", "A")
    return tags.index(tag) if tag in tags else len(tags)


def describe_model(settings: RequestSettings) -> list[str]:
    """The plan's lines about the model: what kind it is, its budget and effort, its Batch price."""
    info = models.lookup(settings.model)
    temperature = f", temperature {settings.temperature:g}" if settings.temperature is not None else ""
    budget_name = "max_output_tokens" if settings.api == "responses" else "max_completion_tokens"
    lines = [f"Model: {settings.model} ({_model_kind(settings)}), {budget_name} {settings.budget:,}{temperature}"]
    if settings.api == "responses":
        why = "--endpoint responses" if settings.endpoint else f"{settings.model} is offered on the Responses API only"
        lines.append(f"  Endpoint: {settings.endpoint_path} (the Responses API; {why})")
    if info.batch_price is None:
        lines.append(
            f"  Batch price: unknown ({settings.model} has no price in the model table of {models.CATALOGUE_DATE})"
        )
        return lines
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
    return lines


def _model_kind(settings: RequestSettings) -> str:
    info = models.lookup(settings.model)
    if settings.efforts_by_complexity:
        guessed = "reasoning model" if info.in_catalogue else "not in the model table; a reasoning model by its name"
        return f"{guessed}, effort by complexity {settings.effort_option}"
    if info.reasoning and info.in_catalogue:
        return f"reasoning model, effort {settings.reasoning_effort or f'{info.default_effort} (its default)'}"
    if info.reasoning:
        effort = settings.reasoning_effort or "the model's own (none sent)"
        return f"not in the model table; a reasoning model by its name, effort {effort}"
    return "not a reasoning model" if info.in_catalogue else "not in the model table; not a reasoning model"
