"""Specification of the curriculum parser (lesson_batch.curriculum).

Every test writes a real curriculum file into tmp_path and reads it with ``load_curriculum``,
the way the scripts do.
"""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lesson_batch import ids
from lesson_batch.curriculum import (
    DEFAULT_CURRICULUM_NAME,
    CurriculumError,
    load_curriculum,
    parse_curriculum,
)
from tests.helpers import BUNDLED_CURRICULUM

SEPARATORS = ["—", "–", "-", ":"]


@pytest.fixture
def load(tmp_path):
    """Write ``content`` (text as UTF-8, or bytes as given) to a file and load it."""

    def _load(content: str | bytes, name: str = "Content Structure.md"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
        return load_curriculum(path)

    return _load


@pytest.fixture
def load_error(tmp_path):
    """Write ``content`` to a file, load it, and return the CurriculumError it must raise."""

    def _load_error(content: str | bytes, name: str = "broken.md") -> tuple[CurriculumError, str]:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        with pytest.raises(CurriculumError) as caught:
            load_curriculum(path)
        return caught.value, str(path)

    return _load_error


# --- module headers ---------------------------------------------------------------------------


def test_modules_m0_to_m14_are_read_in_file_order(load):
    text = "".join(f"# M{n}: Module {n}\n## L001: First of {n}\n" for n in range(15))
    curriculum = load(text)
    assert [module.code for module in curriculum.modules] == [f"M{n}" for n in range(15)]
    assert [module.title for module in curriculum.modules] == [f"Module {n}" for n in range(15)]


@pytest.mark.parametrize("number", [15, 120, 999])
def test_module_numbers_beyond_m14_are_accepted(load, number):
    curriculum = load(f"# M{number}: Later Module\n## L001: A Lesson\n")
    assert curriculum.modules[0].number == number
    assert curriculum.lessons[0].id == f"M{number}-L001"


def test_module_header_records_its_line(load):
    curriculum = load("# Course\n\n# M0: Intro\n## L001: A\n")
    assert curriculum.modules[0].line == 3


def test_module_description_is_the_text_between_the_module_header_and_its_first_lesson(load):
    curriculum = load("# M0: Intro\n\nWhat this module covers.\nSecond line.\n\n## L001: A\n")
    assert curriculum.modules[0].description == "What this module covers.\nSecond line."


@pytest.mark.parametrize("separator", SEPARATORS)
def test_module_header_accepts_each_separator(load, separator):
    curriculum = load(f"# M3 {separator} Data Quality\n## L001: A\n")
    assert (curriculum.modules[0].number, curriculum.modules[0].title) == (3, "Data Quality")


@pytest.mark.parametrize("separator", SEPARATORS)
def test_module_header_accepts_each_separator_without_spaces_around_it(load, separator):
    curriculum = load(f"# M3{separator}Data Quality\n## L001: A\n")
    assert curriculum.modules[0].title == "Data Quality"


@pytest.mark.parametrize("separator", SEPARATORS)
def test_lesson_map_suffix_is_stripped_from_the_module_title(load, separator):
    curriculum = load(f"# M0: Orientation to Data Governance {separator} Lesson Map\n## L001: A\n")
    assert curriculum.modules[0].title == "Orientation to Data Governance"


def test_lesson_map_suffix_is_stripped_whatever_its_case(load):
    curriculum = load("# M0: Orientation — lesson map\n## L001: A\n")
    assert curriculum.modules[0].title == "Orientation"


def test_separator_inside_a_module_title_is_kept(load):
    curriculum = load("# M0 — Privacy: GDPR and CCPA — Lesson Map\n## L001: A\n")
    assert curriculum.modules[0].title == "Privacy: GDPR and CCPA"


# --- lesson headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("number, code", [(1, "L001"), (42, "L042"), (100, "L100"), (999, "L999")])
def test_lesson_numbers_from_l001_to_l999_are_accepted(load, number, code):
    curriculum = load(f"# M2: Roles\n## {code}: A Lesson\n")
    lesson = curriculum.lessons[0]
    assert (lesson.lesson_number, lesson.code, lesson.id) == (number, code, f"M2-{code}")


def test_lesson_belongs_to_the_module_above_it(load):
    curriculum = load("# M0: A\n## L001: One\n## L002: Two\n# M7: B\n## L001: Three\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M0-L002", "M7-L001"]


def test_same_lesson_number_in_different_modules_gives_different_ids(load):
    curriculum = load("# M0: A\n## L001: One\n# M1: B\n## L001: Two\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M1-L001"]


def test_lesson_title_is_the_text_after_the_separator(load):
    curriculum = load("# M0: A\n## L001: What Data Governance Is and Is Not [F]\n")
    assert curriculum.lessons[0].title == "What Data Governance Is and Is Not"


@pytest.mark.parametrize("separator", SEPARATORS)
def test_lesson_header_accepts_each_separator(load, separator):
    curriculum = load(f"# M0: A\n## L001 {separator} Stewardship Basics [I]\n")
    lesson = curriculum.lessons[0]
    assert (lesson.title, lesson.complexity) == ("Stewardship Basics", "I")


def test_separator_inside_a_lesson_title_is_kept(load):
    curriculum = load("# M0: A\n## L002: Why Organisations Govern Data: Risk, Value and Trust [F]\n")
    assert curriculum.lessons[0].title == "Why Organisations Govern Data: Risk, Value and Trust"


def test_lesson_header_records_its_line(load):
    curriculum = load("# M0: A\n\nintro\n\n## L001: One\n")
    assert curriculum.lessons[0].line == 5


@pytest.mark.parametrize("tag, name", [("F", "Foundational"), ("I", "Intermediate"), ("A", "Advanced")])
def test_complexity_tag_is_read(load, tag, name):
    curriculum = load(f"# M0: A\n## L001: Metadata [{tag}]\n")
    lesson = curriculum.lessons[0]
    assert (lesson.title, lesson.complexity, lesson.complexity_name) == ("Metadata", tag, name)


def test_complexity_tag_is_optional(load):
    curriculum = load("# M0: A\n## L001: Metadata\n")
    lesson = curriculum.lessons[0]
    assert (lesson.title, lesson.complexity, lesson.complexity_name) == ("Metadata", None, "Unspecified")
    assert curriculum.warnings == ()


@pytest.mark.parametrize("written, tag", [("f", "F"), ("Advanced", "A"), ("intermediate", "I")])
def test_complexity_tag_in_lower_case_or_spelled_out_is_understood(load, written, tag):
    curriculum = load(f"# M0: A\n## L001: Metadata [{written}]\n")
    assert curriculum.lessons[0].complexity == tag
    assert curriculum.warnings == ()


def test_unknown_complexity_tag_is_kept_as_written(load):
    curriculum = load("# M0: A\n## L001: Metadata [X]\n")
    lesson = curriculum.lessons[0]
    assert (lesson.title, lesson.complexity, lesson.complexity_name) == ("Metadata", "X", "X")


def test_unknown_complexity_tag_is_warned_about_naming_file_and_line(tmp_path):
    path = tmp_path / "curriculum.md"
    path.write_text("# M0: A\n## L001: One [F]\n## L002: Two [Expert]\n", encoding="utf-8")
    curriculum = load_curriculum(path)
    assert len(curriculum.warnings) == 1
    warning = curriculum.warnings[0]
    assert warning.startswith(f"{path}:3:")
    assert "[Expert]" in warning and "M0-L002" in warning


def test_known_complexity_tags_cause_no_warning(load):
    curriculum = load("# M0: A\n## L001: One [F]\n## L002: Two [I]\n## L003: Three [A]\n")
    assert curriculum.warnings == ()


# --- notes, prerequisites, related ------------------------------------------------------------


def test_notes_are_the_lines_under_a_lesson_until_the_next_header(load):
    curriculum = load(
        "# M0: A\n"
        "## L001: One [F]\n"
        "Key topics: definitions; scope.\n"
        "\n"
        "A second paragraph\n"
        "over two lines.\n"
        "## L002: Two [F]\n"
        "Key topics: roles.\n"
    )
    first, second = curriculum.lessons
    assert first.notes == "Key topics: definitions; scope.\n\nA second paragraph\nover two lines."
    assert second.notes == "Key topics: roles."


def test_notes_of_the_last_lesson_of_a_module_stop_at_the_next_module_header(load):
    curriculum = load("# M0: A\n## L001: One\nnotes of one\n# M1: B\nabout module B\n## L001: Two\n")
    assert curriculum.lessons[0].notes == "notes of one"
    assert curriculum.modules[1].description == "about module B"


def test_lesson_without_notes_has_empty_notes(load):
    curriculum = load("# M0: A\n## L001: One\n\n\n## L002: Two\n")
    assert curriculum.lessons[0].notes == ""


def test_prerequisites_line_is_extracted_from_the_notes(load):
    curriculum = load(
        "# M0: A\n## L001: One\n## L002: Two\n"
        "## L003: Three\nKey topics: x.\nPrerequisites: M0-L001, M0-L002\nMore notes.\n"
    )
    lesson = curriculum.lessons[2]
    assert lesson.prerequisites == ("M0-L001", "M0-L002")
    assert lesson.notes == "Key topics: x.\nMore notes."


def test_related_line_is_extracted_from_the_notes(load):
    curriculum = load("# M0: A\n## L001: One\nKey topics: x.\nRelated: M1-L001\n# M1: B\n## L001: Two\n")
    lesson = curriculum.lessons[0]
    assert lesson.related == ("M1-L001",)
    assert lesson.notes == "Key topics: x."


def test_lesson_without_prerequisites_or_related_lines_names_none(load):
    curriculum = load("# M0: A\n## L001: One\nKey topics: x.\n")
    assert (curriculum.lessons[0].prerequisites, curriculum.lessons[0].related) == ((), ())


def test_prerequisites_and_related_labels_are_case_insensitive_and_may_be_indented(load):
    curriculum = load(
        "# M0: A\n## L001: One\n## L002: Two\n## L003: Three\n"
        "  prerequisites: M0-L001\n  Related lessons: M0-L002\n"
    )
    lesson = curriculum.lessons[2]
    assert (lesson.prerequisites, lesson.related) == (("M0-L001",), ("M0-L002",))
    assert lesson.notes == ""


def test_a_lesson_named_twice_in_prerequisites_is_listed_once(load):
    curriculum = load("# M0: A\n## L001: One\n## L002: Two\nPrerequisites: M0-L001\nPrerequisites: M0-L001\n")
    assert curriculum.lessons[1].prerequisites == ("M0-L001",)


def test_naming_a_lesson_that_is_not_in_the_curriculum_is_warned_about(tmp_path):
    path = tmp_path / "curriculum.md"
    path.write_text("# M0: A\n## L001: One\nRelated: M9-L009\n", encoding="utf-8")
    curriculum = load_curriculum(path)
    assert curriculum.lessons[0].related == ("M9-L009",)
    assert len(curriculum.warnings) == 1
    assert curriculum.warnings[0].startswith(f"{path}:2:")
    assert "M9-L009" in curriculum.warnings[0]


# --- typography: line endings, BOM, trailing spaces -------------------------------------------


def test_crlf_line_endings_parse_like_lf(load):
    lf = (
        "# Course\n# M0: Intro — Lesson Map\nAbout.\n## L001: One [F]\nKey topics: a.\nPrerequisites: M0-L002\n"
        "## L002: Two [I]\n"
    )
    crlf_curriculum = load(lf.replace("\n", "\r\n"), name="crlf.md")
    lf_curriculum = load(lf, name="lf.md")
    assert crlf_curriculum.name == lf_curriculum.name == "Course"
    assert crlf_curriculum.modules[0].title == "Intro"
    assert [(l.id, l.title, l.complexity, l.notes, l.prerequisites) for l in crlf_curriculum.lessons] == [
        (l.id, l.title, l.complexity, l.notes, l.prerequisites) for l in lf_curriculum.lessons
    ]
    assert all("\r" not in lesson.title + lesson.notes for lesson in crlf_curriculum.lessons)


def test_utf8_byte_order_mark_is_ignored_before_the_curriculum_name(load):
    curriculum = load(codecs.BOM_UTF8 + "# Data Course\n# M0: A\n## L001: One\n".encode("utf-8"))
    assert curriculum.name == "Data Course"


def test_utf8_byte_order_mark_is_ignored_before_a_module_header(load):
    curriculum = load(codecs.BOM_UTF8 + "# M0: A\n## L001: One\n".encode("utf-8"))
    assert [module.code for module in curriculum.modules] == ["M0"]
    assert curriculum.modules[0].line == 1


def test_trailing_spaces_are_ignored_in_headers_and_tags(load):
    curriculum = load("# Course   \n# M0: Intro — Lesson Map   \n## L001: One [F]   \t\n## L002: Two   \n")
    assert curriculum.name == "Course"
    assert curriculum.modules[0].title == "Intro"
    assert [(lesson.title, lesson.complexity) for lesson in curriculum.lessons] == [("One", "F"), ("Two", None)]


def test_non_ascii_titles_are_kept_intact(load):
    curriculum = load("# M0: Überblick\n## L001: Données et gouvernance — 概要 [F]\n")
    assert curriculum.modules[0].title == "Überblick"
    assert curriculum.lessons[0].title == "Données et gouvernance — 概要"


# --- fenced code blocks -----------------------------------------------------------------------


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_lesson_header_inside_a_fenced_code_block_is_not_a_lesson(load, fence):
    curriculum = load(f"# M0: A\n## L001: One\n{fence}\n## L002: Not a lesson\n{fence}\n## L003: Three\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M0-L003"]


@pytest.mark.parametrize("fence", ["```", "~~~"])
def test_module_header_inside_a_fenced_code_block_is_not_a_module(load, fence):
    curriculum = load(f"# M0: A\n## L001: One\n{fence}markdown\n# M1: Not a module\n{fence}\n")
    assert [module.code for module in curriculum.modules] == ["M0"]


def test_fenced_code_block_stays_in_the_notes_of_its_lesson(load):
    curriculum = load("# M0: A\n## L001: One\nExample:\n```yaml\n## L002: x\n```\n")
    assert curriculum.lessons[0].notes == "Example:\n```yaml\n## L002: x\n```"


def test_curriculum_name_inside_a_fenced_code_block_is_not_the_name(load):
    curriculum = load("```\n# Not The Name\n```\n# Real Name\n# M0: A\n## L001: One\n")
    assert curriculum.name == "Real Name"


def test_a_fence_of_the_other_character_does_not_close_the_block(load):
    curriculum = load("# M0: A\n## L001: One\n```\n~~~\n## L002: Inside\n```\n## L003: Outside\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M0-L003"]


def test_a_shorter_fence_does_not_close_a_longer_one(load):
    curriculum = load("# M0: A\n## L001: One\n````\n```\n## L002: Inside\n```\n````\n## L003: Outside\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M0-L003"]


def test_a_fence_line_with_an_info_string_does_not_close_the_block(load):
    # CommonMark: a closing fence has nothing after it; "```python" inside a block is content.
    curriculum = load("# M0: A\n## L001: One\n```\n```python\n## L002: Inside\n```\n## L003: Outside\n")
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001", "M0-L003"]
    assert curriculum.warnings == ()


def test_an_unclosed_fence_is_warned_about(tmp_path):
    path = tmp_path / "curriculum.md"
    path.write_text("# M0: A\n## L001: One\n```\n## L002: Swallowed\n", encoding="utf-8")
    curriculum = load_curriculum(path)
    assert [lesson.id for lesson in curriculum.lessons] == ["M0-L001"]
    assert any(str(path) in warning and "never closed" in warning for warning in curriculum.warnings)


# --- curriculum name --------------------------------------------------------------------------


def test_curriculum_name_is_the_first_level_one_heading_that_is_not_a_module(load):
    curriculum = load("# Data Governance Curriculum\n\nAn intro.\n\n# M0: Orientation\n## L001: One\n")
    assert curriculum.name == "Data Governance Curriculum"
    assert [module.code for module in curriculum.modules] == ["M0"]


def test_curriculum_without_a_name_heading_gets_the_default_name(load):
    curriculum = load("# M0: Orientation\n## L001: One\n")
    assert curriculum.name == DEFAULT_CURRICULUM_NAME


def test_a_module_header_is_never_taken_as_the_curriculum_name(load):
    curriculum = load("# M0: Orientation\n## L001: One\n# Appendix\n")
    assert curriculum.name == DEFAULT_CURRICULUM_NAME


def test_the_text_under_the_curriculum_name_belongs_to_no_module(load):
    curriculum = load("# Course\nIntro text.\n# M0: A\nAbout A.\n## L001: One\n")
    assert curriculum.modules[0].description == "About A."


# --- errors -----------------------------------------------------------------------------------


def test_missing_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "nowhere" / "Content Structure.md"
    with pytest.raises(CurriculumError) as caught:
        load_curriculum(path)
    assert str(caught.value).startswith(f"{path}:")
    assert "not found" in str(caught.value)
    assert "--curriculum" in str(caught.value)


def test_a_folder_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "curriculum.md"
    folder.mkdir()
    with pytest.raises(CurriculumError) as caught:
        load_curriculum(folder)
    assert str(caught.value).startswith(f"{folder}:")
    assert "folder" in str(caught.value)


def test_text_that_is_not_utf8_is_an_error_naming_file_and_line(load_error):
    error, path = load_error(b"# M0: A\n## L001: One\nCaf\xe9 in Latin-1\n")
    assert (error.path, error.line) == (path, 3)
    assert str(error).startswith(f"{path}:3:")
    assert "UTF-8" in str(error)


def test_text_that_is_not_utf8_after_a_byte_order_mark_names_the_right_line(load_error):
    error, path = load_error(codecs.BOM_UTF8 + b"# M0: A\n## L001: One\n\xff\n")
    assert error.line == 3
    assert str(error).startswith(f"{path}:3:")


def test_empty_file_is_an_error_saying_no_lessons_were_found(load_error):
    error, path = load_error("")
    assert str(error).startswith(f"{path}:")
    assert "no lessons" in str(error)


def test_modules_without_lessons_are_an_error_saying_no_lessons_were_found(load_error):
    error, path = load_error("# Course\n# M0: A\nSome text.\n# M1: B\n")
    assert str(error).startswith(f"{path}:")
    assert "no lessons" in str(error)


def test_lesson_before_any_module_is_an_error_naming_file_and_line(load_error):
    error, path = load_error("# Course\n\n## L001: Orphan\n# M0: A\n## L002: Two\n")
    assert (error.path, error.line) == (path, 3)
    assert str(error).startswith(f"{path}:3:")
    assert "before any module" in str(error)


def test_duplicate_lesson_id_is_an_error_naming_both_lines(load_error):
    error, path = load_error("# M0: A\n## L001: One\n## L002: Two\n\n## L002: Two again\n")
    assert str(error).startswith(f"{path}:5:")
    assert "M0-L002" in str(error)
    assert "line 3" in str(error) and "line 5" in str(error)


def test_duplicate_module_is_an_error_naming_both_lines(load_error):
    error, path = load_error("# M1: A\n## L001: One\n# M2: B\n## L001: Two\n# M1: A again\n## L002: Three\n")
    assert str(error).startswith(f"{path}:5:")
    assert "M1" in str(error)
    assert "line 1" in str(error)


@pytest.mark.parametrize("code", ["L000", "L0"])
def test_lesson_number_zero_is_an_error_naming_file_and_line(load_error, code):
    error, path = load_error(f"# M0: A\n## L001: One\n## {code}: Zero\n")
    assert str(error).startswith(f"{path}:3:")
    assert "L001-L999" in str(error)


@pytest.mark.parametrize("code", ["L1000", "L1234"])
def test_lesson_number_of_1000_or_more_is_an_error_naming_file_and_line(load_error, code):
    error, path = load_error(f"# M0: A\n## {code}: Too Far\n")
    assert str(error).startswith(f"{path}:2:")
    assert "L001-L999" in str(error)


def test_module_number_above_the_id_range_is_an_error_naming_file_and_line(load_error):
    error, path = load_error(f"# M0: A\n## L001: One\n# M{ids.MAX_MODULE + 1}: Too Far\n## L001: Two\n")
    assert str(error).startswith(f"{path}:3:")


def test_lesson_header_without_a_title_is_an_error_naming_file_and_line(load_error):
    error, path = load_error("# M0: A\n## L001: One\n## L002\n")
    assert str(error).startswith(f"{path}:3:")
    assert "no title" in str(error)


def test_error_attributes_hold_file_line_and_message(load_error):
    error, path = load_error("## L001: Orphan\n")
    assert (error.path, error.line) == (path, 1)
    assert str(error) == f"{path}:1: {error.message}"


# --- the bundled curriculum -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return load_curriculum(BUNDLED_CURRICULUM)


def test_bundled_curriculum_has_336_lessons(bundled):
    assert len(bundled.lessons) == 336


def test_bundled_curriculum_has_modules_m0_to_m14(bundled):
    assert [module.code for module in bundled.modules] == [f"M{n}" for n in range(15)]


def test_bundled_curriculum_parses_without_warnings(bundled):
    assert bundled.warnings == ()


def test_bundled_curriculum_lesson_ids_are_unique_and_well_formed(bundled):
    lesson_ids = [lesson.id for lesson in bundled.lessons]
    assert len(set(lesson_ids)) == len(lesson_ids)
    assert all(ids.is_lesson_id(lesson_id) for lesson_id in lesson_ids)


def test_bundled_curriculum_lessons_are_in_curriculum_order(bundled):
    lesson_ids = [lesson.id for lesson in bundled.lessons]
    assert lesson_ids == sorted(lesson_ids, key=ids.sort_key)


def test_bundled_curriculum_every_module_has_lessons_and_every_lesson_a_known_tag(bundled):
    assert {lesson.module_number for lesson in bundled.lessons} == set(range(15))
    assert {lesson.complexity for lesson in bundled.lessons} <= {"F", "I", "A"}


def test_bundled_curriculum_has_its_name(bundled):
    assert bundled.name == "Data Governance Curriculum"


# --- any well-formed header round-trips -------------------------------------------------------

_TITLE = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" ,'()&/"),
    min_size=1,
    max_size=40,
).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(
    module_number=st.integers(0, ids.MAX_MODULE),
    lesson_number=st.integers(1, ids.MAX_LESSON),
    title=_TITLE,
    separator=st.sampled_from(SEPARATORS),
    tag=st.sampled_from(["", " [F]", " [I]", " [A]"]),
)
def test_any_well_formed_lesson_header_is_read_back_exactly(module_number, lesson_number, title, separator, tag):
    text = f"# M{module_number}{separator} Module\n## L{lesson_number:03d} {separator} {title}{tag}\n"
    lesson = parse_curriculum(text).lessons[0]
    assert lesson.id == ids.lesson_id(module_number, lesson_number)
    assert lesson.title == title
    assert lesson.complexity == (tag.strip(" []") or None)


def test_header_numbers_in_other_scripts_digits_are_not_module_numbers(tmp_path):
    path = tmp_path / "Content Structure.md"
    path.write_text("# M\u0661: Arabic-Indic one — Lesson Map\n## L001: Lesson [F]\n", encoding="utf-8")
    with pytest.raises(CurriculumError, match="before any module header"):
        load_curriculum(path)
