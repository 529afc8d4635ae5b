"""The work dir's layout: where the run ledger, the request files, the downloaded results and the
lesson versions kept aside go. Every name inside a work dir is made here.

    ledger.sqlite3                          the run ledger (and .lock, .processing.lock, .bak-v<N>, beside it;
                                            .bak: its last good copy; .damaged-<time>: one set aside)
    datagov_lessons_input[_NNN].jsonl       the plan's request files (one per shard)
    submitted/<shard key or batch id>.jsonl a submitted request file, kept until its results are processed
    datagov_lessons_results_<batch id>.jsonl, datagov_lessons_errors_<batch id>.jsonl
                                            a batch's downloaded output and error files
    rejected/<lesson id>.md                 a generated lesson that failed its checks
    replaced/<lesson id>.<time>.md          a lesson file that --force overwrote
    not_overwritten/<lesson id>.md          a generated lesson not saved over an existing file
    flex/<flex run id>.jsonl                the answers a flex run received (paid), kept before processing
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LEDGER_NAME = "ledger.sqlite3"
INPUT_STEM = "datagov_lessons_input"
RESULTS_STEM, ERRORS_STEM = "datagov_lessons_results", "datagov_lessons_errors"
SUBMITTED_DIR = "submitted"
REJECTED_DIR = "rejected"
REPLACED_DIR = "replaced"
NOT_OVERWRITTEN_DIR = "not_overwritten"
FLEX_ANSWERS_DIR = "flex"


@dataclass(frozen=True)
class Workspace:
    """One work dir and the paths of what it holds."""

    root: Path

    def __init__(self, root: Path | str):
        object.__setattr__(self, "root", Path(root))

    # ----------------------------------------------------------------- the ledger

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / f"{LEDGER_NAME}.lock"

    @property
    def processing_lock_path(self) -> Path:
        """Held by the run processing results (one at a time)."""
        return self.root / f"{LEDGER_NAME}.processing.lock"

    @property
    def recovery_lock_path(self) -> Path:
        """Held while a lost or damaged ledger is replaced by its backup."""
        return self.root / f"{LEDGER_NAME}.recovery.lock"

    @property
    def rolling_backup(self) -> Path:
        """The last good copy of the ledger, renewed by every run that changed it."""
        return self.root / f"{LEDGER_NAME}.bak"

    def shows_earlier_use(self) -> bool:
        """Whether a run has submitted from here before (a ledger missing now was lost, not new):
        the submission lock file, the rolling backup, request files kept under ``submitted/``, or
        downloaded results."""
        return (
            self.lock_path.exists()
            or self.rolling_backup.exists()
            or any(self.submitted_inputs())
            or any(self.root.glob(f"{RESULTS_STEM}*.jsonl"))
        )

    def submitted_inputs(self) -> list[Path]:
        folder = self.root / SUBMITTED_DIR
        return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []

    def ledger_backup(self, version: int) -> Path:
        """Where an older ledger is kept before it is upgraded from schema ``version``."""
        return self.root / f"{LEDGER_NAME}.bak-v{version}"

    # ----------------------------------------------------------------- request files

    def input_file(self, index: int, count: int) -> Path:
        """A plan's request file: a single one keeps the plain name; several get a numbered suffix."""
        if count == 1:
            return self.root / f"{INPUT_STEM}.jsonl"
        return self.root / f"{INPUT_STEM}_{index + 1:03d}.jsonl"

    def input_files(self) -> list[Path]:
        """The request files a plan left (a later plan replaces them)."""
        return sorted(self.root.glob(f"{INPUT_STEM}*.jsonl"))

    def input_file_being_written(self, index: int) -> Path:
        """The name a request file is written under before it gets its final one."""
        return self.root / f"{INPUT_STEM}.shard{index + 1:03d}.jsonl"

    def submitted_input(self, name: str) -> Path:
        """Where a submitted request file is kept: ``submitted/<shard key or batch id>.jsonl``."""
        return self.root / SUBMITTED_DIR / f"{name}.jsonl"

    @staticmethod
    def is_submitted_input(path: Path | str) -> bool:
        """Whether a request file is kept under ``submitted/`` (an older version left them elsewhere)."""
        return Path(path).parent.name == SUBMITTED_DIR

    # ----------------------------------------------------------------- results

    @staticmethod
    def result_file_names(batch_id: str) -> tuple[str, str]:
        """The names a batch's output and error files are downloaded under: its own, by batch id."""
        return f"{RESULTS_STEM}_{batch_id}.jsonl", f"{ERRORS_STEM}_{batch_id}.jsonl"

    def file(self, name: str) -> Path:
        """A file the ledger records by its name inside the work dir (a batch's result files)."""
        return self.root / name

    def rejected(self, lesson_id: str) -> Path:
        return self.root / REJECTED_DIR / f"{lesson_id}.md"

    def replaced(self, lesson_id: str, stamp: str) -> Path:
        return self.root / REPLACED_DIR / f"{lesson_id}.{stamp}.md"

    def not_overwritten(self, lesson_id: str) -> Path:
        return self.root / NOT_OVERWRITTEN_DIR / f"{lesson_id}.md"

    def flex_answers(self, run_id: str) -> Path:
        """Where a flex run keeps each answer it received, one line each, before processing it."""
        return self.root / FLEX_ANSWERS_DIR / f"{run_id}.jsonl"
