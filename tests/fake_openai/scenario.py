"""What the fake OpenAI server should do: the scenario, parsed from plain JSON.

A scenario is the one knob panel of the fake server. It is written as JSON (a file passed
with ``--scenario``, a dict given to ``FakeOpenAIServer.set_scenario()``, or the body of
``POST /_control/scenario``) and parsed here into frozen dataclasses, so the rest of the
server reads typed fields instead of poking into dicts. Parsing is strict: an unknown key
or a value of the wrong kind raises ``ScenarioError`` at once, because a typo in a test's
scenario would otherwise silently test the default behaviour.

Every key is optional; an empty ``{}`` is a well-behaved server that completes every batch.

    {
      "advance": "poll",            # "poll": one step per `polls_per_step` GET /v1/batches/{id}
                                    # "time": one step per `seconds_per_step` of wall time
      "polls_per_step": 1,
      "seconds_per_step": 0.05,
      "in_progress_steps": 2,       # steps a batch spends in_progress (request_counts grow)
      "valid_api_keys": null,       # null: any non-empty key; a list: only these keys
      "max_requests_per_batch": 50000,
      "max_file_bytes": 209715200,
      "lesson_bytes": 2000,         # rough size of each fake lesson
      "same_second_batches": false, # true: every batch gets the created_at of the first one
      "batch_id_order": "random",   # batch ids vs creation order: "random", "ascending", "descending"
      "batches": [                  # outcome of the 1st, 2nd, ... batch created
        {"outcome": "complete"},
        {"outcome": "expire", "done_fraction": 0.5},
        {"outcome": "complete", "usage_extra": {"input_tokens": 500}},  # usage: 500 input tokens more than its lines
        "token_limit"               # a bare string is short for {"outcome": ...}
      ],
      "default_outcome": "complete",# for batches past the end of "batches"
      "today": null,                # "YYYY-MM-DD" for model lifecycles; null: the real (UTC) date
      "models": {                   # override the model table (by id, else by family):
        "gpt-5-mini": null,         #   unknown from now on
        "gpt-6.1-terra": {"shutdown_date": "2026-12-03"},
        "gpt-7": {"like": "gpt-5.1", "flex": false}   # added, with gpt-5.1's rules
      },
      "batch_list_order": "newest_first",  # or "oldest_first", "shuffled"
      "faults": {
        "fail_400": ["id-1"],       # per custom_id (or a chat request's lesson id); a list
        "fail_500": {"id-2": 1},    #   faults every time, a dict {id: n} only the first n times
        "truncate": [], "fence": [], "preamble": [], "refusal": [], "wrong_tier": [],
        "wrong_tier_value": null,   # the tier wrong_tier answers with (null: see README)
        "upload_503": 0,            # the first n uploads answer 503
        "content_503": 0,           # the first n GET /v1/files/{id}/content answer 503
        "cut_download": 0,          # the next n downloads drop the connection halfway
        "create_429": 0,            # the first n POST /v1/batches answer 429
        "retrieve_503": 0,          # the first n GET /v1/batches/{id} answer 503
        "retry_after_ms": 5,        # `retry-after-ms` header on those transient errors
        "slow_ms": 0                # delay before every response
      },
      "flex": {                     # POST /v1/chat/completions with service_tier "flex"
        "latency_ms": 0,
        "capacity_429": 0,          # n, or {"every": n, "burst": m}
        "retry_after_s": 0,
        "served_tier": null,
        "unreadable": [],           # per lesson id (a list, or {id: n}): a 200 whose body has the
                                    #   usage but no choices (chat) / output (responses)
        "drop_connection": []       # per lesson id: the connection closes with no answer at all
      }
    }

Outcomes: ``complete``; ``expire`` (``done_fraction`` of the requests finish, the rest come
back as ``batch_expired``); ``fail_validation`` (the batch fails in validating with one error
line, ``error`` may override it); ``token_limit`` (fails with ``token_limit_exceeded``,
``enqueued_token_limit`` sets the number in the message); ``stuck`` (stays in_progress after
``done_fraction`` of the requests, default none); ``no_output_file`` (completes, but
``output_file_id`` stays null).
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

BATCH_ID_ORDERS = ("random", "ascending", "descending")
OUTCOMES = ("complete", "expire", "fail_validation", "token_limit", "stuck", "no_output_file")
CUSTOM_ID_FAULTS = ("fail_400", "fail_500", "truncate", "fence", "preamble", "refusal", "wrong_tier")
FLEX_LESSON_FAULTS = ("unreadable", "drop_connection")
FLEX_KEYS = ("latency_ms", "capacity_429", "retry_after_s", "served_tier", *FLEX_LESSON_FAULTS)
TRANSIENT_FAULTS = ("upload_503", "content_503", "create_429", "retrieve_503", "cut_download")
BATCH_LIST_ORDERS = ("newest_first", "oldest_first", "shuffled")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")  # openai's ChatCompletion literal
MODEL_OVERRIDE_KEYS = ("like", "shutdown_date", "flex")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

DEFAULT_FORCED_VALIDATION_ERROR = {
    "code": "invalid_json_line",
    "message": "This line is not parseable as valid JSON.",
    "param": None,
    "line": 1,
}


class ScenarioError(ValueError):
    """The scenario JSON has an unknown key or a value of the wrong kind."""


@dataclass(frozen=True)
class BatchPlan:
    """How one batch will end."""

    outcome: str = "complete"
    done_fraction: float | None = None  # expire: default 0.5; stuck: default 0.0
    error: dict | None = None  # fail_validation: the error line reported
    enqueued_token_limit: int = 2_000_000  # token_limit: the number quoted in the message
    # Tokens the batch's own ``usage`` counts beyond the sum of its answers (a bill that differs
    # from the lines): {"input_tokens": n, "output_tokens": m, ...}, counts of the Batch usage.
    usage_extra: Mapping[str, int] = field(default_factory=dict)

    def fraction_done(self) -> float:
        if self.done_fraction is not None:
            return self.done_fraction
        return 0.5 if self.outcome == "expire" else 0.0


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject: per-request faults by custom_id, and transient HTTP errors.

    Per-request faults map a custom_id to how many times it misbehaves (``None`` = always).
    """

    fail_400: Mapping[str, int | None] = field(default_factory=dict)
    fail_500: Mapping[str, int | None] = field(default_factory=dict)
    truncate: Mapping[str, int | None] = field(default_factory=dict)
    fence: Mapping[str, int | None] = field(default_factory=dict)
    preamble: Mapping[str, int | None] = field(default_factory=dict)
    refusal: Mapping[str, int | None] = field(default_factory=dict)
    wrong_tier: Mapping[str, int | None] = field(default_factory=dict)
    wrong_tier_value: str | None = None  # None: "priority" on a batch line, "default" on a chat request
    upload_503: int = 0
    content_503: int = 0
    create_429: int = 0
    retrieve_503: int = 0
    cut_download: int = 0
    slow_ms: int = 0
    retry_after_ms: int = 5


