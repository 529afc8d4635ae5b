"""Flex, the money: what a run has spent, at the tier each answer was served at, and the cost cap.

The cap (``--max-cost``): no request is sent when the cost so far, plus the worst case of the
requests in flight and of the next one, could pass it. A request's worst case is its prompt (all
of it written to the prompt cache, for a model that bills cache writes) and its whole output
budget, at flex prices; once the API has served an answer of the run at another tier than flex
(billed at that tier's price), at standard prices, since it may serve the next ones so too.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from .. import models
from ..result_files import TokenUsage
from .send import FlexRequest


class Spending(Protocol):
    """Where a run keeps what it spent (``flex.FlexReport``)."""

    cost: float | None
    other_tier: list[tuple[str, str, float | None]]  # lesson, tier, extra cost

    def add_cost(self, cost: float | None) -> None: ...


def worst_case_cost(model: str, request: FlexRequest) -> float | None:
    """The most one request can cost at flex prices: its prompt (all of it written to the prompt
    cache, for a model that bills cache writes) and its whole output budget."""
    return models.batch_cost(model, request.prompt_tokens, request.budget, cache_write_tokens=request.prompt_tokens)


class CostCap:
    """The spending of one flex run, kept in its report (``cost``, ``other_tier``), and its cap."""

    def __init__(self, model: str, limit: float | None, report: Spending):
        self.model, self.limit, self.report = model, limit, report

    def affords(self, request: FlexRequest, in_flight: Iterable[FlexRequest]) -> bool:
        """Whether ``request`` may be sent now: the cost so far, plus the worst case of those in
        flight and of this one, stays within the cap."""
        if self.limit is None:
            return True
        flying = sum(self.worst_case(sent) for sent in in_flight)
        return (self.report.cost or 0.0) + flying + self.worst_case(request) <= self.limit

    def worst_case(self, request: FlexRequest) -> float:
        """The most a request can cost: at flex prices, or at standard prices once the API has
        served an answer of this run at another tier (it may serve the next ones so too)."""
        worst = worst_case_cost(self.model, request) or 0.0
        return worst * models.STANDARD_TO_BATCH if self.report.other_tier else worst

    def count(self, lesson_id: str, usage: TokenUsage, tier: str | None) -> None:
        """An answer billed: its cost at the tier it was served at (and, at another tier than flex,
        what that cost more than flex)."""
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        cost = models.answer_cost(self.model, *tokens, tier, usage.cache_write_tokens)
        self.report.add_cost(cost)
        if tier not in (models.FLEX_TIER, None):
            flex_price = models.answer_cost(self.model, *tokens, models.FLEX_TIER, usage.cache_write_tokens)
            extra = cost - flex_price if cost is not None and flex_price is not None else None
            self.report.other_tier.append((lesson_id, tier, extra))
