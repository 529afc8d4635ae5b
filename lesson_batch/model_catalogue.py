"""The dated model catalogue: what OpenAI says about each model, with where each fact was found.

Data only: one ``ModelInfo`` per model family in ``CATALOGUE`` (reasoning or not, accepted
``reasoning_effort`` values and the default, how it takes ``temperature``, maximum output tokens,
Batch prices, shutdown date and replacement, Batch and flex support), the lifecycle of dated
snapshots in ``SNAPSHOTS``, and the day it was checked, ``CATALOGUE_DATE``. The rules that read it
(the unknown-model rule, the truncation ladder, costs, lifecycle) are in ``models.py``, which every
other module asks: nothing else reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# The API's reasoning_effort values, lowest first (openai 3.57, types/shared/reasoning_effort.py).
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

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
