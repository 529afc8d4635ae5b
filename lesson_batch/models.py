"""What the tool knows about models: one dated catalogue, and the rules that read it.

Every question about a model (does it reason, which ``reasoning_effort`` values and which
``temperature`` it takes, how many output tokens it may write, what it costs at Batch prices,
when it shuts down and what replaces it) is answered here, from ``CATALOGUE``. Nothing else in
the tool looks at a model's name.

A name the catalogue does not list is resolved in this order: a dated snapshot
(``gpt-5-mini-2025-08-07``) or a fine-tuned model (``ft:gpt-4o-mini-2024-07-18:org::id``) takes
its family's rules and price, and the lifecycle ``SNAPSHOTS`` records for that very snapshot (a
snapshot can shut down before its family: ``gpt-4o-2024-05-13`` did). A snapshot ``SNAPSHOTS``
does not list has no known shutdown date: it never inherits its family's, and the plan says so
(the API's own ``shutdown_date`` is checked before anything is uploaded). Anything else follows
the unknown-model rule: ``gpt-N…`` with N >= 5 and the
o-series (``o1``, ``o3``, ``o4-mini``, …) are reasoning models, every other name is not. An
unknown reasoning model gets no ``reasoning_effort`` unless one is asked for (any value the API
defines is let through: the model's own list is not known), ``temperature`` only with effort
``none``, no output limit beyond the tool's own cap, and an unknown price ("unknown price" in
the plan, never a guess).

Reasoning models spend hidden reasoning tokens out of ``max_completion_tokens``. When a lesson
comes back truncated, ``retry_settings`` climbs a ladder that fits the model: double the budget
up to the model's maximum output (and never above ``LADDER_CAP``), then lower the effort one
accepted value at a time, down to the lowest the model takes (``none`` where it exists). It
never produces a value the model rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

DEFAULT_MODEL = "gpt-6.1-terra"
CHEAPER_MODEL = "gpt-6-luna"

# The API's reasoning_effort values, lowest first (openai 3.57, types/shared/reasoning_effort.py).
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

DEFAULT_BUDGET_REASONING = 16_000
DEFAULT_BUDGET_PLAIN = 8_000
# The truncation ladder never asks for more than this, whatever the model allows: a ~2,000-word
# lesson needs ~3,500 tokens, so a budget this size that still truncates is a prompt problem,
# not a budget one (and every step up is paid for).
LADDER_CAP = 64_000

# Expected size of one generated lesson (about 2,000 words of Markdown), before any measurement,
# and the reasoning tokens expected on top of it at each effort.
EXPECTED_LESSON_TOKENS = 3_500
EXPECTED_REASONING_TOKENS = {
    "none": 0, "minimal": 200, "low": 1_000, "medium": 2_500, "high": 6_000, "xhigh": 10_000, "max": 16_000,
}

# Days before a shutdown date from which a model is warned about.
SHUTDOWN_WARNING_DAYS = 30

# How a model takes ``temperature``.
TEMPERATURE_ALWAYS = "always"  # not a reasoning model
TEMPERATURE_WITH_NONE = "with effort none"  # gpt-5.1 and later: only while reasoning is off
TEMPERATURE_NEVER = "never"  # gpt-5, gpt-5-mini, gpt-5-nano, o-series


# Prompt-cache writes: free before the GPT-5.6 family; from GPT-5.6 on (every GPT-6 model
# included) they cost 1.25x the uncached input rate (OpenAI's prompt caching guide,
# developers.openai.com/api/docs/guides/prompt-caching: "For GPT-5.6 models and later model
# families, cache writes cost 1.25x the uncached input token rate"; the gpt-6-sol and
# gpt-6.2-sol model pages list "Cache writes $2.50" next to "Input $2.00"). Usage reports them
# in ``prompt_tokens_details.cache_write_tokens`` ("The unadjusted number of prompt tokens
# written to cache", openai 3.63 types/completion_usage.py); they are taken to be part of
# ``prompt_tokens`` and of its uncached part. Whether Batch and Flex requests pay for writes is
# not stated anywhere: the tool assumes they do, at 1.25x the Batch input price (docs/costs.md).
CACHE_WRITE_MULTIPLIER = 1.25


@dataclass(frozen=True)
class Price:
    """Batch API USD per million tokens. ``cached_input`` None: not known (cached tokens are then
    counted at the input price, so that an estimate never comes out below the bill)."""

    input: float
    cached_input: float | None
    output: float

    @property
    def cached_or_input(self) -> float:
        return self.input if self.cached_input is None else self.cached_input


@dataclass(frozen=True)
class ModelInfo:
    """One catalogue entry (or what the unknown-model rule says about a name)."""

    name: str
    reasoning: bool
    efforts: tuple[str, ...] | None = ()  # accepted values, lowest first; None: not known
    default_effort: str | None = None
    temperature: str = TEMPERATURE_ALWAYS
    max_output_tokens: int | None = None  # None: not known
    batch_price: Price | None = None  # None: not known
    shutdown: date | None = None
    replacement: str | None = None
    batch_chat_completions: bool | None = True  # Batch on /v1/chat/completions; None: not known
    flex: bool | None = None  # service_tier "flex" on Chat Completions; None: not known
    in_catalogue: bool = True
    bills_cache_writes: bool = False  # GPT-5.6 and later: cache writes at 1.25x input
    price_note: str | None = None  # said with the price in the plan
    # A dated snapshot the table does not list: its family (whose rules it takes) and a note
    # that its shutdown date is not known.
    lifecycle_note: str | None = None
    responses_only: bool = False  # offered on the Responses API only (no Chat Completions)


def _d(text: str) -> date:
    return date.fromisoformat(text)


_NONE_TO_MAX = ("none", "low", "medium", "high", "xhigh", "max")
_LOW_TO_MAX = ("low", "medium", "high", "xhigh", "max")
_NONE_TO_XHIGH = ("none", "low", "medium", "high", "xhigh")
_GPT5_EFFORTS = ("minimal", "low", "medium", "high")


def _gpt6(name, price, *, efforts=_NONE_TO_MAX, flex=None, price_note=None):
    """A GPT-5.6 or GPT-6 model: 128K output, default effort medium, cache writes billed."""
    temperature = TEMPERATURE_WITH_NONE if "none" in efforts else TEMPERATURE_NEVER
    return ModelInfo(name, True, efforts, "medium", temperature, 128_000, price, flex=flex,
                     bills_cache_writes=True, price_note=price_note)


CATALOGUE_DATE = "2026-12-07"
# The model catalogue, checked on 2026-12-02 and brought up to date on 2026-12-07 (see "2026-12-07"
# below for what changed and where each fact was checked). Prices are Batch prices per 1M tokens (input,
# cached input, output): half the standard price (the GPT-6 model pages: "Batch and Flex prices
# are 50% lower"; the older models: the Batch guide's 50% discount). Sources, by column:
# - shutdown dates: the installed openai 3.57 (types/shared/chat_model.py, "Announced shutdown
#   date") and OpenAI's deprecations page (developers.openai.com/api/docs/deprecations), which
#   also gives the replacements: gpt-5 -> gpt-6.1-sol, gpt-5-mini -> gpt-6.1-terra,
#   gpt-5-nano -> gpt-6-luna (2026-12-11); gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini -> gpt-6-luna
#   (2027-01-14). gpt-5.1 and gpt-5.4-nano shut down on 2027-04-01 (openai 3.57); their
#   replacement was NOT found in any source searched, so none is recorded. o3 shuts down on
#   2026-12-11 (openai 3.57); its replacement on the current page was not found either. o3-mini,
#   o4-mini and gpt-4.1-nano shut down on 2026-10-23 (openai 3.57); replacements as OpenAI's page
#   listed them on 2026-10-15 (quoted by importstatic.com): o3-mini -> gpt-5.6-sol,
#   o4-mini -> gpt-5.6-terra; gpt-4.1-nano's was cut off in the quote and is not recorded.
# - efforts, defaults, max output, prices: OpenAI's model pages developers.openai.com/api/docs/
#   models/<name> for gpt-6.1-terra, gpt-6-luna, gpt-5.6-luna, gpt-5.4-nano, gpt-5-nano, and the
#   GPT-6 guide; gpt-6.1-sol (low..max, no none or minimal; $2/$0.10/$10) from OpenAI's page as
#   quoted by apidog.com and docs.apiyi.com; gpt-6-astra (low..max; $10/$1/$50) and gpt-6-sol
#   (none..max; $2/$0.20/$10) from docs.oxen.ai, docs.comfy.org, inferama's price dataset and
#   release notes quoting OpenAI's pricing page; gpt-5.6-sol/terra ($4/$0.40/$20, $2/$0.20/$12,
#   after the 2026-07-30 cut) from docs.apiyi.com and PromptFuel's release notes; gpt-5.5
#   (none..xhigh; $5/$0.50/$30) from docs.comfy.org and docs.apiyi.com; gpt-5.4 and gpt-5.4-mini
#   (none..xhigh, default none; $2.50/$0.25/$15 and $0.75/$0.075/$4.50) from replicate.com,
#   docs.oxen.ai and adk-model's price table - gpt-5.4-mini's own page was not found, its efforts
#   are taken from the gpt-5.4 family; gpt-5.2 (none..xhigh, default none; $1.75/$14) from
#   docs.oxen.ai and openai-tools' docs, its cached price ($0.175) is the GPT-5 family's 10% and
#   was not found on a page; gpt-5.1 (none, low, medium, high; default none) from the API's own
#   error message ("Unsupported value: 'minimal' is not supported with the 'gpt-5.1' model")
#   and Azure's ReasoningEffort reference; gpt-5/mini/nano (minimal..high, default medium; $1.25/
#   $0.125/$10, $0.25/$0.025/$2, $0.05/$0.005/$0.40) from OpenAI's gpt-5-nano page and the same
#   Azure reference; gpt-4o/gpt-4o-mini (16,384 output) from Azure's model tables; gpt-4.1 and
#   gpt-4.1-mini (32,768 output; $2/$0.50/$8 and $0.40/$0.10/$1.60) from third-party tables
#   only - OpenAI's gpt-4.1 page was not found.
# - temperature: reasoning models take it only with effort none (gpt-5.1 and later), never on
#   gpt-5/mini/nano and the o-series (the GPT-6 guide, LiteLLM's GPT-6 notes).
# - Batch on /v1/chat/completions: every model page above lists Chat Completions and Batch.
# - flex: True where a model page or the flex guide names the model (gpt-6.1-terra, gpt-6-luna,
#   gpt-6.1-sol, gpt-6-astra; o3 in an earlier version of the guide), a gateway's table lists
#   the family (gpt-5.4, gpt-5.5, gpt-5.6: merge.dev), or SDKs added it for the family (gpt-5,
#   mini, nano: the Vercel AI SDK's openai 2.0.7 changelog, openai/codex issue #2712); None where
#   no source said either way.
# - o3, o3-mini, o4-mini efforts (low, medium, high): openai-tools' ReasoningEffort docs.
# 2026-12-07 (issue 22; checked with the installed openai 3.63.0's types/shared/chat_model.py,
# types/batch_usage.py and types/completion_usage.py, and OpenAI's pages; the stored snapshot of
# the openai/openai-python repository is version 3.3.1, older than both new models, and its
# chat_model.py has no shutdown note: only its cache_write_tokens field was confirmed there):
# - gpt-6.2-sol (released 2026-11-17; in the SDK's ChatModel): OpenAI's model page
#   (developers.openai.com/api/docs/models/gpt-6.2-sol): $2 input, $0.10 cached, $2.50 cache
#   writes, $10 output per 1M at Standard, "Batch costs 50% of Standard rates", 128,000 max output,
#   1,050,000 context, "The API rejects requests that set reasoning effort to none"; efforts low
#   to max (runware.ai's copy of the page, laozhang.ai's release notes). Chat Completions,
#   Responses and Batch; flex is not stated on its page (None).
# - gpt-6.2-astra (released 2026-11-17; in ChatModel): $8 input, $40 output per 1M at Standard
#   (apidog.com's guide citing OpenAI's page, vercel.com's model list, laozhang.ai), efforts low
#   to max, none rejected (apidog.com), 128,000 output, Chat Completions and Batch. Its cached
#   input price was not found on an OpenAI page (one router's release notes say $0.40; not
#   taken): it is recorded as not known, and cached tokens are counted at the input price.
# - gpt-5.6-sol: recorded at its list price, $5 / $0.50 / $30 at Standard (docs.apiyi.com's
#   price table, PromptFuel's release notes, gramext's reverting its promotional price). OpenAI's
#   page shows a promotion ($4 / $0.40 / $20) "available at least through 2026-11-21"; no source
#   says whether it still applies, and an estimate must not come out below the bill.
# - cache writes: see CACHE_WRITE_MULTIPLIER; ``bills_cache_writes`` is set on every GPT-5.6 and
#   GPT-6 entry.
# - o3 -> gpt-6.1-sol: OpenAI's deprecations page now names gpt-6.1-sol for the 2026-12-11 group
#   (gpt-5 -> gpt-6.1-sol on the page itself; o3 and o3-pro -> gpt-6.1-sol per modelpin 0.5.4's
#   re-reading of the page on 2026-11-22). Earlier copies of the page named gpt-5.6-sol.
# - dated snapshots: see SNAPSHOTS.
CATALOGUE: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        _gpt6("gpt-6.2-sol", Price(1.00, 0.05, 5.00), efforts=_LOW_TO_MAX),
        _gpt6("gpt-6.2-astra", Price(4.00, None, 20.00), efforts=_LOW_TO_MAX),
        _gpt6("gpt-6.1-terra", Price(0.50, 0.025, 2.50), flex=True),
        _gpt6("gpt-6.1-sol", Price(1.00, 0.05, 5.00), efforts=_LOW_TO_MAX, flex=True),
        _gpt6("gpt-6-luna", Price(0.05, 0.005, 0.25), flex=True),
        _gpt6("gpt-6-sol", Price(1.00, 0.10, 5.00)),
        _gpt6("gpt-6-astra", Price(5.00, 0.50, 25.00), efforts=_LOW_TO_MAX, flex=True),
        _gpt6("gpt-5.6-sol", Price(2.50, 0.25, 15.00), flex=True,
              price_note="list price; OpenAI offered a lower promotional price (guaranteed through 2026-11-21), "
                         "so the bill may be lower than this estimate"),
        _gpt6("gpt-5.6-terra", Price(1.00, 0.10, 6.00), flex=True),
        _gpt6("gpt-5.6-luna", Price(0.10, 0.01, 0.60), flex=True),
        ModelInfo("gpt-5.5", True, _NONE_TO_XHIGH, "medium", TEMPERATURE_WITH_NONE, 128_000,
                  Price(2.50, 0.25, 15.00), flex=True),
        ModelInfo("gpt-5.4", True, _NONE_TO_XHIGH, "none", TEMPERATURE_WITH_NONE, 128_000,
                  Price(1.25, 0.125, 7.50), flex=True),
        ModelInfo("gpt-5.4-mini", True, _NONE_TO_XHIGH, "none", TEMPERATURE_WITH_NONE, 128_000,
                  Price(0.375, 0.0375, 2.25), flex=True),
        ModelInfo("gpt-5.4-nano", True, _NONE_TO_XHIGH, "none", TEMPERATURE_WITH_NONE, 128_000,
                  Price(0.10, 0.01, 0.625), shutdown=_d("2027-04-01"), flex=True),
        ModelInfo("gpt-5.2", True, _NONE_TO_XHIGH, "none", TEMPERATURE_WITH_NONE, 128_000,
                  Price(0.875, 0.0875, 7.00)),
        ModelInfo("gpt-5.1", True, ("none", "low", "medium", "high"), "none", TEMPERATURE_WITH_NONE, 128_000,
                  Price(0.625, 0.0625, 5.00), shutdown=_d("2027-04-01")),
        ModelInfo("gpt-5", True, _GPT5_EFFORTS, "medium", TEMPERATURE_NEVER, 128_000,
                  Price(0.625, 0.0625, 5.00), _d("2026-12-11"), "gpt-6.1-sol", flex=True),
        ModelInfo("gpt-5-mini", True, _GPT5_EFFORTS, "medium", TEMPERATURE_NEVER, 128_000,
                  Price(0.125, 0.0125, 1.00), _d("2026-12-11"), "gpt-6.1-terra", flex=True),
        ModelInfo("gpt-5-nano", True, _GPT5_EFFORTS, "medium", TEMPERATURE_NEVER, 128_000,
                  Price(0.025, 0.0025, 0.20), _d("2026-12-11"), "gpt-6-luna", flex=True),
        ModelInfo("gpt-4.1", False, (), None, TEMPERATURE_ALWAYS, 32_768,
                  Price(1.00, 0.25, 4.00), _d("2027-01-14"), "gpt-6-luna"),
        ModelInfo("gpt-4.1-mini", False, (), None, TEMPERATURE_ALWAYS, 32_768,
                  Price(0.20, 0.05, 0.80), _d("2027-01-14"), "gpt-6-luna"),
        ModelInfo("gpt-4o", False, (), None, TEMPERATURE_ALWAYS, 16_384,
                  Price(1.25, 0.625, 5.00), _d("2027-01-14"), "gpt-6-luna"),
        ModelInfo("gpt-4o-mini", False, (), None, TEMPERATURE_ALWAYS, 16_384,
                  Price(0.075, 0.0375, 0.30), _d("2027-01-14"), "gpt-6-luna"),
        # Shut down or shutting down; kept so that the tool names the date and what to use.
        ModelInfo("o3", True, ("low", "medium", "high"), "medium", TEMPERATURE_NEVER, None, None, _d("2026-12-11"),
                  "gpt-6.1-sol", flex=True),
        ModelInfo("o3-mini", True, ("low", "medium", "high"), "medium", TEMPERATURE_NEVER, None, None,
                  _d("2026-10-23"), "gpt-5.6-sol"),
        ModelInfo("o4-mini", True, ("low", "medium", "high"), "medium", TEMPERATURE_NEVER, None, None,
                  _d("2026-10-23"), "gpt-5.6-terra"),
        ModelInfo("gpt-4.1-nano", False, (), None, TEMPERATURE_ALWAYS, None, None, _d("2026-10-23")),
        # Offered on the Responses API only (``responses_only``: requests go to /v1/responses without
        # --endpoint). OpenAI's gpt-5.4-pro page (developers.openai.com/api/docs/models/gpt-5.4-pro, read
        # 2026-12-07): "available in the Responses API only"; reasoning.effort medium (default), high,
        # xhigh; 128,000 max output; $30 input / $180 output standard, so Batch $15 / $90. No cached-input
        # price was found: cached input is counted at the full input price (an estimate never below the
        # bill). Temperature and flex were not stated: temperature is refused, flex is left to the API.
        ModelInfo("gpt-5.4-pro", True, ("medium", "high", "xhigh"), "medium", TEMPERATURE_NEVER, 128_000,
                  Price(15.00, None, 90.00), batch_chat_completions=False, responses_only=True),
    )
}



@dataclass(frozen=True)
class Snapshot:
    """A dated snapshot's own lifecycle: it takes its family's rules and price, not its dates."""

    family: str
    shutdown: date | None
    replacement: str | None


def _snapshots(family: str, shutdown: str | None, replacement: str | None, *names: str) -> dict[str, Snapshot]:
    return {name: Snapshot(family, _d(shutdown) if shutdown else None, replacement) for name in names}


# Every dated snapshot of a catalogued family that the SDK names (openai 3.63.0,
# types/shared/chat_model.py, whose "Deprecated values" note gives each snapshot's announced
# shutdown date), with the replacement OpenAI's deprecations page names for it. A snapshot listed
# there with no date has none announced. gpt-4o-2024-05-13 shut down on 2026-10-23, before
# gpt-4o itself; its replacement, gpt-5.6-sol, is from OpenAI's page as of 2026-10-15 (quoted by
# importstatic.com). gpt-4.1-nano-2025-04-14's replacement was cut off in that quote, and
# gpt-5.1's and gpt-5.4-nano's were not found: none is recorded.
SNAPSHOTS: dict[str, Snapshot] = {
    **_snapshots("gpt-5.5", None, None, "gpt-5.5-2026-04-23"),
    **_snapshots("gpt-5.4-mini", None, None, "gpt-5.4-mini-2026-03-17"),
    **_snapshots("gpt-5.4-nano", "2027-04-01", None, "gpt-5.4-nano-2026-03-17"),
    **_snapshots("gpt-5.2", None, None, "gpt-5.2-2025-12-11"),
    **_snapshots("gpt-5.1", "2027-04-01", None, "gpt-5.1-2025-11-13"),
    **_snapshots("gpt-5", "2026-12-11", "gpt-6.1-sol", "gpt-5-2025-08-07"),
    **_snapshots("gpt-5-mini", "2026-12-11", "gpt-6.1-terra", "gpt-5-mini-2025-08-07"),
    **_snapshots("gpt-5-nano", "2026-12-11", "gpt-6-luna", "gpt-5-nano-2025-08-07"),
    **_snapshots("o3", "2026-12-11", "gpt-6.1-sol", "o3-2025-04-16"),
    **_snapshots("gpt-4.1", "2027-01-14", "gpt-6-luna", "gpt-4.1-2025-04-14"),
    **_snapshots("gpt-4.1-mini", "2027-01-14", "gpt-6-luna", "gpt-4.1-mini-2025-04-14"),
    **_snapshots("gpt-4o", "2027-01-14", "gpt-6-luna", "gpt-4o-2024-11-20", "gpt-4o-2024-08-06"),
    **_snapshots("gpt-4o-mini", "2027-01-14", "gpt-6-luna", "gpt-4o-mini-2024-07-18"),
    **_snapshots("gpt-4o", "2026-10-23", "gpt-5.6-sol", "gpt-4o-2024-05-13"),
    **_snapshots("gpt-4.1-nano", "2026-10-23", None, "gpt-4.1-nano-2025-04-14"),
    **_snapshots("o4-mini", "2026-10-23", "gpt-5.6-terra", "o4-mini-2025-04-16"),
    **_snapshots("o3-mini", "2026-10-23", "gpt-5.6-sol", "o3-mini-2025-01-31"),
}

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_GPT_GENERATION = re.compile(r"^gpt-(\d+)")
_O_SERIES = re.compile(r"^o\d")


def lookup(model: str) -> ModelInfo:
    """The catalogue entry for ``model``, its family's for a snapshot or fine-tune, else the
    unknown-model rule's answer."""
    name = model.strip()
    fine_tuned = name.startswith("ft:")
    if fine_tuned:
        name = name[3:].split(":", 1)[0]
    base = name.lower()
    snapshot = SNAPSHOTS.get(base)
    family = snapshot.family if snapshot else _SNAPSHOT_SUFFIX.sub("", base)
    info = CATALOGUE.get(family)
    if info is None:
        return _unknown(model, family)
    if snapshot is not None:  # its own lifecycle, never its family's
        info = replace(info, shutdown=snapshot.shutdown, replacement=snapshot.replacement)
    elif family != base:  # a dated snapshot the table does not list: its shutdown is not known
        known = (
            f"{family} shuts down on {info.shutdown.isoformat()}" if info.shutdown
            else f"{family} has no shutdown date announced"
        )
        info = replace(
            info, shutdown=None, replacement=None,
            lifecycle_note=(
                f"the model table has no shutdown date for the snapshot {name} ({known}; a snapshot can shut "
                "down earlier than its family); the API's own date is checked before anything is uploaded"
            ),
        )
    if fine_tuned:  # a fine-tune keeps its base model's rules and shutdown date, not its price
        return replace(info, name=model, batch_price=None)
    return info if info.name == model else replace(info, name=model)


