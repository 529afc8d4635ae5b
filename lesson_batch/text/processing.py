"""What a processing run did, in words: the processing report (``process_job.ProcessingSummary`` and
each ``report.Report``), which process_batch_results.py, the generate script's ``--wait`` and flex
runs all show.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from .. import models
from ..files import display_path
from ..process_job import ProcessingSummary
from ..report import Report
from ..result_files import safe_text
from ..wording import first_ids, is_are, plural, the_lessons
from ..workspace import NOT_OVERWRITTEN_DIR, REPLACED_DIR
from .status import describe, describe_attention

# --- The processing report -------------------------------------------------------------------------


def processing_lines(summary: ProcessingSummary) -> list[str]:
    commands, total = summary.commands, summary.total
    lines = [line for report in summary.reports for line in format_report(report)]
    if len(summary.reports) > 1:
        lines.extend(format_report(total))
    if not summary.reports:
        lines.append("No finished batch is waiting to be processed." if not summary.errors else
                     "Nothing was processed: the API could not tell which batches have finished (see the error "
                     "above).")
    now = time.time()
    if summary.not_ready:
        lines.append("Not finished yet" + (" (as the ledger last saw them):" if summary.errors else ":"))
        for batch in summary.not_ready:
            lines.extend(describe(batch, now, commands))
    if summary.lost:
        lines.append("Not found for this API key and project (nothing to process; the other batches are "
                     "processed):")
        for batch in summary.lost:
            lines.extend(describe(batch, now, commands))
    left, interrupted = summary.left, summary.interrupted
    if left:
        again = summary.again
        step = f"run {again.command} to request {the_lessons(len(again.lessons))} again" if again else (
            "no plain run requests them (see check_batch_status.py --lessons)")
        lines.append(f"{plural(len(left), 'lesson')} {is_are(len(left))} not saved and in no batch "
                     f"({first_ids(left)}); {step}.")
    if interrupted:
        lines.append(
            f"{plural(len(interrupted), 'lesson')} ({first_ids(interrupted)}) {is_are(len(interrupted))} in a "
            "submission an interrupted run left unfinished (its batch may exist already); "
            f"run {commands.request(interrupted)} to finish it: it adopts that batch rather than paying twice.")
    lines.extend(describe_attention(summary.attention, commands))
    if total.bad_lines:
        lines.append(f"{plural(len(total.bad_lines), 'result line')} could not be used (listed above).")
    return lines


# What a line of the other API than its batch's means (see ``result_files.wrong_api``).
WRONG_API_WORDS = {
    "responses_object": "their lines are Responses API objects, but their batch was sent to /v1/chat/completions",
    "chat_object": "their lines are Chat Completions objects, but their batch was sent to /v1/responses",
}
_BATCH_USAGE_WORDS = {
    "input_tokens": "input", "cached_tokens": "cached input", "output_tokens": "output",
    "reasoning_tokens": "reasoning",
}


def format_report(report: Report) -> list[str]:
    """What a batch's (or a results file's, or a flex run's) processing did, in lines."""
    saved = len(report.saved) + len(report.replaced)
    replaced_in = f"{display_path(Path(report.replaced_in or REPLACED_DIR))}/"
    lines = [f"{report.label}:", f"  saved: {saved}" + (
        f" ({len(report.replaced)} replaced older files, kept in {replaced_in})" if report.replaced else "")]
    if report.kept_existing:
        kept_in = f"{display_path(Path(report.kept_in or NOT_OVERWRITTEN_DIR))}/"
        lines.append(
            f"  skipped, a lesson file already exists: {len(report.kept_existing)} "
            f"(new versions kept in {kept_in}; use --force to overwrite)"
        )
    if report.already_done:
        lines.append(f"  already processed before: {len(report.already_done)}")
    lines.extend(_not_saved_lines(report))
    if report.bad_lines:
        lines.append(f"  lines skipped: {len(report.bad_lines)}")
        lines.extend(f"    {entry}" for entry in report.bad_lines[:20])
        if len(report.bad_lines) > 20:
            lines.append(f"    ... and {len(report.bad_lines) - 20} more (see --json)")
    for tier, lesson_ids in sorted(report.other_tiers.items(), key=lambda item: str(item[0])):
        lines.append(
            f"  served at service tier {tier!r}, not at Batch rates (the 50% discount did not apply): "
            f"{len(lesson_ids)}: {first_ids(sorted(lesson_ids))}"
        )
    lines.extend(_cost_lines(report))
    lines.extend(describe_batch_usage(report))
    return lines


