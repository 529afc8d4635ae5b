"""Specification of the prompt template and of the messages built for each lesson (lesson_batch.prompt)."""

from __future__ import annotations

import pytest

from lesson_batch.curriculum import load_curriculum
from lesson_batch.prompt import PLACEHOLDERS, PromptBuilder, PromptError, fill, load_template
from tests.helpers import BUNDLED_CURRICULUM, BUNDLED_TEMPLATE

CURRICULUM = """\
# Test Course

# M0: Basics — Lesson Map
## L001: First Steps [F]
Key topics: what it is.
## L002: Second Steps [I]
Key topics: how it works.
## L003: Third Steps [A]
## L004: Fourth Steps [F]

# M1: Practice
## L001: Applying It [I]
Key topics: practice.
## L002: Measuring It [A]
## L003: Explicit Links [I]
Prerequisites: M0-L002, M1-L001
Related: M0-L004
Key topics: links.
"""

TEMPLATE = """\
<!-- system -->
You write lessons for {curriculum_name}.

## Objectives
## Summary

<!-- user -->
Lesson {lesson_id} ({lesson_code}) in {module_code} {module_title}: {lesson_title}
Complexity: {complexity} [{complexity_tag}]
Prerequisites: {prerequisites}
Related: {related_lessons}
Notes:
{notes}
"""


@pytest.fixture
def write(tmp_path):
    def _write(name: str, text: str):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def template_of(write):
    """Write a template file and load it."""
    return lambda text: load_template(write("prompt.md", text))


@pytest.fixture
def builder(write):
    curriculum = load_curriculum(write("curriculum.md", CURRICULUM))
    return PromptBuilder(load_template(write("prompt.md", TEMPLATE)), curriculum)


# --- template parts ---------------------------------------------------------------------------


def test_template_with_markers_has_a_system_part_and_a_user_part(template_of):
    template = template_of("<!-- system -->\nStatic rules.\n<!-- user -->\nLesson {lesson_title}.\n")
    assert template.system == "Static rules."
    assert template.user == "Lesson {lesson_title}."


def test_template_markers_tolerate_case_and_spacing(template_of):
    template = template_of("  <!--SYSTEM-->  \nRules.\n<!--   User   -->\nAsk.\n")
    assert (template.system, template.user) == ("Rules.", "Ask.")


def test_template_with_only_a_user_marker_has_no_system_part(template_of):
    template = template_of("<!-- user -->\nAsk {lesson_title}.\n")
    assert (template.system, template.user) == ("", "Ask {lesson_title}.")


def test_template_without_markers_is_one_user_part(template_of):
    template = template_of("Write the lesson {lesson_title}.\nMake it good.\n")
    assert template.system == ""
    assert template.user == "Write the lesson {lesson_title}.\nMake it good."


def test_template_without_markers_gives_a_single_user_message(write):
    curriculum = load_curriculum(write("curriculum.md", CURRICULUM))
    template = load_template(write("prompt.md", "Write the lesson {lesson_title}.\n"))
    messages = PromptBuilder(template, curriculum).messages(curriculum.lessons[0])
    assert messages == [{"role": "user", "content": "Write the lesson First Steps."}]


def test_template_with_crlf_line_endings_is_split_like_lf(template_of):
    template = template_of("<!-- system -->\r\nRules.\r\n<!-- user -->\r\nAsk.\r\n")
    assert (template.system, template.user) == ("Rules.", "Ask.")


def test_markers_in_the_wrong_order_are_an_error_naming_the_line(write):
    path = write("prompt.md", "<!-- user -->\nAsk.\n\n\n<!-- system -->\nRules.\n")
    with pytest.raises(PromptError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}:5:")
    assert "before" in str(caught.value)


def test_system_part_without_a_user_part_is_an_error_naming_the_line(write):
    path = write("prompt.md", "Intro.\n\n\n<!-- system -->\nRules.\n")
    with pytest.raises(PromptError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}:4:")
    assert "<!-- user -->" in str(caught.value)


def test_empty_user_part_is_an_error_naming_the_file(write):
    path = write("prompt.md", "<!-- system -->\nRules.\n<!-- user -->\n\n")
    with pytest.raises(PromptError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}:")
    assert "empty" in str(caught.value)


