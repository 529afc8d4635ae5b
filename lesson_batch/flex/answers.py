"""Flex, the answers kept on disk, and settling: finishing what an interrupted flex run left.

Each answer a flex run receives is appended to the run's answers file in the work dir
(``Workspace.flex_answers``) before its lesson is written: one line per answer, the batch output
line that would hold it plus how its lesson was requested (``answer_line``). A run that dies
leaves its in-flight lessons ``flex`` in the ledger; the next run, under the submission lock (so
no flex run is going), settles them (``settle_interrupted_flex``): an answer kept on disk is
processed from there, never asked for again; any other lesson is saved when its file was written,
else pending again, and may have been paid already.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .. import ids
from ..api import ChatReply
from ..batch_info import CHAT_ENDPOINT
from ..ledger import DEFAULT_MAX_ATTEMPTS, Ledger, NotSaved
from ..report import Report
from ..result_files import BadLine, result_of_response
from ..saving import AnswerRecorder, Expected, Processing
from ..states import FLEX, INVALID
from ..workspace import Workspace
from .send import FlexRequest


@dataclass
class Settled:
    """What settling the flex runs that stopped before finishing did (``settle_interrupted_flex``)."""

    kept: list[str] = field(default_factory=list)  # lessons whose answer they kept on disk: processed now
    kept_report: Report | None = None  # what processing those answers did
    released: list[str] = field(default_factory=list)  # in flight with no answer kept: may have been paid
    saved: list[str] = field(default_factory=list)  # of those, recorded as saved: their file was written
    runs: str = ""  # the runs that left ``released`` in flight


def answer_line(
    run_id: str, model: str, request: FlexRequest, reply: ChatReply, sections, force: bool, endpoint: str
) -> bytes:
    """A received answer as a line of the run's answers file: the batch output line that would hold
    it, plus how its lesson was requested (what processing it needs, on a later run too)."""
    record = {
        "custom_id": request.lesson_id, "run_id": run_id, "model": model, "budget": request.budget,
        "effort": request.effort, "required_sections": list(sections), "force": force, "endpoint": endpoint,
        "response": {"status_code": reply.status, "body": reply.body},
    }
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def kept_answers(workspace: Workspace, run_ids: set[str], lesson_ids: set[str]) -> dict[str, dict]:
    """The answers ``run_ids`` kept on disk for ``lesson_ids`` (the last one of each lesson); a
    line cut short by a crash is skipped."""
    found: dict[str, dict] = {}
    for run_id in sorted(run_ids):
        path = workspace.flex_answers(run_id)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            continue
        with handle:
            for raw in handle:
                try:
                    record = json.loads(raw)
                    lesson_id = record["custom_id"]
                    record["response"]["body"]
                except (ValueError, KeyError, TypeError):
                    continue
                if lesson_id in lesson_ids and record.get("run_id") == run_id:
                    found[lesson_id] = record
    return found


def settle_interrupted_flex(ledger: Ledger, output_dir) -> Settled:
    """Lessons a dead flex run left in flight (call it holding the submission lock, so no flex run
    is going): processed from their answer when the run kept it on disk; otherwise saved when their
    file was written (a lesson asked for without --force had no file when it was sent), else pending
    again. ``released`` are those with no answer kept: they may have been paid already."""
    left = sorted(ledger.in_flight_lessons(FLEX), key=ids.sort_key)
    for run in ledger.flex_runs():
        if run.finished_at is None:
            ledger.flex_run_finished(run.run_id, "stopped before finishing")
    settled = Settled()
    if not left:
        return settled
    settled.kept, settled.kept_report = _save_kept_answers(ledger, output_dir, left)
    left = [lesson_id for lesson_id in left if lesson_id not in settled.kept]
    if not left:
        return settled
    records = ledger.lessons(left)
    saved = [
        lesson_id for lesson_id in left
        if not records[lesson_id].force and os.path.exists(ids.lesson_file(output_dir, lesson_id))
    ]
    runs = ", ".join(sorted({records[lesson_id].batch_id or "?" for lesson_id in left}))
    ledger.release_flex_lessons(
        left, f"in flight by {runs} when it stopped: its request may have been paid already", saved
    )
    settled.released, settled.saved, settled.runs = left, saved, runs
    return settled


def _save_kept_answers(ledger: Ledger, output_dir, left: list[str]) -> tuple[list[str], Report | None]:
    """Lessons left in flight whose answer the run kept on disk: processed now from that answer
    (saved, or marked with why not), never asked for again. Returns them, and their report."""
    if ledger.workspace is None:
        return [], None
    records = ledger.lessons(left)
    kept = kept_answers(ledger.workspace, {records[lesson_id].batch_id or "" for lesson_id in left}, set(left))
    if not kept:
        return [], None
    report = Report(label="answers kept by an earlier flex run")
    recorder = AnswerRecorder(Processing.of(ledger, output_dir, ledger.workspace.root), report)
    for lesson_id in sorted(kept, key=ids.sort_key):
        record = kept[lesson_id]
        item = result_of_response(lesson_id, record["response"]["status_code"], record["response"]["body"])
        if isinstance(item, BadLine):
            report.fail("unreadable answer", lesson_id)
            recorder.flush()
            ledger.lessons_not_saved(
                [NotSaved(lesson_id, record["run_id"], INVALID, f"unreadable answer: {item.reason}")],
                ledger.max_attempts(DEFAULT_MAX_ATTEMPTS),
            )
            continue
        recorder.apply(item, Expected(
            batch_id=record["run_id"], model=record["model"], budget=record["budget"], effort=record["effort"],
            required_sections=tuple(record["required_sections"]), force=bool(record["force"]),
            endpoint=record.get("endpoint", CHAT_ENDPOINT),
        ))
    recorder.flush()
    return sorted(kept, key=ids.sort_key), report