def _unknown(model: str, name: str) -> ModelInfo:
    generation = _GPT_GENERATION.match(name)
    reasoning = bool(generation and int(generation.group(1)) >= 5) or bool(_O_SERIES.match(name))
    if reasoning:
        return ModelInfo(model, True, None, None, TEMPERATURE_WITH_NONE, None, None, None, None, None, None, False)
    return ModelInfo(model, False, (), None, TEMPERATURE_ALWAYS, None, None, None, None, None, None, False)


# --------------------------------------------------------------------------- settings


def effective_effort(info: ModelInfo, effort: str | None) -> str | None:
    """The effort a request runs at: the one asked for, else the model's default (None: not known)."""
    return effort or info.default_effort


def describe_efforts(info: ModelInfo) -> str:
    if not info.efforts:
        return ""
    return ", ".join(f"{value} (default)" if value == info.default_effort else value for value in info.efforts)


def settings_problem(model: str, effort: str | None, temperature: float | None, budget: int | None) -> str | None:
    """Why these options cannot make a request the model accepts (a usage error), or None."""
    info = lookup(model)
    if effort is not None:
        if not info.reasoning:
            return f"{model} is not a reasoning model: leave out --reasoning-effort"
        if effort not in EFFORTS:
            return f"--reasoning-effort takes one of {', '.join(EFFORTS)}; {effort!r} is not one"
        if info.efforts is not None and effort not in info.efforts:
            return (
                f"{model} does not accept --reasoning-effort {effort}; "
                f"it accepts {describe_efforts(info)}"
            )
    if temperature is not None and info.temperature != TEMPERATURE_ALWAYS:
        running = effective_effort(info, effort)
        if info.temperature == TEMPERATURE_NEVER:
            return f"{model} is a reasoning model and does not accept --temperature; leave it out"
        if running != "none":
            shown = f"effort {running}" if running else "its default effort"
            return (
                f"{model} accepts --temperature only with --reasoning-effort none (it would run at {shown}); "
                "add --reasoning-effort none or leave out --temperature"
            )
    if budget is not None and info.max_output_tokens is not None and budget > info.max_output_tokens:
        return (
            f"--max-completion-tokens {budget:,} is above what {model} can write: "
            f"at most {info.max_output_tokens:,} output tokens"
        )
    return None