def test_missing_template_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "no_such_prompt.md"
    with pytest.raises(PromptError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}:")
    assert "--prompt-template" in str(caught.value)


def test_template_that_is_not_utf8_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "prompt.md"
    path.write_bytes(b"Write about caf\xe9.\n")
    with pytest.raises(PromptError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}:")
    assert "UTF-8" in str(caught.value)


# --- fill -------------------------------------------------------------------------------------


def test_fill_replaces_known_placeholders():
    assert fill("{lesson_id}: {lesson_title}", {"lesson_id": "M0-L001", "lesson_title": "Intro"}) == "M0-L001: Intro"


def test_fill_replaces_every_occurrence_of_a_placeholder():
    assert fill("{lesson_title} / {lesson_title}", {"lesson_title": "Intro"}) == "Intro / Intro"


@pytest.mark.parametrize(
    "text",
    [
        "{unknown}",
        "{{x}}",
        '{"a": 1}',
        '{"lesson": {"id": "x"}}',
        "a lone { brace",
        "a lone } brace",
        "{}",
        "{ lesson_id }",
        "{Lesson_Id}",
        "function() { return 1; }",
    ],
)
def test_fill_leaves_every_other_brace_untouched(text):
    assert fill(text, {"lesson_id": "M0-L001", "lesson_title": "Intro"}) == text


def test_fill_does_not_expand_placeholders_inside_substituted_values():
    assert fill("{notes}", {"notes": "see {lesson_id}", "lesson_id": "M0-L001"}) == "see {lesson_id}"


def test_unknown_placeholder_is_warned_about_with_its_line(write):
    path = write("prompt.md", "<!-- system -->\nRules.\n<!-- user -->\nLesson {lesson_title}\nLevel {difficulty}\n")
    template = load_template(path)
    assert len(template.warnings) == 1
    assert template.warnings[0].startswith(f"{path}:5:")
    assert "{difficulty}" in template.warnings[0]


def test_unknown_placeholder_is_sent_as_written(write):
    curriculum = load_curriculum(write("curriculum.md", CURRICULUM))
    template = load_template(write("prompt.md", "Lesson {lesson_title} at {difficulty}\n"))
    content = PromptBuilder(template, curriculum).messages(curriculum.lessons[0])[-1]["content"]
    assert content == "Lesson First Steps at {difficulty}"


def test_known_placeholders_and_json_braces_cause_no_warning(template_of):
    known = " ".join("{" + name + "}" for name in PLACEHOLDERS)
    template = template_of(f'{known}\nReturn {{"title": "...", "sections": []}}; a lone {{ or }} is fine.\n')
    assert template.warnings == ()


# --- required sections ------------------------------------------------------------------------


def test_required_sections_are_the_level_two_headings_in_order(template_of):
    template = template_of(
        "<!-- system -->\n# Title\n## Objectives\n### Detail\n## Summary\n<!-- user -->\n## Practice\nAsk.\n"
    )
    assert template.required_sections == ("Objectives", "Summary", "Practice")


@pytest.mark.parametrize("fence", ["```", "~~~"])
def test_headings_inside_code_fences_are_not_required_sections(template_of, fence):
    template = template_of(f"## Objectives\n{fence}markdown\n## Not A Section\n{fence}\n## Summary\n")
    assert template.required_sections == ("Objectives", "Summary")


def test_template_without_level_two_headings_requires_no_sections(template_of):
    assert template_of("Write the lesson {lesson_title}.\n").required_sections == ()


def test_bundled_template_requires_its_nine_sections():
    template = load_template(BUNDLED_TEMPLATE)
    assert template.required_sections == (
        "Learning Objectives",
        "Why It Matters",
        "Core Concepts",
        "How It Works in Practice",
        "Worked Example",
        "Common Pitfalls",
        "Check Your Understanding",
        "Key Takeaways",
        "Further Reading",
    )


def test_bundled_template_has_a_system_part_and_no_warnings():
    template = load_template(BUNDLED_TEMPLATE)
    assert template.system and template.user
    assert template.warnings == ()


# --- prerequisites and related lessons --------------------------------------------------------


def test_default_prerequisite_is_the_previous_lesson(builder):
    lesson = builder.curriculum.lesson("M0-L003")
    assert builder.prerequisites(lesson) == ["M0-L002"]