def _not_saved_lines(report: Report) -> Iterable[str]:
    for reason, lesson_ids in sorted(report.failed.items()):
        yield f"  not saved ({reason}): {len(lesson_ids)}: {first_ids(sorted(lesson_ids))}"
        if reason in WRONG_API_WORDS:
            yield f"    {WRONG_API_WORDS[reason]}; they are requested again by the next run"
        if reason == "refusal":
            yield from (f"    {lesson_id} refused: {safe_text(report.refusals[lesson_id], 200)}"
                        for lesson_id in sorted(lesson_ids)[:10] if lesson_id in report.refusals)
    yield from (f"    {lesson_id}: {problem}" for lesson_id, problem in sorted(report.path_problems.items()))
    if report.missing:
        yield f"  missing from the results: {len(report.missing)}: {first_ids(report.missing)}"


def _cost_lines(report: Report) -> list[str]:
    usage = report.usage
    if not (usage.prompt_tokens or usage.completion_tokens):
        return []
    written = f", {usage.cache_write_tokens:,} written to the prompt cache" if usage.cache_write_tokens else ""
    writes = (
        f", of which cache writes {models.format_small_cost(report.cache_write_cost)}"
        if usage.cache_write_tokens else ""
    )
    estimated = (f" (estimated before submitting: {models.format_cost(report.estimated_cost)})"
                 if report.estimated_cost is not None else "")
    return [
        f"  tokens: {usage.prompt_tokens:,} input ({usage.cached_tokens:,} cached{written}), "
        f"{usage.completion_tokens:,} output ({usage.reasoning_tokens:,} reasoning)",
        f"  cost at Batch prices: {models.format_cost(report.actual_cost)}{writes}{estimated}{_charged_before(report)}",
    ]


def _charged_before(report: Report) -> str:
    """Processing charges nothing: the tokens are what the requests cost when they ran. Said when
    some of them were processed before, so the cost does not read like a new charge."""
    if not report.already_done:
        return ""
    counted = (len(report.saved) + len(report.replaced) + len(report.kept_existing) + len(report.already_done)
               + report.failed_count)
    if len(report.already_done) == counted:
        return "; paid when these requests ran, all processed before: processing them again charges nothing"
    return (
        f"; paid when these requests ran, {plural(len(report.already_done), 'lesson')} of them processed before: "
        "processing charges nothing"
    )


def describe_batch_usage(report: Report) -> list[str]:
    """The batch's own usage against the sum of its lines, in plain words (none without one)."""
    used = report.batch_usage
    if used is None or not report.batch_usage_complete:
        return []
    lines = [
        f"  the batch's own usage (what OpenAI bills): {used.get('input_tokens', 0):,} input "
        f"({used.get('cached_tokens', 0):,} cached), {used.get('output_tokens', 0):,} output "
        f"({used.get('reasoning_tokens', 0):,} reasoning)"
    ]
    difference = report.batch_usage_difference
    if not difference:
        lines.append("    it matches the sum of the batch's result lines")
        return lines
    parts = [
        f"{abs(delta):,} {'more' if delta > 0 else 'fewer'} {_BATCH_USAGE_WORDS[name]} tokens"
        for name, delta in difference.items()
    ]
    lines.append(
        f"    it differs from the sum of the batch's result lines: the batch counts {', '.join(parts)} "
        f"than its lines; by the batch's figures it costs {models.format_cost(report.batch_usage_cost)} at Batch "
        f"prices, against {models.format_cost(report.actual_cost)} by its lines. The bill follows the batch's "
        "figures; lines that could not be read (see above) are one reason they can differ"
    )
    return lines


