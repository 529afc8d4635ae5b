"""The run ledger's schema, and the numbered migrations that bring an older ledger up to it.

A ledger records its schema version in ``meta.schema_version``. Versions only move forward:
each entry of ``MIGRATIONS`` takes a ledger from the version before it to its own, and all that
a ledger needs are applied on open, inside one transaction, after a copy of the file is kept
as ``ledger.sqlite3.bak-v<N>``. A ledger made by a newer version of the tool is refused.

Versions shipped:

1. the first release (shards, batches, lessons; results of the ledger's "first" batch under the
   plain names ``datagov_lessons_results.jsonl`` / ``datagov_lessons_errors.jsonl``);
2. flex runs and their answers (tables ``flex_runs``, ``flex_answers``); each batch records the
   names of its downloaded result files (``results_file``, ``errors_file``), and the ledger
   remembers the API address and the course it belongs to (``meta``: ``api_base_url``,
   ``curriculum``, ``template``, ``output_dir``);
3. additive steps only (see ``V3_STEPS``): true costs (each flex answer's prompt-cache writes,
   ``flex_answers.cache_write_tokens``, and each batch's own ``usage`` as the API reported it,
   ``batches.api_usage``, JSON); the effort each flex request was sent with
   (``flex_answers.reasoning_effort``; a batch's are in ``shard_lessons``); a batch the API no longer
   knows can be given up (``batches.given_up_at``); each saved lesson records the folder it was
   saved in (``lessons.saved_in``);
   each shard and batch records its endpoint (``endpoint``: ``/v1/chat/completions`` or
   ``/v1/responses``; an older ledger's are all Chat Completions, the only endpoint earlier
   versions used).

A migration fills in what an old ledger lacks from what the old version did, and says once what
it assumed, so that batches already paid for are followed and processed, and never paid twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from .. import ids
from ..errors import LessonBatchError
from ..workspace import ERRORS_STEM, RESULTS_STEM

SCHEMA_VERSION = 3

# Lessons sent straight to Chat Completions with service_tier "flex" (added in version 2).
FLEX_TABLES = """
CREATE TABLE flex_runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    requested INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    stop_reason TEXT
);
CREATE TABLE flex_answers (
    run_id TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    service_tier TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL
);
CREATE INDEX flex_answers_by_run ON flex_answers (run_id);
"""

# Added in version 3 (``_cache_write_tokens_of_flex_answers``, ``_batch_usage_from_the_api``,
# ``_effort_of_flex_answers``).
FLEX_CACHE_WRITES_COLUMN = "ALTER TABLE flex_answers ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0"
BATCH_API_USAGE_COLUMN = "ALTER TABLE batches ADD COLUMN api_usage TEXT"
FLEX_EFFORT_COLUMN = "ALTER TABLE flex_answers ADD COLUMN reasoning_effort TEXT"

# The newest schema, for a ledger created from scratch.
SCHEMA = FLEX_TABLES + """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE shards (
    shard_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    input_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    required_sections TEXT NOT NULL,
    state TEXT NOT NULL,
    file_id TEXT,
    batch_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE shard_lessons (
    shard_key TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    max_completion_tokens INTEGER NOT NULL,
    reasoning_effort TEXT,
    PRIMARY KEY (shard_key, lesson_id)
);
CREATE TABLE batches (
    batch_id TEXT PRIMARY KEY,
    shard_key TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    input_file_id TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
    request_total INTEGER NOT NULL DEFAULT 0,
    request_completed INTEGER NOT NULL DEFAULT 0,
    request_failed INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    created_at REAL,
    expires_at REAL,
    prompt_tokens_estimate INTEGER NOT NULL DEFAULT 0,
    output_tokens_estimate INTEGER NOT NULL DEFAULT 0,
    checked_at REAL,
    processed_at REAL,
    usage TEXT,
    results_file TEXT,
    errors_file TEXT
);
CREATE TABLE lessons (
    lesson_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    batch_id TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_budget INTEGER,
    retry_effort TEXT,
    output_tokens INTEGER,
    force INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX lessons_by_batch ON lessons (batch_id);
"""

# The names version 1 gave the result files of the ledger's first batch (later ones: ``_<batch id>``).
V1_PLAIN_RESULTS = "datagov_lessons_results.jsonl"
V1_PLAIN_ERRORS = "datagov_lessons_errors.jsonl"


class SchemaError(LessonBatchError):
    """The ledger's schema version cannot be used by this version of the tool."""


@dataclass(frozen=True)
class Assumptions:
    """What the run opening an old ledger knows, for the facts the ledger lacks.

    Each value is what the older version would have used for that run: the environment's
    ``OPENAI_BASE_URL``, the folders given on the command line, and the lessons folder where the
    ledger's saved lessons are. None: the run cannot know (a curriculum or template it was not
    given); the fact is left unknown for a run that is given it, never filled with a default.
    """

    api_base_url: str | None = None
    curriculum: str | None = None
    template: str | None = None
    output_dir: str | None = None


def statements(script: str) -> Iterator[str]:
    for statement in script.split(";"):
        if statement.strip():
            yield statement.strip()


def version_of(db: sqlite3.Connection) -> int | None:
    """The ledger's schema version; None for an empty database (a new ledger)."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        raise SchemaError(f"unreadable schema version {row[0]!r}") from None


def create(db: sqlite3.Connection) -> None:
    for statement in statements(SCHEMA):
        db.execute(statement)
    for step in V3_STEPS:  # the newest schema: the additive steps of version 3 too
        step(db, Path("."), Assumptions())
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def check_supported(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"it was made by a newer version of this tool (ledger schema {version}; this version knows "
            f"up to {SCHEMA_VERSION}); upgrade this tool (git pull) and run again"
        )
    if version < 1:
        raise SchemaError(f"unknown ledger schema {version}")


def migrate(db: sqlite3.Connection, version: int, work_dir: Path, assumed: Assumptions) -> list[str]:
    """Apply every migration after ``version``, in order, on ``db`` (inside the caller's
    transaction). Returns what was assumed, one sentence each, for the user."""
    notes: list[str] = []
    for target in range(version + 1, SCHEMA_VERSION + 1):
        notes.extend(MIGRATIONS[target](db, Path(work_dir), assumed))
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    return notes


# --------------------------------------------------------------------------- 1 -> 2


def _to_v2(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    db.execute("ALTER TABLE batches ADD COLUMN results_file TEXT")
    db.execute("ALTER TABLE batches ADD COLUMN errors_file TEXT")
    for statement in statements(FLEX_TABLES):
        db.execute(statement)
    notes = _assign_v1_result_files(db, work_dir)
    notes.extend(_reopen_batches_processed_without_their_files(db, work_dir))
    notes.extend(_remember_api_and_course(db, assumed))
    return notes


def _assign_v1_result_files(db: sqlite3.Connection, work_dir: Path) -> list[str]:
    """Record which downloaded file belongs to which batch.

    Version 1 named the files of whichever batch sorted first by (created_at, batch_id) with the
    plain names, and every other batch's with its id as a suffix. The order could change after
    the fact (``created_at`` is in whole seconds), so the plain files are matched to their batch
    by what they hold: the batch whose requests include every ``custom_id`` in the file.
    """
    notes = []
    requested = _requests_by_batch(db)
    for column, stem, plain in (
        ("results_file", RESULTS_STEM, V1_PLAIN_RESULTS),
        ("errors_file", ERRORS_STEM, V1_PLAIN_ERRORS),
    ):
        for batch_id in requested:
            suffixed = f"{stem}_{batch_id}.jsonl"
            if (work_dir / suffixed).is_file():
                db.execute(f"UPDATE batches SET {column} = ? WHERE batch_id = ?", (suffixed, batch_id))
        if not (work_dir / plain).is_file():
            continue
        custom_ids = _custom_ids(work_dir / plain)
        taken = {row[0] for row in db.execute(f"SELECT batch_id FROM batches WHERE {column} IS NOT NULL")}
        owners = [
            batch_id for batch_id, lesson_ids in requested.items()
            if batch_id not in taken and custom_ids and custom_ids <= lesson_ids
        ]
        if not owners:
            notes.append(
                f"{plain} matches no batch in the ledger; it is kept as it is and not read again "
                "(process it by hand with process_batch_results.py --results-file if you need to)"
            )
            continue
        owner = owners[0]  # the requests of several batches can overlap (retries): the oldest is the one v1 named first
        db.execute(f"UPDATE batches SET {column} = ? WHERE batch_id = ?", (plain, owner))
        also = f" (it also fits {', '.join(owners[1:])}; the oldest was taken)" if len(owners) > 1 else ""
        notes.append(f"{plain} holds results of batch {owner}, judged by the lesson ids it contains{also}")
    return notes


def _requests_by_batch(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Each batch's requested lessons, oldest batch first."""
    requested: dict[str, set[str]] = {}
    rows = db.execute(
        "SELECT b.batch_id, sl.lesson_id FROM batches b LEFT JOIN shard_lessons sl ON sl.shard_key = b.shard_key "
        "ORDER BY b.created_at, b.batch_id"
    )
    for batch_id, lesson_id in rows:
        lessons = requested.setdefault(batch_id, set())
        if lesson_id is not None:
            lessons.add(lesson_id)
    return requested


def _custom_ids(path: Path) -> set[str]:
    found = set()
    with open(path, "rb") as handle:
        for raw in handle:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
                found.add(line["custom_id"])
    return found


def _reopen_batches_processed_without_their_files(db: sqlite3.Connection, work_dir: Path) -> list[str]:
    """Version 1 could process a batch with another batch's plain-named file: it then skipped its
    own download and marked all its lessons ``missing``. Such a batch is opened again, so its own
    results are downloaded and applied instead of its lessons being paid for a second time."""
    notes = []
    rows = db.execute(
        "SELECT batch_id, output_file_id, results_file FROM batches "
        "WHERE processed_at IS NOT NULL AND status IN ('completed', 'expired', 'cancelled') "
        "AND output_file_id IS NOT NULL AND results_file IS NULL ORDER BY created_at, batch_id"
    ).fetchall()
    for batch_id, _output_file_id, _results_file in rows:
        missing = db.execute(
            "SELECT COUNT(*) FROM lessons WHERE batch_id = ? AND state = 'missing'", (batch_id,)
        ).fetchone()[0]
        if not missing:
            continue
        db.execute("UPDATE batches SET processed_at = NULL WHERE batch_id = ?", (batch_id,))
        db.execute(
            "UPDATE lessons SET state = 'submitted', reason = NULL WHERE batch_id = ? AND state = 'missing'",
            (batch_id,),
        )
        notes.append(
            f"batch {batch_id} was processed without its own results file ({missing} lessons marked missing); "
            "its results will be downloaded and processed again instead of its lessons being paid twice"
        )
    return notes


def _remember_api_and_course(db: sqlite3.Connection, assumed: Assumptions) -> list[str]:
    notes = []
    if assumed.output_dir is not None and not _holds_saved_lessons(db, Path(assumed.output_dir)):
        notes.append(
            f"the lessons folder of this ledger's job is not known (its saved lessons are not in "
            f"{assumed.output_dir}); give --output-dir to process_batch_results.py"
        )
        assumed = replace(assumed, output_dir=None)
    facts = (
        ("api_base_url", assumed.api_base_url, "the API address"),
        ("curriculum", assumed.curriculum, "the curriculum"),
        ("template", assumed.template, "the prompt template"),
        ("output_dir", assumed.output_dir, "the lessons folder"),
    )
    for key, value, what in facts:
        if value is None:
            continue
        inserted = db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value)).rowcount
        if inserted:
            notes.append(f"{what} of this ledger's job is taken to be {value}")
    return notes


