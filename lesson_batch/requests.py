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

The effort may depend on a lesson's complexity tag (``--reasoning-effort F=low,I=medium,A=high``):
each lesson's request then carries the effort of its tag; a lesson without one of those tags gets
the plain value given with them (``F=low,A=high,medium``), else the model's default.

Prompt tokens are estimated from the text length (about four characters a token for English
Markdown). That is deliberately not a tokenizer: it needs no download, never blocks, and is
close enough for a cost estimate and for the enqueued-token cap, which has slack built in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import models
from .batch_info import ENDPOINTS
from .curriculum import COMPLEXITY_NAMES, Lesson
from .errors import UsageError
from .prompt import PromptBuilder

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


# The complexity tags an effort can be given for (curriculum.COMPLEXITY_NAMES).
COMPLEXITY_TAGS = tuple(COMPLEXITY_NAMES)


class RequestSettingsError(UsageError, ValueError):
    """Options that cannot make a valid request for the chosen model (a usage error)."""


def parse_efforts(text: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """``--reasoning-effort``'s value: one effort (``high``), or efforts by complexity tag
    (``F=low,I=medium,A=high``, optionally with one plain effort for every other lesson). Returns
    (the plain effort or None, ((tag, effort), ...)). Raises ValueError in plain words."""
    plain: str | None = None
    by_tag: dict[str, str] = {}
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise ValueError("--reasoning-effort needs a value, like medium or F=low,I=medium,A=high")
    for part in parts:
        if not part:
            continue
        tag, equals, effort = part.rpartition("=")
        effort = effort.strip().lower()
        if effort not in models.EFFORTS:
            raise ValueError(f"--reasoning-effort takes one of {', '.join(models.EFFORTS)}; {effort!r} is not one")
        if not equals:
            if plain is not None:
                raise ValueError(f"--reasoning-effort gives more than one plain effort ({plain}, {effort}); "
                                 "give one, or one per complexity tag like F=low,I=medium,A=high")
            plain = effort
            continue
        tag = tag.strip().upper()
        if tag not in COMPLEXITY_TAGS:
            raise ValueError(f"--reasoning-effort: {tag or '(nothing)'!r} is not a complexity tag; the tags are "
                             f"{', '.join(f'{t} ({name})' for t, name in COMPLEXITY_NAMES.items())}")
        if tag in by_tag:
            raise ValueError(f"--reasoning-effort gives {tag} twice")
        by_tag[tag] = effort
    ordered = tuple((tag, by_tag[tag]) for tag in COMPLEXITY_TAGS if tag in by_tag)
    return plain, ordered


@dataclass(frozen=True)
class RequestSettings:
    model: str = models.DEFAULT_MODEL
    max_completion_tokens: int | None = None  # None: the model's default budget
    reasoning_effort: str | None = None  # for every lesson not covered by ``efforts_by_complexity``
    temperature: float | None = None
    efforts_by_complexity: tuple[tuple[str, str], ...] = ()  # (("F", "low"), ("A", "high")): per tag
    endpoint: str | None = None  # "chat" or "responses"; None: chosen from the model (see models.endpoint_for)

    def __post_init__(self) -> None:
        if self.max_completion_tokens is not None and self.max_completion_tokens < 1:
            raise RequestSettingsError("--max-completion-tokens must be a positive number")
        if self.endpoint is not None and self.endpoint not in ENDPOINTS:
            raise RequestSettingsError(f"--endpoint takes one of {', '.join(ENDPOINTS)}; {self.endpoint!r} is not one")
        for tag, effort in ((None, self.reasoning_effort), *self.efforts_by_complexity):
            if tag is not None and effort is None:
                continue
            problem = models.settings_problem(self.model, effort, self.temperature, self.max_completion_tokens)
            if problem:
                if tag is not None:
                    problem = f"for lessons tagged [{tag}]: {problem}"
                raise RequestSettingsError(problem)
        problem = models.endpoint_problem(self.model, self.endpoint, self.max_completion_tokens)
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

    def effort_for(self, complexity: str | None) -> str | None:
        """The effort asked for a lesson of this complexity tag (None: the model's default)."""
        return dict(self.efforts_by_complexity).get(complexity or "", self.reasoning_effort)

    @property
    def effort_option(self) -> str | None:
        """The efforts as ``--reasoning-effort`` takes them (None: none given)."""
        parts = [f"{tag}={effort}" for tag, effort in self.efforts_by_complexity]
        if self.reasoning_effort:
            parts.append(self.reasoning_effort)
        return ",".join(parts) or None


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
        effort = settings.effort_for(lesson.complexity)
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
