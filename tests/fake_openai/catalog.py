"""The fake server's own model table: which models exist, and the rules each one enforces.

This table is the local server's picture of OpenAI's models. It is deliberately separate from
the product's catalogue (the server never imports ``lesson_batch``): when both are written from
the sources, a test checks the product against what the API does, not against itself.

Checked on 2026-12-02 against:

* the installed ``openai`` package 3.57: ``types/shared/chat_model.py`` (model ids and the
  announced shutdown dates in its "Deprecated values" note), ``types/model.py`` (the Model
  object: ``id``, ``created``, ``object: "model"``, ``owned_by``, ``shutdown_date: Optional[str]``),
  ``types/shared/reasoning_effort.py`` (``none, minimal, low, medium, high, xhigh, max``);
* OpenAI model pages (developers.openai.com/api/docs/models/...): gpt-6-sol (efforts none..max,
  medium default, 128,000 max output), gpt-6-luna (same; "Batch and Flex cost 50% of Standard"),
  gpt-5.6-luna (none..max, medium default, 128,000);
* third-party copies of OpenAI's pages and launch notes for gpt-6.1-terra (apidog.com, LiteLLM
  blog: efforts none..max, medium default, 128K output, "Batch and Flex: 50% off"), gpt-6.1-sol
  (apidog.com: "does not accept none or minimal", Batch/Flex/Fast tiers), gpt-6-astra and
  gpt-6.1-sol (docs.oxen.ai, docs.comfy.org: low..max, medium default), gpt-5.5 (docs.comfy.org:
  none..xhigh, medium default), gpt-5.4 (replicate.com: none (default)..xhigh), gpt-5.2
  (docs.oxen.ai: none..xhigh, 128,000 output), gpt-4o (API error "This model supports at most
  16384 completion tokens", ExtractThinker issue #346);
* the API's own error for gpt-5.1 (anomalyco/opencode issue #4451): "Supported values are:
  'none', 'low', 'medium', and 'high'"; for gpt-5-mini (microsoft/vscode issue #300649):
  "'minimal', 'low', 'medium', and 'high'";
* temperature: OpenAI's deployment checklist ("When reasoning effort is not none, remove
  temperature ..."), BerriAI/litellm PR #17011 (gpt-5.1 takes temperature with effort none);
* flex: OpenAI's flex guide ("limited model availability. Supported models are listed on the
  pricing page"), codex issue #31562 (docs show gpt-5.5 with flex), flexinference.mintlify.app
  (flex on gpt-5.5, gpt-5.4 (+mini, nano), gpt-5.2, gpt-5.1, gpt-5 (+mini, nano), o3, o4-mini),
  SRAgent PR #25 (no flex for gpt-4.1-mini);
* Responses-only models (``responses_only``: Chat Completions answers 404): OpenAI's gpt-5.4-pro page
  (developers.openai.com/api/docs/models/gpt-5.4-pro, read 2026-12-07: "available in the Responses
  API only", reasoning.effort medium (default), high, xhigh; 128,000 max output; released
  2026-03-05, the date of its snapshot id ``gpt-5.4-pro-2026-03-05``).

Brought up to date on 2026-12-07 (issue 22) against the installed ``openai`` 3.63.0 and OpenAI's
pages: gpt-6.2-sol and gpt-6.2-astra (released 2026-11-17, both in ``ChatModel``; efforts low..max
with ``none`` rejected, "The API rejects requests that set reasoning effort to none" on the
gpt-6.2-sol page; 128,000 max output; flex not stated on either page, so not served); each dated
snapshot's own shutdown date from the same "Deprecated values" note (``SNAPSHOTS``: gpt-4o-2024-05-13
went on 2026-10-23, long before gpt-4o); prompt-cache writes (OpenAI's prompt caching guide: "For
GPT-5.6 models and later model families, cache writes cost 1.25x ... OpenAI reports writes in
cache_write_tokens"; ``CACHE_WRITE_FAMILIES``).

Figures listed as UNVERIFIED above the table could not be confirmed from a source and are a
best guess; everything else in the table is from the sources above.
``created`` is the model's release date as reported by the sources above (approximate, the API's
exact timestamps were not available); ``owned_by`` is always ``"system"``.

To update: edit ``MODELS`` (one ``ModelSpec`` per family), add new dated snapshot ids to
``SNAPSHOTS`` with their own shutdown date, and change ``CHECKED_ON``. Dated snapshots
(``gpt-5-mini-2025-08-07``) follow their family's rules but keep their own shutdown date;
``family_of`` strips the ``-YYYY-MM-DD`` suffix.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

CHECKED_ON = "2026-12-07"
ALL_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
OWNED_BY = "system"

# How a model treats `temperature` (any value other than the default 1):
TEMPERATURE_ALWAYS = "always"  # non-reasoning models
TEMPERATURE_EFFORT_NONE = "effort_none"  # gpt-5.1 and later: only when the effort in force is "none"
TEMPERATURE_NEVER = "never"  # gpt-5, gpt-5-mini, gpt-5-nano and the o-series

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_REASONING_NAME = re.compile(r"^(gpt-(\d+)|o\d)")


@dataclass(frozen=True)
class ModelSpec:
    """What the API knows about one model family."""

    id: str
    reasoning: bool
    efforts: tuple[str, ...] = ()  # accepted `reasoning_effort` values; () for non-reasoning models
    default_effort: str | None = None  # the effort used when the request sends none
    temperature: str = TEMPERATURE_ALWAYS
    max_output_tokens: int = 16_384
    shutdown_date: str | None = None  # "YYYY-MM-DD"; the model is gone from that day on
    flex: bool = False  # accepts service_tier "flex"
    created: str = "2024-01-01"  # release date, for GET /v1/models
    cache_writes: bool = False  # reports (and bills) prompt-cache writes: GPT-5.6 and later
    responses_only: bool = False  # served on /v1/responses only (Chat Completions answers 404)

    def created_timestamp(self) -> int:
        year, month, day = (int(part) for part in self.created.split("-"))
        return calendar.timegm((year, month, day, 0, 0, 0))

    def is_gone(self, today: str) -> bool:
        """Whether the model has shut down by ``today`` (both "YYYY-MM-DD", so they compare as text)."""
        return self.shutdown_date is not None and today >= self.shutdown_date

    def effort_in_force(self, requested: str | None) -> str | None:
        """The effort the model reasons with: the requested one, else its default (None if it does not reason)."""
        if not self.reasoning:
            return None
        return requested or self.default_effort

    def accepts_temperature(self, effort: str | None) -> bool:
        """Whether a temperature other than 1 is accepted when ``effort`` is in force."""
        if self.temperature == TEMPERATURE_ALWAYS:
            return True
        return self.temperature == TEMPERATURE_EFFORT_NONE and effort == "none"


def _reasoning(
    id: str, efforts: tuple, default: str, temperature: str, max_output: int, shutdown: str | None, flex: bool,
    created: str,
) -> ModelSpec:
    return ModelSpec(id, True, efforts, default, temperature, max_output, shutdown, flex, created)


def _plain(id: str, max_output: int, shutdown: str | None, created: str) -> ModelSpec:
    return ModelSpec(id, False, (), None, TEMPERATURE_ALWAYS, max_output, shutdown, False, created)


NONE_TO_MAX = ("none", "low", "medium", "high", "xhigh", "max")
LOW_TO_MAX = ("low", "medium", "high", "xhigh", "max")
NONE_TO_XHIGH = ("none", "low", "medium", "high", "xhigh")
GPT_5_1 = ("none", "low", "medium", "high")
GPT_5 = ("minimal", "low", "medium", "high")
O_SERIES = ("low", "medium", "high")
NONE_ONLY = TEMPERATURE_EFFORT_NONE
NEVER = TEMPERATURE_NEVER

# UNVERIFIED: flex on gpt-5.4-pro, gpt-6-sol, gpt-6-astra, gpt-5.6-sol and gpt-5.6-luna (no source either way);
# max output of gpt-5.5, the gpt-5.4 family, gpt-5.1, the o-series and the gpt-4.1 family;
# efforts of gpt-5.4-mini and gpt-5.4-nano (taken to be gpt-5.4's); the created date of gpt-6-astra.
_TABLE = [
    # id                       efforts        default   temperature  max out  shutdown      flex   created
    _reasoning("gpt-6.2-sol",   LOW_TO_MAX,    "medium", NONE_ONLY,   128_000, None,         False, "2026-11-17"),
    _reasoning("gpt-6.2-astra", LOW_TO_MAX,    "medium", NONE_ONLY,   128_000, None,         False, "2026-11-17"),
    _reasoning("gpt-6.1-terra", NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-10-26"),
    _reasoning("gpt-6.1-sol",   LOW_TO_MAX,    "medium", NONE_ONLY,   128_000, None,         True,  "2026-09-29"),
    _reasoning("gpt-6-luna",    NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-09-22"),
    _reasoning("gpt-6-sol",     NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-09-22"),
    _reasoning("gpt-6-astra",   LOW_TO_MAX,    "medium", NONE_ONLY,   128_000, None,         False, "2026-09-01"),
    _reasoning("gpt-5.6-sol",   NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-07-09"),
    _reasoning("gpt-5.6-terra", NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-07-09"),
    _reasoning("gpt-5.6-luna",  NONE_TO_MAX,   "medium", NONE_ONLY,   128_000, None,         True,  "2026-07-09"),
    _reasoning("gpt-5.5",       NONE_TO_XHIGH, "medium", NONE_ONLY,   128_000, None,         True,  "2026-04-23"),
    _reasoning("gpt-5.4",       NONE_TO_XHIGH, "none",   NONE_ONLY,   128_000, None,         True,  "2026-03-05"),
    _reasoning("gpt-5.4-mini",  NONE_TO_XHIGH, "none",   NONE_ONLY,   128_000, None,         True,  "2026-03-17"),
    _reasoning("gpt-5.4-nano",  NONE_TO_XHIGH, "none",   NONE_ONLY,   128_000, "2027-04-01", True,  "2026-03-17"),
    _reasoning("gpt-5.2",       NONE_TO_XHIGH, "none",   NONE_ONLY,   128_000, None,         True,  "2025-12-11"),
    _reasoning("gpt-5.1",       GPT_5_1,       "none",   NONE_ONLY,   128_000, "2027-04-01", True,  "2025-11-13"),
    _reasoning("gpt-5",         GPT_5,         "medium", NEVER,       128_000, "2026-12-11", True,  "2025-08-07"),
    _reasoning("gpt-5-mini",    GPT_5,         "medium", NEVER,       128_000, "2026-12-11", True,  "2025-08-07"),
    _reasoning("gpt-5-nano",    GPT_5,         "medium", NEVER,       128_000, "2026-12-11", True,  "2025-08-07"),
    _reasoning("o3",            O_SERIES,      "medium", NEVER,       100_000, "2026-12-11", True,  "2025-04-16"),
    _reasoning("o4-mini",       O_SERIES,      "medium", NEVER,       100_000, "2026-10-23", True,  "2025-04-16"),
    _reasoning("o3-mini",       O_SERIES,      "medium", NEVER,       100_000, "2026-10-23", False, "2025-01-31"),
    replace(_reasoning("gpt-5.4-pro", ("medium", "high", "xhigh"), "medium", NEVER, 128_000, None, True,
                       "2026-03-05"), responses_only=True),
    _plain("gpt-4.1",      32_768, "2027-01-14", "2025-04-14"),
    _plain("gpt-4.1-mini", 32_768, "2027-01-14", "2025-04-14"),
    _plain("gpt-4.1-nano", 32_768, "2026-10-23", "2025-04-14"),
    _plain("gpt-4o",       16_384, "2027-01-14", "2024-05-13"),
    _plain("gpt-4o-mini",  16_384, "2027-01-14", "2024-07-18"),
]  # fmt: skip

# The families that report prompt-cache writes (``prompt_tokens_details.cache_write_tokens``):
# GPT-5.6 and every later family.
CACHE_WRITE_FAMILIES = frozenset({
    "gpt-6.2-sol", "gpt-6.2-astra", "gpt-6.1-terra", "gpt-6.1-sol", "gpt-6-luna", "gpt-6-sol", "gpt-6-astra",
    "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna",
})

# Models OpenAI serves that the installed openai package (3.63) lists in neither ``ChatModel`` nor
# ``ResponsesModel``, each with where it is documented.
NOT_IN_THE_PACKAGE = {
    "gpt-5.4-pro": "OpenAI's gpt-5.4-pro model page (Responses API only); a real /v1/responses Batch object "
                   "of gpt-5.4-pro-2026-03-05 (real_batch_lines/round2/batch_objects, kaapi-backend issue #723)",
}

MODELS: dict[str, ModelSpec] = {
    spec.id: replace(spec, cache_writes=spec.id in CACHE_WRITE_FAMILIES) for spec in _TABLE
}

# Dated snapshot ids the listing shows (from chat_model.py), each with its own announced shutdown
# date (None: none announced); any other "<family>-YYYY-MM-DD" resolves to its family too.
SNAPSHOTS: dict[str, str | None] = {
    "gpt-5.5-2026-04-23": None,
    "gpt-5.4-mini-2026-03-17": None,
    "gpt-5.4-nano-2026-03-17": "2027-04-01",
    "gpt-5.2-2025-12-11": None,
    "gpt-5.1-2025-11-13": "2027-04-01",
    "gpt-5-2025-08-07": "2026-12-11",
    "gpt-5-mini-2025-08-07": "2026-12-11",
    "gpt-5-nano-2025-08-07": "2026-12-11",
    "o3-2025-04-16": "2026-12-11",
    "o4-mini-2025-04-16": "2026-10-23",
    "o3-mini-2025-01-31": "2026-10-23",
    "gpt-4.1-2025-04-14": "2027-01-14",
    "gpt-4.1-mini-2025-04-14": "2027-01-14",
    "gpt-4.1-nano-2025-04-14": "2026-10-23",
    "gpt-4o-2024-11-20": "2027-01-14",
    "gpt-4o-2024-08-06": "2027-01-14",
    "gpt-4o-2024-05-13": "2026-10-23",
    "gpt-4o-mini-2024-07-18": "2027-01-14",
}


def family_of(model_id: str) -> str:
    """``gpt-5-mini-2025-08-07`` -> ``gpt-5-mini``; an id without a date suffix is its own family."""
    return _SNAPSHOT_SUFFIX.sub("", model_id)


def spec_for(model_id: str, table: dict[str, ModelSpec] | None = None) -> ModelSpec | None:
    """The rules of ``model_id`` (a family or one of its dated snapshots), or None if unknown."""
    table = MODELS if table is None else table
    spec = table.get(model_id)
    if spec is None:
        spec = table.get(family_of(model_id))
    if spec is not None and model_id in SNAPSHOTS:
        spec = replace(spec, shutdown_date=SNAPSHOTS[model_id])
    return replace(spec, id=model_id) if spec is not None and spec.id != model_id else spec


def rules_for_added_model(model_id: str) -> ModelSpec:
    """The rules of a model a scenario adds without ``like``: gpt-N (N >= 5) and o-series reason.

    A reasoning model added this way accepts every effort value, defaults to ``medium``, takes
    temperature only with effort ``none``, allows 128,000 output tokens and flex.
    """
    match = _REASONING_NAME.match(model_id)
    reasoning = bool(match) and (match.group(2) is None or int(match.group(2)) >= 5)
    if reasoning:
        return ModelSpec(model_id, True, ALL_EFFORTS, "medium", NONE_ONLY, 128_000, None, True, CHECKED_ON)
    return ModelSpec(model_id, False, (), None, TEMPERATURE_ALWAYS, 16_384, None, False, CHECKED_ON)


def resolve(model_id: str, overrides: Mapping[str, Mapping[str, Any] | None]) -> ModelSpec | None:
    """The rules of ``model_id`` after the scenario's ``models`` overrides, or None if it is unknown.

    An override is looked up by the exact id, then by the family: ``None`` makes the model
    unknown; an object may set ``like`` (copy another model's rules), ``shutdown_date`` and
    ``flex``. A model neither in the table nor in the overrides is unknown.
    """
    for key in (model_id, family_of(model_id)):
        if key in overrides:
            override = overrides[key]
            if override is None:
                return None
            like = override.get("like")
            base = spec_for(like) if like else spec_for(model_id)
            spec = replace(base, id=model_id) if base is not None else rules_for_added_model(model_id)
            changes = {name: override[name] for name in ("shutdown_date", "flex") if name in override}
            return replace(spec, **changes)
    return spec_for(model_id)


def listed_ids(overrides: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """Every model id the listing may show (before dropping the ones that are gone)."""
    ids = dict.fromkeys([*MODELS, *SNAPSHOTS, *overrides])
    return [model_id for model_id in ids if resolve(model_id, overrides) is not None]