def _holds_saved_lessons(db: sqlite3.Connection, folder: Path) -> bool:
    """Whether ``folder`` is where the lessons recorded as saved are (true when none are yet)."""
    saved = [row[0] for row in db.execute("SELECT lesson_id FROM lessons WHERE state = 'succeeded' LIMIT 20")]
    return not saved or any(os.path.exists(ids.lesson_file(folder, lesson_id)) for lesson_id in saved)


# --------------------------------------------------------------------------- 2 -> 3
# Additive steps only, each its own function: they are run in order by ``_to_v3``.


def _cache_write_tokens_of_flex_answers(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """Prompt-cache writes of each flex answer (0 for answers recorded before: not read then)."""
    db.execute(FLEX_CACHE_WRITES_COLUMN)
    return []


def _batch_usage_from_the_api(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """The batch object's own ``usage`` (the bill), stored as the API reports it (NULL: not seen)."""
    db.execute(BATCH_API_USAGE_COLUMN)
    return []


def _effort_of_flex_answers(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """The reasoning effort each flex request was sent with (NULL: the model's default, or not recorded)."""
    db.execute(FLEX_EFFORT_COLUMN)
    return []


def _lost_batches_can_be_given_up(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """A batch the API answers 404 for (another key or project, a local server started again)
    can be given up by the user: its lessons may then be requested again."""
    db.execute("ALTER TABLE batches ADD COLUMN given_up_at REAL")
    return []


def _saved_lessons_record_their_folder(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """Each saved lesson records the lessons folder it was saved in, so a run with another folder
    (or after the files were moved) can say where they are instead of paying for them again. Lessons
    saved before are taken to be in the folder the ledger remembers."""
    db.execute("ALTER TABLE lessons ADD COLUMN saved_in TEXT")
    db.execute(
        "UPDATE lessons SET saved_in = (SELECT value FROM meta WHERE key = 'output_dir') WHERE state = 'succeeded'"
    )
    return []


def _batch_endpoints(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    """Each shard and batch records the endpoint its requests went to; every earlier one went to
    Chat Completions, so that is the default."""
    for table in ("shards", "batches"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN endpoint TEXT NOT NULL DEFAULT '/v1/chat/completions'")
    return []


V3_STEPS: list[Callable[[sqlite3.Connection, Path, Assumptions], list[str]]] = [
    _cache_write_tokens_of_flex_answers,
    _batch_endpoints,
    _batch_usage_from_the_api,
    _effort_of_flex_answers,
    _lost_batches_can_be_given_up,
    _saved_lessons_record_their_folder,
]


def _to_v3(db: sqlite3.Connection, work_dir: Path, assumed: Assumptions) -> list[str]:
    notes: list[str] = []
    for step in V3_STEPS:
        notes.extend(step(db, work_dir, assumed))
    return notes


MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path, Assumptions], list[str]]] = {2: _to_v2, 3: _to_v3}
