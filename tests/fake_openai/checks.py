"""Per-request checks of a chat-completions body, as the API makes them, with the API's messages.

The same checks run on every line of a batch when it runs (a failing line gets an error-file
line with that status and body; the batch still completes) and on every direct
``POST /v1/chat/completions`` (the request itself gets the error). They ask the server's own
``catalog`` (with the scenario's ``models`` overrides and "today") about the model.

Messages, as the API words them (checked 2026-12-02 with the search tools):

* unknown or gone model: 404 ``model_not_found`` "The model `X` does not exist or you do not
  have access to it." (OpenAI's wording quoted in skorokithakis/sysaidmin issue #6);
* ``max_tokens`` on a reasoning model: 400 ``unsupported_parameter`` "Unsupported parameter:
  'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
  (griptape-ai/ComfyUI-Griptape issue #312);
* an effort the model does not take: 400 ``unsupported_value``, param ``reasoning_effort``,
  "Unsupported value: 'minimal' is not supported with the 'gpt-5.1' model. Supported values
  are: 'none', 'low', 'medium', and 'high'." (anomalyco/opencode issue #4451);
* temperature: 400 ``unsupported_value`` "Unsupported value: 'temperature' does not support 0.2
  with this model. Only the default (1) value is supported." (BeehiveInnovations/pal-mcp-server
  issue #78); the fake uses it too for gpt-5.1+ with an effort other than ``none`` (that
  case's exact wording was not found);
* a budget above the model's max output: 400 "max_tokens is too large: 32000. This model
  supports at most 16384 completion tokens, whereas you provided 32000." (enoch3712/
  ExtractThinker issue #346; ``code`` null), worded with the parameter actually sent.

A Responses-only model on Chat Completions: 404, param ``model``, code null, "This model is only
supported in v1/responses and not in v1/chat/completions." (the API's wording as kept in several
public test suites, e.g. the 404 bodies listed by a Go proxy's routing tests).

Not found in any source, so worded by the fake after the API's patterns: ``reasoning_effort``
on a non-reasoning model ("Unsupported parameter: 'reasoning_effort' is not supported with
this model.") and ``service_tier: "flex"`` on a model without flex ("Unsupported value:
'service_tier' does not support 'flex' with this model."; OpenAI's flex guide only says such
a request gets a 400 and is not served at standard).
"""

from __future__ import annotations

from typing import Any

from .catalog import ALL_EFFORTS, ModelSpec
from .errors import ApiError, bad_request, invalid_value, missing_parameter
from .scenario import SERVICE_TIERS


def model_not_found(model: str) -> ApiError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return ApiError(404, message, code="model_not_found")


def check_chat_body(body: dict, spec: ModelSpec | None) -> None:
    """Raise the API's ``ApiError`` for ``body`` sent to ``spec`` (None: the model is unknown or gone)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise missing_parameter("model")
    if spec is None:
        raise model_not_found(model)
    if spec.responses_only:
        message = "This model is only supported in v1/responses and not in v1/chat/completions."
        raise ApiError(404, message, param="model")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise missing_parameter("messages")
    _check_budget(body, spec)
    effort = _check_effort(body.get("reasoning_effort"), spec, model)
    _check_temperature(body.get("temperature"), spec, effort)
    _check_service_tier(body.get("service_tier"), spec)


def _check_budget(body: dict, spec: ModelSpec) -> None:
    if spec.reasoning and body.get("max_tokens") is not None:
        raise bad_request(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > spec.max_output_tokens:
            raise bad_request(
                f"{name} is too large: {value}. This model supports at most {spec.max_output_tokens} "
                f"completion tokens, whereas you provided {value}.",
                name,
            )


def _check_effort(requested: Any, spec: ModelSpec, model: str, param: str = "reasoning_effort") -> str | None:
    """The effort in force once ``requested`` is accepted (``param``: where the request holds it)."""
    if requested is None:
        return spec.effort_in_force(None)
    if requested not in ALL_EFFORTS:
        raise bad_request(invalid_value(requested, ALL_EFFORTS), param, "invalid_value")
    if not spec.reasoning:
        message = f"Unsupported parameter: '{param}' is not supported with this model."
        raise bad_request(message, param, "unsupported_parameter")
    if requested not in spec.efforts:
        message = (
            f"Unsupported value: '{requested}' is not supported with the '{model}' model. "
            f"Supported values are: {_listed(spec.efforts)}."
        )
        raise bad_request(message, param, "unsupported_value")
    return requested


def _check_temperature(temperature: Any, spec: ModelSpec, effort: str | None) -> None:
    if temperature is None or temperature == 1 or spec.accepts_temperature(effort):
        return
    message = (
        f"Unsupported value: 'temperature' does not support {temperature} with this model. "
        "Only the default (1) value is supported."
    )
    raise bad_request(message, "temperature", "unsupported_value")


def _check_service_tier(tier: Any, spec: ModelSpec) -> None:
    if tier is None:
        return
    if tier not in SERVICE_TIERS:
        raise bad_request(invalid_value(tier, SERVICE_TIERS), "service_tier", "invalid_value")
    if tier == "flex" and not spec.flex:
        message = "Unsupported value: 'service_tier' does not support 'flex' with this model."
        raise bad_request(message, "service_tier", "unsupported_value")


def _listed(values: tuple[str, ...]) -> str:
    """``'none', 'low', 'medium', and 'high'``: the API's way of listing accepted values."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) < 3:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]
