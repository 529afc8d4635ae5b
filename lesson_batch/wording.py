"""How counts and next-step commands are worded for the person reading them.

A next step is a command to copy and run as it is, from the current folder: the script's path
as seen from there (the project's scripts find their defaults from the project, wherever they
are run from), ``--work-dir`` when the run used another work dir than the default (the work dir
remembers the rest: the curriculum, the template and the lessons folder), ``--output-dir`` when
the run used another lessons folder than the remembered one, and, for a command that requests
lessons, exactly those lessons (``request``; which lessons a step names is ``next_steps``').
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import ids, models
from .defaults import DEFAULT_WORK_DIR, PROJECT_DIR
from .files import display_path

GENERATE_SCRIPT = "generate_datagov_lessons_batch.py"
STATUS_SCRIPT = "check_batch_status.py"
PROCESS_SCRIPT = "process_batch_results.py"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 lesson``, ``2 lessons``, ``1,000 batches``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def first_ids(ids_: list[str], limit: int = 10) -> str:
    """The first ``limit`` ids of a list, joined by commas, with `` ...`` when there are more: how
    a long list of lessons or batches is shown in a sentence (``--json`` lists them all)."""
    return ", ".join(ids_[:limit]) + (" ..." if len(ids_) > limit else "")


def cost_format(cost: float, limit: float) -> Callable[[float], str]:
    """How to show a cost next to a limit: in cents unless they would hide the difference
    (--max-cost 0.001 is not "$0.00")."""
    precise = round(limit, 2) != limit or round(cost, 2) <= limit
    return (lambda value: f"${value:,.6g}") if precise else models.format_cost


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
    output_dir: Path | None = None  # a lessons folder other than the one the work dir remembers

    @property
    def _suffix(self) -> str:
        try:
            default = Path(self.work_dir).resolve() == DEFAULT_WORK_DIR.resolve()
        except OSError:
            default = False
        return "" if default else f" --work-dir {quoted(display_path(self.work_dir))}"

    @property
    def _lessons_folder(self) -> str:
        return "" if self.output_dir is None else f" --output-dir {quoted(display_path(self.output_dir))}"

    @property
    def generate(self) -> str:
        return f"python {script(GENERATE_SCRIPT)}{self._suffix}{self._lessons_folder}"

    @property
    def status(self) -> str:
        return f"python {script(STATUS_SCRIPT)}{self._suffix}"

    @property
    def process(self) -> str:
        return f"python {script(PROCESS_SCRIPT)}{self._suffix}{self._lessons_folder}"

    def request(self, lesson_ids, via: str | None = None) -> str:
        """The generate command that requests exactly ``lesson_ids`` (by ``--lessons``), through
        flex when ``via`` is "flex"."""
        listed = ",".join(sorted(lesson_ids, key=ids.sort_key))
        return f"{self.generate} --lessons {listed}" + (" --via flex" if via == "flex" else "")


def script(name: str) -> str:
    """A script of the project as a path to type from the current folder."""
    return quoted(display_path(PROJECT_DIR / name))
