"""The fake server's Responses API (``POST /v1/responses``, directly and as batch lines).

A Responses request is checked here, with the API's messages, then answered by the same fake
model as a chat request: ``chat_view`` reads the body as the chat request it amounts to
(``instructions`` as the system message, ``input`` as the user message(s), ``max_output_tokens``
as the budget, ``reasoning.effort`` as the effort), and ``response_object`` puts the answer in the
shape of a ``response`` object. So the same lesson, faults and token counts apply on both APIs.

Shapes, as the installed openai 3.63 types them (``types/responses/response.py``,
``response_output_message.py``, ``response_output_text.py``, ``response_output_refusal.py``,
``response_reasoning_item.py``, ``response_usage.py``: ``input_tokens_details`` holds
``cached_tokens`` and ``cache_write_tokens``, both required), and as the real batch lines of
``real_batch_lines/round2/responses_output.jsonl`` show them (``status``, ``incomplete_details``,
``billing``, ``completed_at``, ``logprobs`` in the text part):

* a finished answer: ``status: "completed"``, a ``message`` item with one ``output_text`` part;
* a reasoning model's answer starts with a ``reasoning`` item (no summary asked for);
* out of output tokens: ``status: "incomplete"``, ``incomplete_details: {"reason":
  "max_output_tokens"}``, the message (if any text came) ``status: "incomplete"``;
* a refusal: a ``refusal`` part instead of ``output_text``.

Checks (in this order), with the API's messages where a public source quotes them:

* a Chat Completions parameter: 400 ``unsupported_parameter``, param null, "Unsupported parameter:
  'messages'. In the Responses API, this parameter has moved to 'input'. Try again with the new
  parameter." (the API's wording, quoted in several public issues and test suites for 'messages',
  'max_completion_tokens' and 'response_format');
* no ``model``: 400 ``missing_required_parameter``; unknown or gone: 404 ``model_not_found``;
* ``max_output_tokens`` below 16: 400 ``integer_below_min_value`` "Invalid 'max_output_tokens':
  integer below minimum value. Expected a value >= 16, but got 10 instead." (quoted in
  vectorize-io/hindsight issue #58); above the model's maximum: 400, worded by the fake after the
  chat message;
* ``reasoning.effort``, ``temperature``, ``service_tier``: as on Chat Completions, the param named
  ``reasoning.effort`` (worded by the fake after the chat messages).
"""

from __future__ import annotations

from typing import Any

from .catalog import ModelSpec
from .checks import _check_effort, _check_service_tier, _check_temperature, model_not_found
from .errors import ApiError, bad_request, missing_parameter
from .model import TokenUsage, message_text, model_rules

MIN_OUTPUT_TOKENS = 16
# Chat Completions parameters and where the Responses API has them.
MOVED = {
    "messages": "input",
    "max_completion_tokens": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "reasoning_effort": "reasoning.effort",
    "response_format": "text.format",
}


def check_responses_body(body: dict, spec: ModelSpec | None) -> None:
    """Raise the API's ``ApiError`` for a ``/v1/responses`` ``body`` sent to ``spec`` (None: unknown or gone)."""
    for name, moved_to in MOVED.items():
        if name in body:
            message = (
                f"Unsupported parameter: '{name}'. In the Responses API, this parameter has moved to "
                f"'{moved_to}'. Try again with the new parameter."
            )
            raise ApiError(400, message, code="unsupported_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise missing_parameter("model")
    if spec is None:
        raise model_not_found(model)
    budget = body.get("max_output_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool):
        if budget < MIN_OUTPUT_TOKENS:
            message = (
                f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= {MIN_OUTPUT_TOKENS}, "
                f"but got {budget} instead."
            )
            raise bad_request(message, "max_output_tokens", "integer_below_min_value")
        if budget > spec.max_output_tokens:
            message = (
                f"max_output_tokens is too large: {budget}. This model supports at most {spec.max_output_tokens} "
                f"output tokens, whereas you provided {budget}."
            )
            raise bad_request(message, "max_output_tokens")
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    in_force = _check_effort(effort, spec, model, param="reasoning.effort")
    _check_temperature(body.get("temperature"), spec, in_force)
    _check_service_tier(body.get("service_tier"), spec)


def chat_view(body: dict) -> dict:
    """The chat request a Responses body amounts to, for the fake model (see the module docstring)."""
    messages: list[dict] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if isinstance(item, dict) and item.get("role") in ("system", "developer", "user"):
                messages.append({"role": item["role"], "content": _input_text(item.get("content"))})
    view: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_output_tokens"), int):
        view["max_completion_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        view["reasoning_effort"] = reasoning["effort"]
    for name in ("temperature", "service_tier"):
        if name in body:
            view[name] = body[name]
    return view


def _input_text(content: Any) -> str:
    if isinstance(content, list):  # input_text parts
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return message_text({"content": content})


def response_object(body: dict, completion: dict, usage: TokenUsage, *, created: int) -> dict:
    """The ``response`` object for ``body``, from the fake model's ``chat.completion`` answer to its ``chat_view``."""
    choice = completion["choices"][0]
    message, finish_reason = choice["message"], choice["finish_reason"]
    seed = completion["id"].removeprefix("chatcmpl-")
    incomplete = {"reason": "max_output_tokens"} if finish_reason == "length" else None
    output: list[dict] = []
    if usage.reasoning_tokens:
        output.append({"id": f"rs_{seed}", "type": "reasoning", "summary": []})
    parts: list[dict] = []
    if message["content"]:
        parts.append({"type": "output_text", "annotations": [], "logprobs": [], "text": message["content"]})
    if message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        output.append({
            "id": f"msg_{seed}", "type": "message", "status": "incomplete" if incomplete else "completed",
            "content": parts, "role": "assistant",
        })
    model = str(body.get("model", ""))
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    return {
        "id": f"resp_{seed}",
        "object": "response",
        "created_at": created,
        "status": "incomplete" if incomplete else "completed",
        "background": False,
        "billing": {"payer": "developer"},
        "completed_at": None if incomplete else created,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": model_rules(model).effort_in_force(reasoning.get("effort")), "summary": None},
        "service_tier": completion["service_tier"],
        "store": True,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {
                "cached_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens or 0,
            },
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens,
        },
        "user": None,
        "metadata": {},
    }