@dataclass(frozen=True)
class Flex:
    """How ``POST /v1/chat/completions`` behaves: latency, capacity refusals, the tier it serves."""

    latency_ms: int = 0  # delay before every chat answer (not before refusals)
    capacity_429: int = 0  # the first n chat requests get a capacity 429 ...
    capacity_every: int = 0  # ... or, if > 0, a burst of `capacity_burst` 429s after every n served
    capacity_burst: int = 0
    retry_after_s: float = 0  # `retry-after` (and `retry-after-ms`) on those 429s
    served_tier: str | None = None  # answer service_tier "flex" requests with this tier instead
    # Per lesson id, as the per-request faults (None: every time, n: the first n times):
    unreadable: Mapping[str, int | None] = field(default_factory=dict)  # 200, usage, nothing to read
    drop_connection: Mapping[str, int | None] = field(default_factory=dict)  # no HTTP answer at all


@dataclass(frozen=True)
class Scenario:
    """Everything the fake server can be told to do (see the module docstring)."""

    advance: str = "poll"
    polls_per_step: int = 1
    seconds_per_step: float = 0.05
    in_progress_steps: int = 2
    valid_api_keys: tuple[str, ...] | None = None
    max_requests_per_batch: int = 50_000
    max_file_bytes: int = 200 * 1024 * 1024
    lesson_bytes: int = 2000
    # The API's created_at is in whole seconds and its batch ids are random: several batches can
    # share a second, in any id order. These two make that happen on demand.
    same_second_batches: bool = False
    batch_id_order: str = "random"
    batches: tuple[BatchPlan, ...] = ()
    default_outcome: str = "complete"
    faults: Faults = field(default_factory=Faults)
    flex: Flex = field(default_factory=Flex)
    today: str | None = None  # "YYYY-MM-DD" the server lives in; None = the real (UTC) date
    models: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    batch_list_order: str = "newest_first"

    def current_date(self) -> str:
        """The server's "today" as "YYYY-MM-DD"."""
        return self.today or datetime.datetime.now(datetime.timezone.utc).date().isoformat()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Scenario":
        data = dict(data or {})
        _reject_unknown(data, _field_names(cls), "scenario")
        advance = data.get("advance", "poll")
        if advance not in ("poll", "time"):
            raise ScenarioError(f"scenario.advance must be 'poll' or 'time', not {advance!r}")
        valid_keys = data.get("valid_api_keys")
        if valid_keys is not None:
            if not isinstance(valid_keys, list) or not all(isinstance(k, str) for k in valid_keys):
                raise ScenarioError("scenario.valid_api_keys must be null or a list of strings")
            valid_keys = tuple(valid_keys)
        same_second = data.get("same_second_batches", False)
        if not isinstance(same_second, bool):
            raise ScenarioError(f"scenario.same_second_batches must be true or false, not {same_second!r}")
        id_order = data.get("batch_id_order", "random")
        if id_order not in BATCH_ID_ORDERS:
            raise ScenarioError(
                f"scenario.batch_id_order must be one of {', '.join(BATCH_ID_ORDERS)}, not {id_order!r}"
            )
        batches = data.get("batches", [])
        if not isinstance(batches, list):
            raise ScenarioError("scenario.batches must be a list")
        return cls(
            advance=advance,
            polls_per_step=_int(data, "polls_per_step", 1, minimum=1),
            seconds_per_step=_number(data, "seconds_per_step", 0.05, positive=True),
            in_progress_steps=_int(data, "in_progress_steps", 2, minimum=0),
            valid_api_keys=valid_keys,
            max_requests_per_batch=_int(data, "max_requests_per_batch", 50_000, minimum=1),
            max_file_bytes=_int(data, "max_file_bytes", 200 * 1024 * 1024, minimum=1),
            lesson_bytes=_int(data, "lesson_bytes", 2000, minimum=0),
            same_second_batches=same_second,
            batch_id_order=id_order,
            batches=tuple(_parse_plan(item, f"scenario.batches[{i}]") for i, item in enumerate(batches)),
            default_outcome=_outcome(data.get("default_outcome", "complete"), "scenario.default_outcome"),
            faults=_parse_faults(data.get("faults") or {}),
            flex=_parse_flex(data.get("flex") or {}),
            today=_date_or_none(data.get("today"), "scenario.today"),
            models=_parse_models(data.get("models") or {}),
            batch_list_order=_choice(data, "batch_list_order", BATCH_LIST_ORDERS),
        )

    def plan_for(self, creation_index: int) -> BatchPlan:
        """The plan of the batch created ``creation_index``-th (0-based) under this scenario."""
        if creation_index < len(self.batches):
            return self.batches[creation_index]
        return BatchPlan(outcome=self.default_outcome)

    def to_dict(self) -> dict:
        """The scenario as JSON-ready data (what ``GET /_control/scenario`` shows)."""
        data = asdict(self)
        data["valid_api_keys"] = list(self.valid_api_keys) if self.valid_api_keys is not None else None
        data["batches"] = [asdict(plan) for plan in self.batches]
        data["faults"] = {
            name: (dict(value) if isinstance(value, Mapping) else value)
            for name, value in asdict(self.faults).items()
        }
        data["models"] = {key: dict(value) if value is not None else None for key, value in self.models.items()}
        flex = self.flex
        capacity = flex.capacity_429
        if flex.capacity_every:
            capacity = {"every": flex.capacity_every, "burst": flex.capacity_burst}
        data["flex"] = {
            "latency_ms": flex.latency_ms,
            "capacity_429": capacity,
            "retry_after_s": flex.retry_after_s,
            "served_tier": flex.served_tier,
            "unreadable": dict(flex.unreadable),
            "drop_connection": dict(flex.drop_connection),
        }
        return data