def test_default_prerequisite_of_a_module_first_lesson_is_the_previous_module_last_lesson(builder):
    lesson = builder.curriculum.lesson("M1-L001")
    assert builder.prerequisites(lesson) == ["M0-L004"]


def test_very_first_lesson_has_no_prerequisites(builder):
    lesson = builder.curriculum.lesson("M0-L001")
    assert builder.prerequisites(lesson) == []
    assert builder.values(lesson)["prerequisites"] == "None: this lesson opens the curriculum."


def test_default_related_lessons_are_the_next_two_of_the_same_module(builder):
    assert builder.related(builder.curriculum.lesson("M0-L001")) == ["M0-L002", "M0-L003"]


def test_default_related_lessons_stop_at_the_end_of_the_module(builder):
    assert builder.related(builder.curriculum.lesson("M0-L003")) == ["M0-L004"]
    assert builder.related(builder.curriculum.lesson("M0-L004")) == []
    assert builder.values(builder.curriculum.lesson("M0-L004"))["related_lessons"] == "None."


def test_explicit_prerequisites_in_the_notes_replace_the_default(builder):
    assert builder.prerequisites(builder.curriculum.lesson("M1-L003")) == ["M0-L002", "M1-L001"]


def test_explicit_related_lessons_in_the_notes_replace_the_default(builder):
    assert builder.related(builder.curriculum.lesson("M1-L003")) == ["M0-L004"]


def test_prerequisites_and_related_lessons_are_described_with_their_titles(builder):
    values = builder.values(builder.curriculum.lesson("M1-L003"))
    assert values["prerequisites"] == "M0-L002 (Second Steps); M1-L001 (Applying It)"
    assert values["related_lessons"] == "M0-L004 (Fourth Steps)"


# --- messages ---------------------------------------------------------------------------------


def test_user_message_describes_the_lesson(builder):
    messages = builder.messages(builder.curriculum.lesson("M0-L002"))
    assert messages[-1] == {
        "role": "user",
        "content": (
            "Lesson M0-L002 (L002) in M0 Basics: Second Steps\n"
            "Complexity: Intermediate [I]\n"
            "Prerequisites: M0-L001 (First Steps)\n"
            "Related: M0-L003 (Third Steps); M0-L004 (Fourth Steps)\n"
            "Notes:\n"
            "Key topics: how it works."
        ),
    }


def test_notes_moved_to_prerequisites_and_related_are_not_repeated_in_the_notes(builder):
    content = builder.messages(builder.curriculum.lesson("M1-L003"))[-1]["content"]
    assert content.endswith("Notes:\nKey topics: links.")


def test_lesson_without_notes_says_none_were_given(builder):
    content = builder.messages(builder.curriculum.lesson("M0-L003"))[-1]["content"]
    assert content.endswith("Notes:\n(none given)")


def test_system_message_comes_first_and_is_filled_with_the_curriculum_name(builder):
    messages = builder.messages(builder.curriculum.lesson("M0-L001"))
    assert [message["role"] for message in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You write lessons for Test Course.")


def test_system_message_is_identical_for_every_lesson(builder):
    systems = {builder.messages(lesson)[0]["content"] for lesson in builder.curriculum.lessons}
    assert len(systems) == 1


def test_bundled_prompt_system_message_is_identical_for_every_bundled_lesson():
    curriculum = load_curriculum(BUNDLED_CURRICULUM)
    builder = PromptBuilder(load_template(BUNDLED_TEMPLATE), curriculum)
    all_messages = [builder.messages(lesson) for lesson in curriculum.lessons]
    assert {tuple(message["role"] for message in messages) for messages in all_messages} == {("system", "user")}
    assert len({messages[0]["content"] for messages in all_messages}) == 1
    assert "{" not in all_messages[0][0]["content"].replace("`{", "")  # no placeholder left unfilled


def test_bundled_prompt_puts_everything_lesson_specific_in_the_last_message():
    curriculum = load_curriculum(BUNDLED_CURRICULUM)
    builder = PromptBuilder(load_template(BUNDLED_TEMPLATE), curriculum)
    lesson = curriculum.lesson("M0-L011")
    system, user = builder.messages(lesson)
    for particular in (lesson.id, lesson.title, lesson.notes, "Complexity: Intermediate", "M0-L006"):
        assert particular in user["content"]
        assert particular not in system["content"]
