"""Where things are by default: the project folder, the bundled course, the work dir.

The default lessons folder follows the curriculum: ``lessons/`` beside the curriculum file (for
the bundled course, ``src/data/data_gov/lessons``), so two courses never share one.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CURRICULUM = PROJECT_DIR / "src" / "data" / "data_gov" / "Content Structure.md"
DEFAULT_TEMPLATE = PROJECT_DIR / "prompts" / "lesson_generation_prompt.md"
DEFAULT_WORK_DIR = PROJECT_DIR / "batch_api"
LESSONS_FOLDER_NAME = "lessons"


def default_output_dir(curriculum: Path) -> Path:
    """The lessons folder of a curriculum when none is given: ``lessons/`` beside it."""
    return Path(curriculum).resolve().parent / LESSONS_FOLDER_NAME


DEFAULT_OUTPUT_DIR = default_output_dir(DEFAULT_CURRICULUM)