# The Responses API refuses a smaller ``max_output_tokens`` (400 integer_below_min_value: "Invalid
# 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead.",
# as quoted in vectorize-io/hindsight issue #58).
RESPONSES_MIN_OUTPUT_TOKENS = 16


def responses_only(model: str) -> bool:
    """Whether the catalogue says ``model`` is offered on the Responses API only."""
    return lookup(model).responses_only


def endpoint_for(model: str, endpoint: str | None) -> str:
    """The API a run's requests go to: ``chat`` or ``responses`` as asked (``--endpoint``), else
    ``responses`` for a model offered there only, else ``chat``."""
    if endpoint is not None:
        return endpoint
    return "responses" if responses_only(model) else "chat"


def endpoint_problem(model: str, endpoint: str | None, budget: int | None) -> str | None:
    """Why requests for ``model`` cannot go to ``endpoint`` (a usage error), or None."""
    if endpoint == "chat" and responses_only(model):
        return (
            f"{model} is offered on the Responses API only: use --endpoint responses "
            "(or leave out --endpoint, and it is chosen for you)"
        )
    if endpoint_for(model, endpoint) == "responses" and budget is not None and budget < RESPONSES_MIN_OUTPUT_TOKENS:
        return (
            f"--max-completion-tokens {budget} is below what the Responses API takes: "
            f"at least {RESPONSES_MIN_OUTPUT_TOKENS} (max_output_tokens)"
        )
    return None