def load_scenario_file(path: str | Path) -> Scenario:
    """Read a scenario from a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return Scenario.from_dict(json.load(handle))


def _parse_plan(item: Any, where: str) -> BatchPlan:
    if isinstance(item, str):
        item = {"outcome": item}
    if not isinstance(item, dict):
        raise ScenarioError(f"{where} must be an object or an outcome name")
    _reject_unknown(item, _field_names(BatchPlan), where)
    fraction = item.get("done_fraction")
    if fraction is not None and not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
        raise ScenarioError(f"{where}.done_fraction must be a number from 0 to 1")
    error = item.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise ScenarioError(f"{where}.error must be an object")
        error = {**DEFAULT_FORCED_VALIDATION_ERROR, **error}
    return BatchPlan(
        outcome=_outcome(item.get("outcome", "complete"), f"{where}.outcome"),
        done_fraction=float(fraction) if fraction is not None else None,
        error=error,
        enqueued_token_limit=_int(item, "enqueued_token_limit", 2_000_000, minimum=0),
        usage_extra=_usage_extra(item.get("usage_extra"), f"{where}.usage_extra"),
    )


USAGE_EXTRA_KEYS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")


def _usage_extra(data: Any, where: str) -> dict[str, int]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{where} must be an object")
    _reject_unknown(data, set(USAGE_EXTRA_KEYS), where)
    return {name: _int(data, name, 0, minimum=0) for name in USAGE_EXTRA_KEYS if name in data}


def _parse_faults(data: Any) -> Faults:
    if not isinstance(data, dict):
        raise ScenarioError("scenario.faults must be an object")
    _reject_unknown(data, _field_names(Faults), "scenario.faults")
    by_custom_id = {name: _custom_id_counts(data.get(name), f"scenario.faults.{name}") for name in CUSTOM_ID_FAULTS}
    return Faults(
        **by_custom_id,
        wrong_tier_value=_tier_or_none(data.get("wrong_tier_value"), "scenario.faults.wrong_tier_value"),
        **{name: _int(data, name, 0, minimum=0) for name in TRANSIENT_FAULTS},
        slow_ms=_int(data, "slow_ms", 0, minimum=0),
        retry_after_ms=_int(data, "retry_after_ms", 5, minimum=0),
    )


def _parse_flex(data: Any) -> Flex:
    if not isinstance(data, dict):
        raise ScenarioError("scenario.flex must be an object")
    _reject_unknown(data, set(FLEX_KEYS), "scenario.flex")
    capacity = data.get("capacity_429", 0)
    first = every = burst = 0
    if isinstance(capacity, dict):
        _reject_unknown(capacity, {"every", "burst"}, "scenario.flex.capacity_429")
        every = _int(capacity, "every", 1, minimum=1)
        burst = _int(capacity, "burst", 1, minimum=1)
    elif _is_count(capacity):
        first = capacity
    else:
        raise ScenarioError("scenario.flex.capacity_429 must be a count or an object {\"every\": n, \"burst\": m}")
    retry_after = data.get("retry_after_s", 0)
    if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool) or retry_after < 0:
        raise ScenarioError(f"scenario.flex.retry_after_s must be a number >= 0; got {retry_after!r}")
    return Flex(
        latency_ms=_int(data, "latency_ms", 0, minimum=0),
        capacity_429=first,
        capacity_every=every,
        capacity_burst=burst,
        retry_after_s=retry_after,
        served_tier=_tier_or_none(data.get("served_tier"), "scenario.flex.served_tier"),
        **{name: _custom_id_counts(data.get(name), f"scenario.flex.{name}") for name in FLEX_LESSON_FAULTS},
    )


def _parse_models(data: Any) -> dict[str, dict | None]:
    if not isinstance(data, dict):
        raise ScenarioError("scenario.models must be an object {model_id: {...} or null}")
    models: dict[str, dict | None] = {}
    for model_id, override in data.items():
        where = f"scenario.models[{model_id!r}]"
        if override is None:
            models[model_id] = None
            continue
        if not isinstance(override, dict):
            raise ScenarioError(f"{where} must be an object or null")
        _reject_unknown(override, set(MODEL_OVERRIDE_KEYS), where)
        if "like" in override and not isinstance(override["like"], str):
            raise ScenarioError(f"{where}.like must be a model id")
        if "shutdown_date" in override:
            _date_or_none(override["shutdown_date"], f"{where}.shutdown_date")
        if "flex" in override and not isinstance(override["flex"], bool):
            raise ScenarioError(f"{where}.flex must be true or false")
        models[model_id] = dict(override)
    return models


def _date_or_none(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ScenarioError(f"{where} must be a date \"YYYY-MM-DD\" or null; got {value!r}")
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ScenarioError(f"{where} is not a real date: {value!r}") from None
    return value


def _tier_or_none(value: Any, where: str) -> str | None:
    if value is not None and value not in SERVICE_TIERS:
        raise ScenarioError(f"{where} must be null or one of {', '.join(SERVICE_TIERS)}; got {value!r}")
    return value


def _choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = data.get(key, choices[0])
    if value not in choices:
        raise ScenarioError(f"scenario.{key} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _custom_id_counts(value: Any, where: str) -> dict[str, int | None]:
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return {custom_id: None for custom_id in value}
    if isinstance(value, dict) and all(count is None or _is_count(count) for count in value.values()):
        return dict(value)
    raise ScenarioError(f"{where} must be a list of custom_ids or an object {{custom_id: times or null}}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _outcome(value: Any, where: str) -> str:
    if value not in OUTCOMES:
        raise ScenarioError(f"{where} must be one of {', '.join(OUTCOMES)}; got {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ScenarioError(f"{key} must be an integer >= {minimum}; got {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str, default: float, *, positive: bool) -> float:
    value = data.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or (positive and value <= 0):
        raise ScenarioError(f"{key} must be a positive number; got {value!r}")
    return float(value)


def _field_names(cls: type) -> set[str]:
    return set(cls.__dataclass_fields__)


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"unknown key(s) in {where}: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
