"""One Batch API request per lesson, as a ready-to-write JSONL line.

Each line follows the Batch API input format exactly::

    {"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": ..., "messages": [...], "max_completion_tokens": ...}}

The body is what the chosen model accepts, as the model catalogue (``models``) says: the
settings are checked against it when they are made, so ``reasoning_effort`` and ``temperature``
appear only when asked for and only where the model takes them. A lesson that came back
truncated before carries its own larger budget (or lower effort) from the ledger.

Prompt tokens are estimated from the text length (about four characters a token for English
Markdown). That is deliberately not a tokenizer: it needs no download, never blocks, and is
close enough for a cost estimate and for the enqueued-token cap, which has slack built in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import models
from .batch_info import BATCH_ENDPOINT
from .curriculum import Lesson
from .errors import UsageError
from .prompt import PromptBuilder

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


class RequestSettingsError(UsageError, ValueError):
    """Options that cannot make a valid request for the chosen model (a usage error)."""


@dataclass(frozen=True)
class RequestSettings:
    model: str = models.DEFAULT_MODEL
    max_completion_tokens: int | None = None  # None: the model's default budget
    reasoning_effort: str | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if self.max_completion_tokens is not None and self.max_completion_tokens < 1:
            raise RequestSettingsError("--max-completion-tokens must be a positive number")
        problem = models.settings_problem(
            self.model, self.reasoning_effort, self.temperature, self.max_completion_tokens
        )
        if problem:
            raise RequestSettingsError(problem)

    @property
    def budget(self) -> int:
        return self.max_completion_tokens or models.default_budget(self.model)


@dataclass(frozen=True)
class LessonRequest:
    lesson_id: str
    line: bytes  # one JSONL line, newline included
    prompt_tokens: int  # estimated
    max_completion_tokens: int
    reasoning_effort: str | None


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def estimate_prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(message["content"]) + TOKENS_PER_MESSAGE for message in messages)


def build_request(
    builder: PromptBuilder,
    lesson: Lesson,
    settings: RequestSettings,
    budget: int | None = None,
    effort: str | None = None,
) -> LessonRequest:
    """The request for one lesson; ``budget``/``effort`` override the settings for retries."""
    messages = builder.messages(lesson)
    if budget or effort:  # a retry after truncation: never below this run's own budget
        budget, effort = models.fit_retry(settings.model, max(budget or 0, settings.budget), effort)
    budget = budget or settings.budget
    if effort is None or settings.temperature is not None:  # temperature pins the effort the user chose
        effort = settings.reasoning_effort
    body: dict = {"model": settings.model, "messages": messages, "max_completion_tokens": budget}
    if effort:
        body["reasoning_effort"] = effort
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    record = {"custom_id": lesson.id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    return LessonRequest(lesson.id, line.encode("utf-8"), estimate_prompt_tokens(messages), budget, effort)