def default_budget(model: str) -> int:
    info = lookup(model)
    budget = DEFAULT_BUDGET_REASONING if info.reasoning else DEFAULT_BUDGET_PLAIN
    return min(budget, info.max_output_tokens or budget)


def ladder_cap(model: str, budget: int) -> int:
    """The largest budget the truncation ladder may ask for, starting from ``budget``."""
    info = lookup(model)
    cap = max(LADDER_CAP, budget)
    return min(cap, info.max_output_tokens) if info.max_output_tokens else cap


def retry_settings(model: str, budget: int, effort: str | None) -> tuple[int, str | None] | None:
    """The budget and effort for retrying a lesson that came back truncated, or None when the
    ladder has no step left (the budget is at its cap and the effort at its lowest)."""
    cap = ladder_cap(model, budget)
    if budget < cap:
        return min(cap, budget * 2), effort
    lower = lower_effort(model, effort)
    return (budget, lower) if lower is not None else None


def lower_effort(model: str, effort: str | None) -> str | None:
    """The next accepted effort below the one a request ran at, or None when there is none
    (or the model's accepted values are not known, so no lower value is safe to send)."""
    info = lookup(model)
    running = effective_effort(info, effort)
    if not info.efforts or running not in info.efforts:
        return None
    index = info.efforts.index(running)
    return info.efforts[index - 1] if index > 0 else None


