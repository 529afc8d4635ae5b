"""How counts and next-step commands are worded for the person reading them.

A next step is a command to copy and run as it is: when the run used another work dir than the
default, every suggested command carries ``--work-dir`` (the work dir remembers the rest: the
curriculum, the template and the lessons folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .files import display_path
from .paths import DEFAULT_WORK_DIR

GENERATE_SCRIPT = "generate_datagov_lessons_batch.py"
STATUS_SCRIPT = "check_batch_status.py"
PROCESS_SCRIPT = "process_batch_results.py"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 lesson``, ``2 lessons``, ``1,000 batches``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def quoted(text: str) -> str:
    """An argument as it would be typed in a shell (quoted only when it has to be)."""
    if text and not any(ch.isspace() or ch in "\"'$`&|;<>()*?#" for ch in text):
        return text
    if os.name == "nt":
        return f'"{text}"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True)
class Commands:
    """The three scripts as commands to run for one work dir."""

    work_dir: Path = DEFAULT_WORK_DIR

    @property
    def _suffix(self) -> str:
        try:
            default = Path(self.work_dir).resolve() == DEFAULT_WORK_DIR.resolve()
        except OSError:
            default = False
        return "" if default else f" --work-dir {quoted(display_path(self.work_dir))}"

    @property
    def generate(self) -> str:
        return f"python {GENERATE_SCRIPT}{self._suffix}"

    @property
    def status(self) -> str:
        return f"python {STATUS_SCRIPT}{self._suffix}"

    @property
    def process(self) -> str:
        return f"python {PROCESS_SCRIPT}{self._suffix}"
