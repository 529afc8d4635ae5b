"""What a processing run did, as a ``Report``, and its two renderings: the lines a person reads
(``format_report``) and the JSON document (``Report.as_json``).

A report is filled by ``results`` (batch result files, flex answers) and merged into totals by
``status``; it holds lesson ids and token counts, never lesson text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import models
from .result_lines import TokenUsage, safe_text
from .workspace import NOT_OVERWRITTEN_DIR, REPLACED_DIR


@dataclass
class Report:
    label: str
    saved: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # saved over an older file, kept under replaced/
    kept_existing: list[str] = field(default_factory=list)  # not overwritten: a file was already there
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # reason -> lesson ids
    missing: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why"
    refusals: dict[str, str] = field(default_factory=dict)  # lesson id -> the model's refusal text
    other_tiers: dict[str, list[str]] = field(default_factory=dict)  # service tier -> lessons not at Batch rates
    usage: TokenUsage = field(default_factory=TokenUsage)
    models_used: Counter = field(default_factory=Counter)
    estimated_cost: float | None = None
    downloaded: list[str] = field(default_factory=list)

    def fail(self, reason: str, lesson_id: str) -> None:
        self.failed.setdefault(reason, []).append(lesson_id)

    @property
    def failed_count(self) -> int:
        return sum(len(v) for v in self.failed.values())

    @property
    def not_saved(self) -> list[str]:
        """Every lesson this report did not save: failed, refused, truncated, missing, ..."""
        return [lesson_id for lesson_ids in self.failed.values() for lesson_id in lesson_ids] + list(self.missing)

    @property
    def actual_cost(self) -> float | None:
        if not self.models_used:
            return 0.0
        model = self.models_used.most_common(1)[0][0]
        return models.batch_cost(model, self.usage.prompt_tokens, self.usage.completion_tokens, self.usage.cached_tokens)

    def merge(self, other: "Report") -> None:
        for name in ("saved", "replaced", "kept_existing", "already_done", "missing", "bad_lines", "downloaded"):
            getattr(self, name).extend(getattr(other, name))
        for reason, lesson_ids in other.failed.items():
            self.failed.setdefault(reason, []).extend(lesson_ids)
        self.refusals.update(other.refusals)
        for tier, lesson_ids in other.other_tiers.items():
            self.other_tiers.setdefault(tier, []).extend(lesson_ids)
        self.usage = self.usage + other.usage
        self.models_used.update(other.models_used)
        if other.estimated_cost is not None:
            self.estimated_cost = (self.estimated_cost or 0.0) + other.estimated_cost

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "saved": len(self.saved) + len(self.replaced),
            "replaced": len(self.replaced),
            "kept_existing": len(self.kept_existing),
            "already_done": len(self.already_done),
            "failed": {reason: sorted(lesson_ids) for reason, lesson_ids in sorted(self.failed.items())},
            "missing": sorted(self.missing),
            "refusals": dict(sorted(self.refusals.items())),
            "not_at_batch_rates": {tier: sorted(ids_) for tier, ids_ in sorted(self.other_tiers.items())},
            "bad_lines": self.bad_lines,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "cached_tokens": self.usage.cached_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "reasoning_tokens": self.usage.reasoning_tokens,
            },
            "actual_cost_usd": _round(self.actual_cost),
            "estimated_cost_usd": _round(self.estimated_cost),
            "downloaded": self.downloaded,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# What a line of the other API than its batch's means (see ``results.wrong_api``).
WRONG_API_WORDS = {
    "responses_object": "their lines are Responses API objects, but their batch was sent to /v1/chat/completions",
    "chat_object": "their lines are Chat Completions objects, but their batch was sent to /v1/responses",
}


def format_report(report: Report) -> list[str]:
    saved = len(report.saved) + len(report.replaced)
    lines = [f"{report.label}:"]
    lines.append(f"  saved: {saved}" + (f" ({len(report.replaced)} replaced older files, kept in {REPLACED_DIR}/)" if report.replaced else ""))
    if report.kept_existing:
        lines.append(
            f"  skipped, a lesson file already exists: {len(report.kept_existing)} "
            f"(new versions kept in {NOT_OVERWRITTEN_DIR}/; use --force to overwrite)"
        )
    if report.already_done:
        lines.append(f"  already processed before: {len(report.already_done)}")
    for reason, lesson_ids in sorted(report.failed.items()):
        shown = ", ".join(sorted(lesson_ids)[:10]) + (" ..." if len(lesson_ids) > 10 else "")
        lines.append(f"  not saved ({reason}): {len(lesson_ids)}: {shown}")
        if reason in WRONG_API_WORDS:
            lines.append(f"    {WRONG_API_WORDS[reason]}; they are requested again by the next run")
        if reason == "refusal":
            lines.extend(f"    {lesson_id} refused: {safe_text(report.refusals[lesson_id], 200)}"
                         for lesson_id in sorted(lesson_ids)[:10] if lesson_id in report.refusals)
    if report.missing:
        shown = ", ".join(report.missing[:10]) + (" ..." if len(report.missing) > 10 else "")
        lines.append(f"  missing from the results: {len(report.missing)}: {shown}")
    if report.bad_lines:
        lines.append(f"  lines skipped: {len(report.bad_lines)}")
        lines.extend(f"    {entry}" for entry in report.bad_lines[:20])
        if len(report.bad_lines) > 20:
            lines.append(f"    ... and {len(report.bad_lines) - 20} more (see --json)")
    for tier, lesson_ids in sorted(report.other_tiers.items(), key=lambda item: str(item[0])):
        shown = ", ".join(sorted(lesson_ids)[:10]) + (" ..." if len(lesson_ids) > 10 else "")
        lines.append(
            f"  served at service tier {tier!r}, not at Batch rates (the 50% discount did not apply): "
            f"{len(lesson_ids)}: {shown}"
        )
    usage = report.usage
    if usage.prompt_tokens or usage.completion_tokens:
        lines.append(
            f"  tokens: {usage.prompt_tokens:,} input ({usage.cached_tokens:,} cached), "
            f"{usage.completion_tokens:,} output ({usage.reasoning_tokens:,} reasoning)"
        )
        lines.append(
            f"  cost at Batch prices: {models.format_cost(report.actual_cost)}"
            + (f" (estimated before submitting: {models.format_cost(report.estimated_cost)})"
               if report.estimated_cost is not None else "")
        )
    return lines