def fit_retry(model: str, budget: int, effort: str | None) -> tuple[int, str | None]:
    """A retry budget and effort recorded earlier, made valid for ``model`` (the model may have
    changed since): the budget within its maximum output, the effort one it accepts (the
    nearest below, else its lowest), no effort for a model that does not reason."""
    info = lookup(model)
    if info.max_output_tokens:
        budget = min(budget, info.max_output_tokens)
    if effort is None or info.efforts is None:
        return budget, effort if info.reasoning else None
    if effort in info.efforts:
        return budget, effort
    if not info.efforts:
        return budget, None
    rank = EFFORTS.index(effort) if effort in EFFORTS else len(EFFORTS)
    below = [value for value in info.efforts if EFFORTS.index(value) < rank]
    return budget, below[-1] if below else info.efforts[0]


def expected_output_tokens(model: str, effort: str | None, budget: int) -> int:
    info = lookup(model)
    expected = EXPECTED_LESSON_TOKENS
    if info.reasoning:
        expected += EXPECTED_REASONING_TOKENS.get(effective_effort(info, effort) or "medium", EXPECTED_REASONING_TOKENS["medium"])
    return min(expected, budget)


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True)
class Lifecycle:
    """Where a model stands on a given day: ``active``, ``retiring`` (shuts down within
    ``SHUTDOWN_WARNING_DAYS``), ``too_late`` (shuts down before a 24-hour batch could end) or
    ``shut_down``."""

    status: str
    message: str | None = None


