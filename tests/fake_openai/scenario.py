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
        "token_limit"               # a bare string is short for {"outcome": ...}
      ],
      "default_outcome": "complete",# for batches past the end of "batches"
      "faults": {
        "fail_400": ["id-1"],       # per custom_id; a list faults every time, a dict
        "fail_500": {"id-2": 1},    #   {custom_id: n} only the first n times it is run
        "truncate": [], "fence": [], "preamble": [],
        "upload_503": 0,            # the first n uploads answer 503
        "content_503": 0,           # the first n GET /v1/files/{id}/content answer 503
        "create_429": 0,            # the first n POST /v1/batches answer 429
        "retrieve_503": 0,          # the first n GET /v1/batches/{id} answer 503
        "retry_after_ms": 5,        # `retry-after-ms` header on those transient errors
        "slow_ms": 0                # delay before every response
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

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

BATCH_ID_ORDERS = ("random", "ascending", "descending")
OUTCOMES = ("complete", "expire", "fail_validation", "token_limit", "stuck", "no_output_file")
CUSTOM_ID_FAULTS = ("fail_400", "fail_500", "truncate", "fence", "preamble")
TRANSIENT_FAULTS = ("upload_503", "content_503", "create_429", "retrieve_503")

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
    upload_503: int = 0
    content_503: int = 0
    create_429: int = 0
    retrieve_503: int = 0
    slow_ms: int = 0
    retry_after_ms: int = 5


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
            raise ScenarioError(f"scenario.batch_id_order must be one of {', '.join(BATCH_ID_ORDERS)}, not {id_order!r}")
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
    )


def _parse_faults(data: Any) -> Faults:
    if not isinstance(data, dict):
        raise ScenarioError("scenario.faults must be an object")
    _reject_unknown(data, _field_names(Faults), "scenario.faults")
    by_custom_id = {name: _custom_id_counts(data.get(name), f"scenario.faults.{name}") for name in CUSTOM_ID_FAULTS}
    return Faults(
        **by_custom_id,
        **{name: _int(data, name, 0, minimum=0) for name in TRANSIENT_FAULTS},
        slow_ms=_int(data, "slow_ms", 0, minimum=0),
        retry_after_ms=_int(data, "retry_after_ms", 5, minimum=0),
    )


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
