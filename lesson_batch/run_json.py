"""What generate prints under ``--json``: the ``result`` of its envelope (``output``), made from
the typed results of the job (the plan, what was submitted, the flex run, what ``--wait``
processed). The text of the same results is ``text``'s.
"""

from __future__ import annotations

from . import models
from .batch_info import BatchInfo
from .flex import FlexReport
from .generate_job import GenerateOutcome
from .plan import Plan
from .text.plan import effort_shares, tag_order


def outcome_as_json(outcome: GenerateOutcome, *, dry_run: bool, via: str, wait: bool) -> dict:
    """The generate script's ``--json`` result: the plan, and for a real run what was submitted
    (batches), the flex run's report, and what ``--wait`` processed and left."""
    submitted = outcome.submitted
    return {
        "dry_run": dry_run,
        "via": via,
        "plan": plan_as_json(outcome.plan),
        "declined": outcome.declined,
        "submitted": None if dry_run else {
            "batches": [_batch_json(info) for info in submitted.submitted],
            "adopted": [_batch_json(info) for info in submitted.adopted],
            "abandoned_shards": list(submitted.abandoned_shards),
            "waiting_for_room": list(submitted.deferred_lessons),
        },
        "flex": None if outcome.flex is None else flex_report_as_json(outcome.flex),
        "wait": {
            "processed": [report.as_json() for report in outcome.reports],
            "unsaved_lessons": list(outcome.unsaved_lessons),
        } if wait and not dry_run else None,
    }


def _batch_json(info: BatchInfo) -> dict:
    return {
        "batch_id": info.id, "status": info.status, "input_file_id": info.input_file_id,
        "endpoint": info.endpoint,
    }


def plan_as_json(plan: Plan) -> dict:
    """The plan as the ``--json`` result of the generate script holds it: what ``text.plan.format_plan``
    shows, with every lesson id instead of counts where a list is short enough to matter."""
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
        **_model_json(plan),
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
        "effort_mix": _effort_mix_json(plan),
        "warnings": list(plan.warnings),
    }


def _model_json(plan: Plan) -> dict:
    """The plan's model, its Batch price and the date of the model table they come from."""
    settings = plan.settings
    info = models.lookup(settings.model)
    price = info.batch_price
    return {
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
    }


def _effort_mix_json(plan: Plan) -> list[dict]:
    model = plan.settings.model
    if not plan.settings.efforts_by_complexity:
        return []
    return [
        {
            "effort": effort, "lessons": share.lessons, "tags": sorted(share.tags, key=tag_order),
            "prompt_tokens": share.prompt_tokens, "output_tokens": share.output_tokens,
            "cost_usd": _rounded(models.batch_cost(model, share.prompt_tokens, share.output_tokens)),
        }
        for effort, share in effort_shares(plan)
    ]


def flex_report_as_json(report: FlexReport) -> dict:
    """A flex run as the ``--json`` result of the generate script holds it (what
    ``text.ending.flex_report_lines`` says, with every lesson id)."""
    return {
        "run_id": report.run_id,
        "model": report.model,
        "requested": report.requested,
        "saved": report.saved,
        "results": report.results.as_json(),
        "estimated_cost_usd": _rounded(report.estimated_cost),
        "cost_usd": _rounded(report.cost),
        "other_tier": [
            {"lesson_id": lesson_id, "tier": tier, "extra_cost_usd": _rounded(extra)}
            for lesson_id, tier, extra in report.other_tier
        ],
        "capacity_refusals": report.refusals,
        "not_sent": list(report.not_sent),
        "no_answer": list(report.no_answer),
        "still_running": list(report.still_running),
        "already_in_flight": list(report.already_in_flight),
        "stop_reason": report.stop_reason,
        "stop_detail": report.stop_detail or None,
        "write_failure": report.write_failure,
    }


def _rounded(cost: float | None) -> float | None:
    return None if cost is None else round(cost, 6)