def lifecycle(model: str, shutdown: date | None, today: date, replacement: str | None = None) -> Lifecycle:
    """Judge a shutdown date (from the catalogue or from the API) against ``today``."""
    if shutdown is None:
        return Lifecycle("active")
    use = _what_to_use(model, replacement)
    days = (shutdown - today).days
    if days <= 0:
        return Lifecycle("shut_down", f"{model} was shut down on {shutdown.isoformat()}; {use}")
    if days <= 1:
        return Lifecycle(
            "too_late",
            f"{model} shuts down on {shutdown.isoformat()}, before a batch submitted now could finish "
            f"(batches may take 24 hours); {use}",
        )
    if days <= SHUTDOWN_WARNING_DAYS:
        return Lifecycle("retiring", f"{model} shuts down on {shutdown.isoformat()} (in {days} days); {use}")
    return Lifecycle("active")


def catalogue_lifecycle(model: str, today: date) -> Lifecycle:
    info = lookup(model)
    if info.lifecycle_note:
        return Lifecycle("unknown", info.lifecycle_note)
    return lifecycle(model, info.shutdown, today, info.replacement)


CATALOGUE_STALE_DAYS = 60  # older than this, the plan says how old the model table is


def catalogue_age_note(today: date) -> str | None:
    """What to say about the model table's age on ``today``: nothing while it is recent."""
    days = (today - date.fromisoformat(CATALOGUE_DATE)).days
    if days <= CATALOGUE_STALE_DAYS:
        return None
    return (
        f"note: the model table (prices, limits, shutdown dates in lesson_batch/models.py) was checked on "
        f"{CATALOGUE_DATE}, {days} days ago: prices and shutdown dates may have changed since (the API's "
        "answer about the model is asked before anything is uploaded, and wins)"
    )


