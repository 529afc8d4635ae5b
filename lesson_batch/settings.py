"""What a work dir belongs to: one API and one course, and the folders it remembers.

A work dir's ledger records, in its ``meta`` table, the first time a submitting run uses it:

- ``api_base_url``: the API its batches live on (``OPENAI_BASE_URL``, else the OpenAI API's
  address); never the key;
- ``curriculum``, ``template``, ``output_dir``: absolute paths of the course, the prompt template
  and the lessons folder.

Later runs use these when they are not told otherwise, so the status and processing scripts
need no options, and a suggested next command works as printed. A run with another API or
another curriculum is refused (its batches or lessons would be mixed with this work dir's); it
belongs in another ``--work-dir``. Another template or lessons folder is honoured with a note,
and a submitting or processing run remembers it from then on. A ledger that has never submitted
anything belongs to nobody yet and takes whatever the run uses. A ledger that lacks a key (the
upgrade from an older version could not tell) adopts the current value, and the run says so
once; except the curriculum and the lessons folder, which are never guessed: a wrong guess would
bind the work dir to another course, or request again every lesson saved elsewhere. A run that
needs the lessons folder asks for it (``--output-dir``). A curriculum stays unknown until a run
given ``--curriculum`` records it; meanwhile a run naming none uses the bundled course without
recording it if every lesson of the ledger is in it, and asks for ``--curriculum`` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .api import DEFAULT_BASE_URL
from .curriculum import load_curriculum
from .defaults import DEFAULT_CURRICULUM, DEFAULT_TEMPLATE, default_output_dir
from .errors import LessonBatchError
from .files import display_path
from .ledger import Ledger

API_BASE_URL, CURRICULUM, TEMPLATE, OUTPUT_DIR = "api_base_url", "curriculum", "template", "output_dir"

_SHOWN = {API_BASE_URL: "API", CURRICULUM: "curriculum", TEMPLATE: "prompt template", OUTPUT_DIR: "lessons folder"}


class WorkDirError(LessonBatchError):
    """A run that does not belong in this work dir (another API or another course)."""


@dataclass
class Settings:
    """The values a run uses, what the ledger should remember, and the notes to show."""

    values: dict[str, str] = field(default_factory=dict)
    remember: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def path(self, key: str) -> Path:
        return Path(self.values[key])


def resolve_settings(
    work_dir: Path,
    meta: dict[str, str],
    used: bool,
    given: dict[str, object | None],
    *,
    record: bool = True,
    bundled_course_fits: Callable[[], bool] = lambda: True,
) -> Settings:
    """Decide the API, course and folders of a run from what it was given and what the ledger
    remembers (``meta``; ``used``: the ledger has submitted before).

    ``given`` maps the keys this run cares about to the value it was given (``None``: not
    given). A dry run (``record=False``) changes nothing and is only told what would change.
    Raises ``WorkDirError`` for another API or another curriculum, and for a used ledger that
    does not record its curriculum when the run names none and ``bundled_course_fits()`` says
    the ledger's lessons cannot be the bundled course's.
    """
    settings = Settings()
    adopted = []
    for key in (API_BASE_URL, CURRICULUM, TEMPLATE, OUTPUT_DIR):
        if key not in given:
            continue
        value = given[key]
        remembered = meta.get(key)
        if value is None and remembered is None and used:
            if _neither_given_nor_recorded(work_dir, key, settings, bundled_course_fits):
                continue
        if value is None:
            value = remembered if remembered is not None else _default(key, {**meta, **settings.values})
        value = _normal(key, value)
        settings.values[key] = value
        if remembered is None:
            settings.remember[key] = value
            if used:
                adopted.append(key)
        elif remembered != value:
            _switch(work_dir, key, remembered, value, used=used, record=record, settings=settings)
    if adopted and record:
        listed = "; ".join(f"{_SHOWN[key]} {_shown(key, settings.values[key])}" for key in adopted)
        settings.notes.append(
            f"note: the ledger in {display_path(work_dir)} did not record what it belongs to (an older version "
            f"made it); it now records: {listed}."
        )
    if not record:
        settings.remember = {}
    return settings


def _neither_given_nor_recorded(
    work_dir: Path, key: str, settings: Settings, bundled_course_fits: Callable[[], bool]
) -> bool:
    """A used ledger that does not record ``key`` (an older version made it), and a run not given
    it: refuse where a guess could cost (the lessons folder, a course that is not the bundled one);
    True when the run goes on with the bundled course without recording it, False to take the
    default as usual."""
    if key == OUTPUT_DIR:
        # A ledger upgraded from an older version whose saved lessons were not found in the
        # default folder: guessing would re-request (and pay for) every lesson saved elsewhere.
        raise WorkDirError(
            f"the ledger in {display_path(work_dir)} does not record its lessons folder (it was made by an "
            "older version, and its saved lessons are not in the default folder): give --output-dir once; "
            "it is remembered from then on"
        )
    if key != CURRICULUM:
        return False
    if not bundled_course_fits():
        # A ledger upgraded by a run that did not know the course, whose lessons are not all the
        # bundled course's: the bundled one would be a wrong guess, binding this work dir (and
        # its history) to another course.
        raise WorkDirError(
            f"the ledger in {display_path(work_dir)} does not record its curriculum (an older version made "
            f"it), and its lessons are not all in the bundled one ({display_path(DEFAULT_CURRICULUM)}): give "
            "--curriculum once, the course its lessons came from; it is remembered from then on"
        )
    # The bundled course is possible but not known: this run uses it (the option's default,
    # as the older version did), and the ledger is left not knowing, for a run given
    # --curriculum to fill in.
    settings.values[key] = _normal(key, DEFAULT_CURRICULUM)
    settings.notes.append(
        f"note: the ledger in {display_path(work_dir)} does not record its curriculum (an older version made "
        f"it); this run uses the bundled one ({display_path(DEFAULT_CURRICULUM)}), as no --curriculum is "
        "given, without recording it: give --curriculum once, the course its lessons came from, to record it."
    )
    return True


def _switch(
    work_dir: Path, key: str, remembered: str, value: str, *, used: bool, record: bool, settings: Settings
) -> None:
    """A value given that differs from the one the ledger remembers: taken by a ledger that has not
    submitted yet; for a used one, refused for the API and the course, else taken with a note."""
    if not used:
        settings.remember[key] = value
        return
    if key in (API_BASE_URL, CURRICULUM):
        raise WorkDirError(_refusal(work_dir, key, remembered, value))
    settings.remember[key] = value
    new, old = _shown(key, value), _shown(key, remembered)
    settings.notes.append(
        f"note: {_SHOWN[key]} {new}, as given; this work dir used {old} until now and uses {new} from now on."
        if record
        else f"note: {_SHOWN[key]} {new}, as given; this work dir uses {old} (a run that is not a dry run "
        f"would switch it to {new})."
    )

def _default(key: str, values: dict[str, str]) -> str:
    if key == API_BASE_URL:
        return DEFAULT_BASE_URL
    if key == CURRICULUM:
        return str(DEFAULT_CURRICULUM)
    if key == TEMPLATE:
        return str(DEFAULT_TEMPLATE)
    return str(default_output_dir(Path(values.get(CURRICULUM, DEFAULT_CURRICULUM))))


def _normal(key: str, value: object) -> str:
    if key == API_BASE_URL:
        return str(value).strip().rstrip("/") or DEFAULT_BASE_URL
    return str(Path(str(value)).resolve())


def _shown(key: str, value: str) -> str:
    return value if key == API_BASE_URL else display_path(Path(value))


def _refusal(work_dir: Path, key: str, remembered: str, value: str) -> str:
    if key == API_BASE_URL:
        current = value if value != DEFAULT_BASE_URL else f"{value} (OPENAI_BASE_URL is not set)"
        return (
            f"the work dir {display_path(work_dir)} belongs to the API at {remembered}: its batches live there. "
            f"This run talks to {current}. Use another --work-dir for this API "
            f"(e.g. --work-dir {display_path(_sibling(work_dir, 'other_api'))}), or point OPENAI_BASE_URL back "
            f"at {remembered}."
        )
    return (
        f"the work dir {display_path(work_dir)} belongs to the curriculum {display_path(Path(remembered))}: its "
        f"ledger tracks that course's lessons. This run names {display_path(Path(value))}. Use another "
        f"--work-dir for it (e.g. --work-dir {display_path(_sibling(work_dir, Path(value).stem))})."
    )


def _sibling(work_dir: Path, name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "other"
    return Path(work_dir).with_name(f"{Path(work_dir).name}_{slug}")


def resolve_ledger_settings(
    ledger: Ledger | None, work_dir: Path, given: dict[str, object | None], record: bool = True
) -> Settings:
    """``settle`` against a ledger (none: a dry run in a fresh work dir), remembering what it
    decides when the run is one that records (not a dry run)."""
    if ledger is None:
        return resolve_settings(work_dir, {}, False, given, record=False)
    settings = resolve_settings(
        work_dir, ledger.meta(), ledger.has_submitted(), given, record=record,
        bundled_course_fits=lambda: _lessons_fit_the_bundled_course(ledger),
    )
    if settings.remember:
        ledger.set_meta(settings.remember)
    return settings


def remembered_path(ledger: Ledger, key: str) -> Path | None:
    value = ledger.meta().get(key)
    return Path(value) if value else None


def _lessons_fit_the_bundled_course(ledger: Ledger) -> bool:
    """Whether every lesson the ledger records is a lesson of the bundled course: the ledger's own
    lessons are the only evidence an upgraded ledger has of its course. Lessons outside it prove
    another course; lessons all inside it leave the bundled course possible (it was the older
    version's default, so a run that names no curriculum meant it then too)."""
    known = {lesson.id for lesson in load_curriculum(DEFAULT_CURRICULUM).lessons}
    return set(ledger.lessons()) <= known
