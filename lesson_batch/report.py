"""What a processing run did, as a ``Report``, and its JSON document (``Report.as_json``); the
lines a person reads are ``text.processing.format_report``'s.

A report is filled by ``saving`` (batch result files, flex answers) and merged into totals by
``process_job.ProcessingSummary``; it holds lesson ids and token counts, never lesson text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import models
from .result_files import TokenUsage


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
    # Lessons whose path holds a folder or a link (lesson id -> the problem): not saved, and the
    # generated lesson kept aside in the work dir.
    path_problems: dict[str, str] = field(default_factory=dict)
    # The batch's own usage as the API reported it (the bill; ``BatchInfo.usage``), to compare with
    # the sum of its lines; None when there is none (flex, files given by hand, an older batch).
    batch_usage: dict | None = None
    batch_usage_complete: bool = True  # False: a merged report had lines without a batch usage
    replaced_in: str | None = None  # the folder the older files of ``replaced`` are kept in
    kept_in: str | None = None  # the folder the new versions of ``kept_existing`` are kept in
    # The reports merged into this one, when it is a total: their batches may be of different
    # models (one model per batch file), so a total is priced part by part, never as one model.
    parts: list["Report"] = field(default_factory=list)

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
    def model(self) -> str | None:
        return self.models_used.most_common(1)[0][0] if self.models_used else None

    @property
    def actual_cost(self) -> float | None:
        if self.parts:
            return _sum_of(part.actual_cost for part in self.parts)
        if not self.models_used:
            return 0.0
        usage = self.usage
        return models.batch_cost(
            self.model, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens
        )

    @property
    def cache_write_cost(self) -> float | None:
        """What the prompt-cache writes among the input cost (at Batch prices)."""
        if self.parts:
            return _sum_of(part.cache_write_cost for part in self.parts)
        if not self.models_used:
            return 0.0
        return models.cache_write_cost(self.model, self.usage.cache_write_tokens)

    @property
    def batch_usage_difference(self) -> dict[str, int]:
        """How the batch's own usage differs from the sum of its lines: {count: batch's minus lines'},
        only the counts that differ (empty when they agree, or when there is no batch usage)."""
        if self.batch_usage is None or not self.batch_usage_complete:
            return {}
        return usage_difference(self.batch_usage, self.usage)

    @property
    def batch_usage_cost(self) -> float | None:
        """The cost by the batch's own figures (cache writes as its lines report them: the batch's
        usage has no count of them)."""
        if self.batch_usage is None or not self.models_used:
            return None
        if self.parts:  # the parts without a batch usage add nothing to the summed figures either
            return _sum_of(part.batch_usage_cost for part in self.parts if part.batch_usage is not None)
        used = self.batch_usage
        return models.batch_cost(
            self.model, used.get("input_tokens", 0), used.get("output_tokens", 0), used.get("cached_tokens", 0),
            self.usage.cache_write_tokens,
        )

    def merge(self, other: "Report") -> None:
        """Add ``other`` to this report, a total that holds no lines of its own."""
        assert not self.models_used or self.parts, "merge into a total (a report with no lines of its own)"
        self.parts.append(other)
        for name in ("saved", "replaced", "kept_existing", "already_done", "missing", "bad_lines", "downloaded"):
            getattr(self, name).extend(getattr(other, name))
        for reason, lesson_ids in other.failed.items():
            self.failed.setdefault(reason, []).extend(lesson_ids)
        self.refusals.update(other.refusals)
        self.path_problems.update(other.path_problems)
        self.replaced_in = self.replaced_in or other.replaced_in
        self.kept_in = self.kept_in or other.kept_in
        for tier, lesson_ids in other.other_tiers.items():
            self.other_tiers.setdefault(tier, []).extend(lesson_ids)
        self.usage = self.usage + other.usage
        if other.batch_usage is not None:
            mine = self.batch_usage or {}
            self.batch_usage = {name: mine.get(name, 0) + other.batch_usage.get(name, 0) for name in BATCH_USAGE_COUNTS}
        elif other.usage != TokenUsage():
            self.batch_usage_complete = False  # lines without the batch's own figures: no comparison
        self.batch_usage_complete = self.batch_usage_complete and other.batch_usage_complete
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
            "path_problems": dict(sorted(self.path_problems.items())),
            "not_at_batch_rates": {tier: sorted(ids_) for tier, ids_ in sorted(self.other_tiers.items())},
            "bad_lines": self.bad_lines,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "cached_tokens": self.usage.cached_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "reasoning_tokens": self.usage.reasoning_tokens,
                "cache_write_tokens": self.usage.cache_write_tokens,
            },
            "actual_cost_usd": _round(self.actual_cost),
            "cache_write_cost_usd": _round(self.cache_write_cost),
            "batch_usage": self.batch_usage if self.batch_usage_complete else None,
            "batch_usage_minus_lines": self.batch_usage_difference,
            "batch_usage_cost_usd": _round(self.batch_usage_cost),
            "estimated_cost_usd": _round(self.estimated_cost),
            "downloaded": self.downloaded,
        }


def _sum_of(costs) -> float | None:
    """The sum of some costs, or None (unknown) when any of them is."""
    costs = list(costs)
    return None if None in costs else sum(costs)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# The counts of a batch's own usage (``BatchInfo.usage``), and the line counts each matches.
BATCH_USAGE_COUNTS = {
    "input_tokens": "prompt_tokens",
    "cached_tokens": "cached_tokens",
    "output_tokens": "completion_tokens",
    "reasoning_tokens": "reasoning_tokens",
}
def usage_difference(batch_usage: dict, lines: TokenUsage) -> dict[str, int]:
    """The batch's own counts minus its lines' sums, for the counts that differ."""
    difference = {}
    for name, line_name in BATCH_USAGE_COUNTS.items():
        delta = int(batch_usage.get(name, 0)) - getattr(lines, line_name)
        if delta:
            difference[name] = delta
    return difference