def _what_to_use(model: str, replacement: str | None) -> str:
    info = lookup(model)
    replacement = replacement or info.replacement
    if replacement:
        return f"use --model {replacement} (its replacement) instead"
    other = CHEAPER_MODEL if DEFAULT_MODEL in (model, _SNAPSHOT_SUFFIX.sub("", model)) else DEFAULT_MODEL
    return f"no replacement is recorded in the model table; choose another model, for example --model {other}"


def unknown_to_api_message(model: str, today: date | None = None) -> str:
    info = lookup(model)
    if today is not None and info.shutdown is not None and info.shutdown <= today:
        why = f"the model table says it was shut down on {info.shutdown.isoformat()}"
    else:
        why = "it may have been shut down, be misspelt, or not be available to this key"
    return (
        f"the API does not know the model {model} ({why}); nothing was uploaded. "
        f"{_what_to_use(model, None).capitalize()}."
    )


# --------------------------------------------------------------------------- prices


def price_of(model: str) -> Price | None:
    return lookup(model).batch_price


# The API caches only a prompt prefix of this many tokens or more (OpenAI's prompt caching
# announcement, openai.com/index/api-prompt-caching: "prompts longer than 1,024 tokens"): a shorter
# prompt is neither read from nor written to the cache.
PROMPT_CACHE_MIN_TOKENS = 1024


