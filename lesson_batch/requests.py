"""One Batch API request per lesson, as a ready-to-write JSONL line.

Each line follows the Batch API input format exactly::

    {"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": ..., "messages": [...], "max_completion_tokens": ...}}

With ``--endpoint responses`` (chosen by itself for a model offered on the Responses API only)
each line goes to ``/v1/responses`` instead, its body in that API's shape: the template's system
part as ``instructions``, the lesson part as ``input``, ``max_output_tokens`` for the budget and
``reasoning: {"effort": ...}`` (openai 3.63, types/responses/response_create_params.py; OpenAI's
flex guide shows the same ``instructions``/``input`` call). Batch lines keep ``custom_id``,
``method`` and ``url``, the url being the batch's endpoint.

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
from .batch_info import ENDPOINTS
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
    endpoint: str | None = None  # "chat" or "responses"; None: chosen from the model (see models.endpoint_for)

    def __post_init__(self) -> None:
        if self.max_completion_tokens is not None and self.max_completion_tokens < 1:
            raise RequestSettingsError("--max-completion-tokens must be a positive number")
        if self.endpoint is not None and self.endpoint not in ENDPOINTS:
            raise RequestSettingsError(f"--endpoint takes one of {', '.join(ENDPOINTS)}; {self.endpoint!r} is not one")
        problem = models.settings_problem(
            self.model, self.reasoning_effort, self.temperature, self.max_completion_tokens
        ) or models.endpoint_problem(self.model, self.endpoint, self.max_completion_tokens)
        if problem:
            raise RequestSettingsError(problem)

    @property
    def api(self) -> str:
        """``chat`` or ``responses``: the API the requests go to."""
        return models.endpoint_for(self.model, self.endpoint)

    @property
    def endpoint_path(self) -> str:
        """The requests' (and their batches') endpoint: ``/v1/chat/completions`` or ``/v1/responses``."""
        return ENDPOINTS[self.api]

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


def body_prompt_tokens(body: dict) -> int:
    """``estimate_prompt_tokens`` of a request body of either API."""
    if "messages" in body:
        return estimate_prompt_tokens(body["messages"])
    parts = (body.get("instructions"), body.get("input"))
    return estimate_prompt_tokens([{"content": part} for part in parts if isinstance(part, str) and part])


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
    if settings.api == "responses":
        body = _responses_body(settings.model, messages, budget, effort)
    else:
        body = {"model": settings.model, "messages": messages, "max_completion_tokens": budget}
        if effort:
            body["reasoning_effort"] = effort
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    record = {"custom_id": lesson.id, "method": "POST", "url": settings.endpoint_path, "body": body}
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    return LessonRequest(lesson.id, line.encode("utf-8"), estimate_prompt_tokens(messages), budget, effort)


def _responses_body(model: str, messages: list[dict], budget: int, effort: str | None) -> dict:
    """A ``/v1/responses`` body: the system part as ``instructions``, the lesson part as ``input``."""
    body: dict = {"model": model}
    system = [message["content"] for message in messages if message["role"] == "system"]
    if system:
        body["instructions"] = system[0]
    body["input"] = "\n\n".join(message["content"] for message in messages if message["role"] == "user")
    body["max_output_tokens"] = budget
    if effort:
        body["reasoning"] = {"effort": effort}
    return body
