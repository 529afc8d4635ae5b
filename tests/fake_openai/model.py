"""The fake "model": answers one chat-completions request with a plausible Markdown lesson.

Everything here is a pure function of the request (its JSON body, plus the custom_id used as
a fallback title), so the same input file always produces the same lessons and tests can
compare outputs byte for byte. The randomness that makes lessons look varied comes from a
``random.Random`` seeded with a hash of the request body.

The lesson follows the prompt the way a well-behaved model would:

* the first line is ``# <title>``, the title taken from a ``Lesson title: ...`` line in the
  user message (falling back to the custom_id);
* then every level-2 heading the system (or developer) messages ask for -- each line that
  is exactly ``## Something`` -- in order and without duplicates, each followed by a few
  paragraphs of filler; one section also carries a ```` ```sql ```` block and a small table;
* paragraphs are added until the lesson is roughly ``lesson_bytes`` long.

``chat_completion`` wraps the lesson into a ``chat.completion`` object with token usage
counted as roughly characters / 4. A reasoning model (per the server's own ``catalog``)
reasons with the request's ``reasoning_effort`` or, when absent, its default effort: ``none``
spends no reasoning tokens, ``minimal`` a few dozen, each higher effort more (``REASONING_BASE``,
plus up to as much again chosen by the request's hash). Reasoning tokens count against the
budget (``max_completion_tokens``, or ``max_tokens``, else the model's max output): a budget
spent on reasoning leaves empty content with finish_reason ``length``; a lesson longer than
what is left is cut there, also with ``length``. A request whose system prompt was already
seen earlier in the same batch reports its system-prompt tokens as cached. ``Quirks`` turns
on the misbehaviours the scenario can ask for: an answer cut off by the token limit, a
lesson wrapped in a ```` ```markdown ```` fence, chatty text around it, or a refusal.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass

from .catalog import ModelSpec, rules_for_added_model, spec_for

TITLE_LINE = re.compile(r"^[ \t]*Lesson title:[ \t]*(.+?)[ \t\r]*$", re.MULTILINE | re.IGNORECASE)
HEADING_LINE = re.compile(r"^## (.+?)[ \t\r]*$", re.MULTILINE)
# Reasoning tokens per effort: the base, plus up to as much again (from the request's hash).
REASONING_BASE = {"none": 0, "minimal": 24, "low": 160, "medium": 480, "high": 1_200, "xhigh": 2_400, "max": 4_800}
# The refusal text recorded from the live API in openai-python's test suite
# (tests/lib/chat/test_completions.py, test_parse_pydantic_model_refusal).
REFUSAL = "I'm very sorry, but I can't assist with that request."
DEFAULT_HEADINGS = ("Overview", "Key ideas", "Worked example", "Practice")
PREAMBLE = "Sure! Here is the lesson:\n\n"
SIGN_OFF = "\n\nLet me know if you'd like any changes!"

_VERBS = ("filter", "join", "summarise", "inspect", "compare", "clean", "group", "query", "sort", "validate")
_OBJECTS = (
    "the rows of a table",
    "a column of dates",
    "the records you care about",
    "two related tables",
    "the raw data",
    "a sample of results",
    "the published dataset",
    "a list of categories",
)
_CHECKS = ("the column types", "missing values", "the row count", "the join keys", "the units of each column")
_HABITS = (
    "naming things clearly",
    "testing on a small sample first",
    "writing down your assumptions",
    "reading the output carefully",
    "keeping queries short",
)
_SENTENCES = (
    "This part is about how to {verb} {object} with confidence.",
    "Start by looking at {object} and ask what it tells you.",
    "A common mistake is to {verb} {object} before checking {check}.",
    "In practice you will {verb} {object} many times, so build a habit of {habit}.",
    "Keep a short note of {check}; it saves time when you {verb} {object} later.",
    "When a result looks surprising, {verb} {object} again with {check} in mind.",
    "Experienced analysts rely on {habit} at this point.",
    "The ideas in \"{heading}\" come back in almost every later lesson.",
)
_TABLES = ("datasets", "publishers", "resources", "downloads", "agencies")
_COLUMNS = ("region", "category", "format", "year", "publisher")
_GLOSSARY = (
    ("row", "one record in a table"),
    ("column", "one attribute shared by every row"),
    ("key", "a value that identifies a row"),
    ("filter", "a condition that keeps only some rows"),
    ("aggregate", "a value computed from many rows"),
    ("join", "a way to combine rows from two tables"),
)

# The shortest prefix the API caches (openai.com/index/api-prompt-caching: "prompts longer than
# 1,024 tokens", cached in 128-token steps from there).
PROMPT_CACHE_MIN_TOKENS = 1024


@dataclass(frozen=True)
class Quirks:
    """Misbehaviours to apply to one answer (set by the scenario's per-custom_id faults)."""

    truncate: bool = False  # ran out of tokens while reasoning: empty content, finish_reason "length"
    fence: bool = False  # lesson wrapped in a ```markdown fence
    preamble: bool = False  # chatty sentence before and after the lesson
    refusal: bool = False  # content null, message.refusal set, finish_reason "stop"


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int | None = None  # None: the model does not report cache writes

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_api(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens, "audio_tokens": 0,
                **({} if self.cache_write_tokens is None else {"cache_write_tokens": self.cache_write_tokens}),
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def approx_tokens(text: str) -> int:
    """Roughly how many tokens ``text`` is: one per four characters."""
    return (len(text) + 3) // 4


def model_rules(model: str) -> ModelSpec:
    """The catalogue's rules for ``model``; an id the catalogue does not know follows the added-model rule."""
    return spec_for(model) or rules_for_added_model(model)


def is_reasoning_model(model: str) -> bool:
    return model_rules(model).reasoning


def reasoning_tokens(body: dict, seed: str) -> int:
    """How many tokens the model reasons for on ``body``: by the effort in force (0 for ``none``)."""
    effort = model_rules(str(body.get("model", ""))).effort_in_force(body.get("reasoning_effort"))
    base = REASONING_BASE.get(effort, 0) if effort else 0
    return base + base * (int(seed[:4], 16) % 16) // 16


def token_budget(body: dict) -> int:
    """The most completion tokens (reasoning included) the request may use."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return model_rules(str(body.get("model", ""))).max_output_tokens


def message_text(message: dict) -> str:
    """The text of one chat message, whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def system_text(body: dict) -> str:
    """All system and developer instructions of the request, joined."""
    return "\n".join(message_text(m) for m in _messages(body) if m.get("role") in ("system", "developer"))


def user_text(body: dict) -> str:
    return "\n".join(message_text(m) for m in _messages(body) if m.get("role") == "user")


def lesson_title(body: dict, fallback: str) -> str:
    match = TITLE_LINE.search(user_text(body))
    return match.group(1) if match else fallback


def requested_headings(body: dict) -> list[str]:
    """Every ``## Heading`` line of the system messages, in order, each once."""
    headings: list[str] = []
    for heading in HEADING_LINE.findall(system_text(body)):
        if heading not in headings:
            headings.append(heading)
    return headings


def request_seed(body: dict) -> str:
    """A stable hex digest of the request body: the seed of everything random about it.

    ``service_tier`` is left out: the same body sent through a batch or with flex gets the same answer.
    """
    content = {key: value for key, value in body.items() if key != "service_tier"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_lesson(body: dict, *, fallback_title: str, lesson_bytes: int = 2000) -> str:
    """A Markdown lesson answering ``body`` (see the module docstring for its shape)."""
    rng = random.Random(request_seed(body))
    title = lesson_title(body, fallback_title)
    headings = requested_headings(body) or list(DEFAULT_HEADINGS)
    example_index = _example_section(headings)

    paragraphs = [[_paragraph(rng, heading), _paragraph(rng, heading)] for heading in headings]
    example = [_sql_block(rng), _glossary_table(rng)]

    # Grow the lesson one paragraph at a time, round-robin over the sections, to the target size.
    size = len(_assemble(title, headings, paragraphs, example_index, example))
    added = 0
    while size < lesson_bytes:
        section = added % len(headings)
        paragraph = _paragraph(rng, headings[section])
        paragraphs[section].append(paragraph)
        size += len(paragraph) + 2
        added += 1
    return _assemble(title, headings, paragraphs, example_index, example)


def _assemble(
    title: str, headings: list[str], paragraphs: list[list[str]], example_index: int, example: list[str]
) -> str:
    parts = [f"# {title}"]
    for index, heading in enumerate(headings):
        parts.append(f"## {heading}")
        parts.extend(paragraphs[index])
        if index == example_index:
            parts.extend(example)
    return "\n\n".join(parts) + "\n"


def chat_completion(
    body: dict,
    *,
    custom_id: str,
    created: int,
    lesson_bytes: int = 2000,
    quirks: Quirks = Quirks(),
    prefix_cached: bool = False,
    service_tier: str = "default",
) -> tuple[dict, TokenUsage]:
    """The ``chat.completion`` object answering ``body``, and its token usage.

    ``prefix_cached`` says an earlier request in the same batch had the same system prompt,
    so this one's system-prompt tokens count as cached; ``service_tier`` is the tier the
    answer says it was served at.
    """
    seed = request_seed(body)
    model = str(body.get("model", ""))
    prompt_tokens = sum(approx_tokens(message_text(m)) + 4 for m in _messages(body)) + 3
    # Only a shared prefix of PROMPT_CACHE_MIN_TOKENS or more is cached (OpenAI: caching applies
    # to prompts longer than 1,024 tokens); here the shared prefix is the system prompt.
    prefix = min(prompt_tokens, approx_tokens(system_text(body)))
    cacheable = prefix if prefix >= PROMPT_CACHE_MIN_TOKENS else 0
    cached_tokens = cacheable if prefix_cached else 0
    # A model that reports cache writes (GPT-5.6 and later): the first request with a system prompt
    # writes it to the cache; the later ones read it instead.
    written = None
    if model_rules(model).cache_writes:
        written = 0 if prefix_cached else cacheable
    budget = token_budget(body)
    reasoning = min(reasoning_tokens(body, seed), budget)
    refusal = None

    if quirks.truncate or reasoning >= budget:
        content, finish_reason = "", "length"
        usage = TokenUsage(prompt_tokens, cached_tokens, completion_tokens=budget, reasoning_tokens=budget,
                           cache_write_tokens=written)
    else:
        if quirks.refusal:
            content, refusal = None, REFUSAL
            answer = REFUSAL
        else:
            content = write_lesson(body, fallback_title=custom_id, lesson_bytes=lesson_bytes)
            if quirks.fence:
                content = f"```markdown\n{content}```"
            if quirks.preamble:
                content = f"{PREAMBLE}{content}{SIGN_OFF}"
            answer = content
        finish_reason = "stop"
        answer_tokens = approx_tokens(answer)
        if reasoning + answer_tokens > budget:  # the budget runs out mid-answer
            answer_tokens = budget - reasoning
            content = answer[: answer_tokens * 4] if content is not None else None
            refusal = answer[: answer_tokens * 4] if refusal is not None else None
            finish_reason = "length"
        usage = TokenUsage(prompt_tokens, cached_tokens, answer_tokens + reasoning, reasoning, written)

    completion = {
        "id": f"chatcmpl-{seed[:29]}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage.to_api(),
        "service_tier": service_tier,
        "system_fingerprint": None,
    }
    return completion, usage


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _example_section(headings: list[str]) -> int:
    """Where the code block and table go: a section that sounds like an example, else the middle one."""
    for index, heading in enumerate(headings):
        if re.search(r"example|practice|sql|code|query|exercise", heading, re.IGNORECASE):
            return index
    return len(headings) // 2


def _paragraph(rng: random.Random, heading: str) -> str:
    sentences = []
    for template in rng.sample(_SENTENCES, 3):
        sentence = template.format(
            heading=heading,
            verb=rng.choice(_VERBS),
            object=rng.choice(_OBJECTS),
            check=rng.choice(_CHECKS),
            habit=rng.choice(_HABITS),
        )
        sentences.append(sentence)
    return " ".join(sentences)


def _sql_block(rng: random.Random) -> str:
    table, column = rng.choice(_TABLES), rng.choice(_COLUMNS)
    limit = rng.choice((5, 10, 20))
    return (
        "```sql\n"
        f"SELECT {column}, COUNT(*) AS total\n"
        f"FROM {table}\n"
        f"WHERE {column} IS NOT NULL\n"
        f"GROUP BY {column}\n"
        "ORDER BY total DESC\n"
        f"LIMIT {limit};\n"
        "```"
    )


def _glossary_table(rng: random.Random) -> str:
    rows = rng.sample(_GLOSSARY, 3)
    lines = ["| Term | Meaning |", "| --- | --- |"]
    lines += [f"| {term} | {meaning} |" for term, meaning in rows]
    return "\n".join(lines)