def bills_cache_writes(model: str) -> bool:
    return lookup(model).bills_cache_writes


def cache_write_price(model: str) -> float | None:
    """USD per 1M tokens written to the prompt cache at Batch prices (the input price for a model
    that does not bill writes); None when the price is unknown."""
    info = lookup(model)
    if info.batch_price is None:
        return None
    return info.batch_price.input * (CACHE_WRITE_MULTIPLIER if info.bills_cache_writes else 1.0)


def batch_cost(
    model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
) -> float | None:
    """USD at Batch API prices, or None when the model's price is unknown. ``cache_write_tokens``
    are part of the uncached input; a model that bills them pays ``CACHE_WRITE_MULTIPLIER`` times
    the input price for them."""
    price = price_of(model)
    if price is None:
        return None
    uncached = max(0, input_tokens - cached_tokens)
    written = min(cache_write_tokens, uncached)
    return (
        (uncached - written) * price.input + written * cache_write_price(model)
        + cached_tokens * price.cached_or_input + output_tokens * price.output
    ) / 1_000_000


def cache_write_cost(model: str, cache_write_tokens: int) -> float | None:
    """What the cache writes among a request's input cost, in USD at Batch prices (None: unknown)."""
    per_million = cache_write_price(model)
    return None if per_million is None else cache_write_tokens * per_million / 1_000_000


def format_cost(cost: float | None) -> str:
    return "unknown price" if cost is None else f"${cost:,.2f}"


def format_small_cost(cost: float | None) -> str:
    """A cost that may be below a cent, shown to two significant digits then ($0.0011)."""
    if cost is not None and 0 < cost < 0.01:
        return f"${cost:.2g}"
    return format_cost(cost)


def format_price(price: Price) -> str:
    def dollars(value: float) -> str:
        return f"${value:.2f}" if round(value, 2) == value else f"${value:g}"

    cached = "cached input not known" if price.cached_input is None else f"{dollars(price.cached_input)} cached input"
    return f"{dollars(price.input)} input, {cached}, {dollars(price.output)} output"


# --------------------------------------------------------------------------- results

# service_tier values in a result that mean the request was billed at Batch rates. OpenAI's
# chat.completion has no "batch" tier (openai 3.57, types/chat/chat_completion.py: auto, default,
# flex, scale, priority, fast), and the real Batch API output lines this project keeps as test
# data carry "default" or no tier at all. "flex" is billed at Batch rates. Anything else
# ("priority", "scale", ...) was served, and billed, at another tier.
BATCH_RATE_TIERS = frozenset({None, "default", "batch", "flex"})


def billed_at_batch_rates(service_tier: str | None) -> bool:
    return service_tier in BATCH_RATE_TIERS


# --------------------------------------------------------------------------- flex

# Flex (service_tier "flex" on Chat Completions) is billed at Batch prices (OpenAI's flex guide,
# developers.openai.com/api/docs/guides/flex-processing: "Tokens are priced at Batch API rates").
# A flex request the API served at another tier ("default": standard processing) was billed at
# that tier: standard prices are twice the catalogue's Batch prices (the model pages: "Batch and
# Flex prices are 50% lower"); a dearer tier ("priority") is counted at standard, a lower bound.
FLEX_TIER = "flex"
STANDARD_TO_BATCH = 2.0


def supports_flex(model: str) -> bool | None:
    """Whether ``model`` takes service_tier "flex", per the catalogue (None: not known, try it)."""
    return lookup(model).flex


def answer_cost(
    model: str, input_tokens: int, output_tokens: int, cached_tokens: int, service_tier: str | None,
    cache_write_tokens: int = 0,
) -> float | None:
    """USD for one answer to a flex request: Batch prices when flex served it (or the answer does
    not say), standard prices when another tier did; None when the model's price is unknown."""
    cost = batch_cost(model, input_tokens, output_tokens, cached_tokens, cache_write_tokens)
    if cost is None or service_tier in (FLEX_TIER, None):
        return cost
    return cost * STANDARD_TO_BATCH
