"""Specification of lesson cleaning and checking (lesson_batch.lesson_text)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lesson_batch.lesson_text import (
    LessonCheck,
    check_lesson,
    clean_lesson,
    required_sections_of,
)

LESSON = "# Variables\n\n## Learning Objectives\n\n- Name things\n\n## Summary\n\nNames hold values.\n"


# --- clean_lesson: line endings and blank lines -----------------------------------------------


def test_crlf_line_endings_become_lf():
    assert clean_lesson("# T\r\n\r\nBody\r\n") == "# T\n\nBody\n"


def test_lone_cr_line_endings_become_lf():
    assert clean_lesson("# T\rBody\r") == "# T\nBody\n"


def test_leading_byte_order_mark_is_dropped():
    assert clean_lesson("\ufeff# T\nBody\n") == "# T\nBody\n"


def test_only_the_byte_order_mark_is_dropped_from_the_first_line():
    assert clean_lesson("\ufeffXML in a nutshell\n") == "XML in a nutshell\n"


def test_blank_lines_at_both_ends_are_stripped_and_one_newline_ends_the_lesson():
    assert clean_lesson("\n\n  \n# T\nBody\n\n\n   \n") == "# T\nBody\n"


def test_missing_final_newline_is_added():
    assert clean_lesson("# T\nBody") == "# T\nBody\n"


def test_blank_text_cleans_to_empty_string():
    assert clean_lesson(" \n\r\n\t\n") == ""


def test_empty_text_stays_empty():
    assert clean_lesson("") == ""


def test_well_formed_lesson_is_unchanged():
    assert clean_lesson(LESSON) == LESSON


# --- clean_lesson: preamble -------------------------------------------------------------------


@pytest.mark.parametrize(
    "preamble",
    [
        "Sure! Here is the lesson:",
        "Certainly — here's the lesson on variables.",
        "Certainly — here’s the lesson on variables.",
        "Here is the lesson you asked for:",
        "Here's a complete lesson:",
        "Here’s a complete lesson:",  # a typographic apostrophe reads as a plain one
        "Below is the lesson.",
        "Of course! Let's dive in.",
        "Absolutely, here it is.",
        "Great question! Here is a lesson.",
        "SURE THING.",
        "**Sure!** Here is the lesson:",
    ],
)
def test_chatty_preamble_before_the_first_heading_is_removed(preamble):
    assert clean_lesson(f"{preamble}\n\n{LESSON}") == LESSON


def test_multi_line_preamble_is_removed_up_to_the_first_heading():
    text = "Sure! Here's the lesson.\nIt covers naming and values:\n\n- naming\n- values\n\n" + LESSON
    assert clean_lesson(text) == LESSON


def test_preamble_is_removed_up_to_an_opening_code_fence():
    text = "Here is an example first:\n```python\nx = 1\n```\n\n# T\n"
    assert clean_lesson(text) == "```python\nx = 1\n```\n\n# T\n"


def test_text_before_the_first_heading_that_is_not_chatty_is_kept():
    text = "Variables are names.\n\n# T\nBody\n"
    assert clean_lesson(text) == text


def test_chatty_first_line_with_no_lesson_start_after_it_is_kept():
    assert clean_lesson("Sure, variables are names for values.\n") == (
        "Sure, variables are names for values.\n"
    )


def test_word_that_merely_begins_with_a_chat_word_is_not_a_preamble():
    text = "Surely you have seen x = 1.\n\n# T\n"
    assert clean_lesson(text) == text


def test_preamble_before_front_matter_keeps_the_front_matter():
    front_matter = "---\ntitle: Variables\n---\n"
    assert clean_lesson("Sure! Here it is:\n\n" + front_matter + LESSON) == front_matter + LESSON


# --- clean_lesson: wrapping fence -------------------------------------------------------------


@pytest.mark.parametrize("opening", ["```", "```markdown", "```md", "~~~", "````markdown", "```Markdown"])
def test_fence_wrapping_the_whole_lesson_is_removed(opening):
    closing = re.match(r"[`~]+", opening).group()  # the fence marker, without its info string
    assert clean_lesson(f"{opening}\n{LESSON}{closing}\n") == LESSON


def test_wrapping_fence_with_code_blocks_inside_is_removed():
    inner = "# T\n\n```python\nprint(1)\n```\n\nText\n\n```\nplain block\n```\n"
    assert clean_lesson(f"```markdown\n{inner}```\n") == inner


def test_markdown_wrapper_with_bare_code_blocks_inside_is_removed():
    inner = "# T\n\n```\nplain block\n```\n\nText\n"
    assert clean_lesson(f"```markdown\n{inner}```\n") == inner


def test_bare_wrapper_is_closed_by_the_first_bare_fence_so_it_is_not_removed():
    text = "```\n# T\n```\nplain block\n```\n```\n"
    assert clean_lesson(text) == text


def test_lesson_that_starts_and_ends_with_separate_code_blocks_is_not_unwrapped():
    text = "```\nfirst = 1\n```\n\nExplanation\n\n```\nsecond = 2\n```\n"
    assert clean_lesson(text) == text


def test_lesson_that_starts_and_ends_with_separate_markdown_blocks_is_not_unwrapped():
    text = "```markdown\n# Example\n```\n\nExplanation\n\n```markdown\n## Another\n```\n"
    assert clean_lesson(text) == text


def test_fence_with_a_programming_language_is_not_a_wrapper():
    text = "```python\nprint(1)\n```\n"
    assert clean_lesson(text) == text


def test_wrapper_closed_before_the_last_line_is_not_removed():
    text = "```markdown\n# T\n```\n\nMore lesson text after the block.\n"
    assert clean_lesson(text) == text


def test_unclosed_wrapper_is_left_for_the_checker():
    text = "```markdown\n# T\nBody cut off"
    assert clean_lesson(text) == text + "\n"


def test_tilde_wrapper_is_not_closed_by_backtick_fences_inside():
    inner = "# T\n\n```\ncode\n```\n"
    assert clean_lesson(f"~~~\n{inner}~~~\n") == inner


# --- clean_lesson: sign-off -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sign_off",
    [
        "Let me know if you'd like more exercises!",
        "I hope this helps!",
        "Feel free to ask follow-up questions.",
        "If you'd like, I can add a quiz.",
        "If you’d like, I can add a quiz.",
        "Would you like me to write the next lesson?",
        "Happy learning!",
        "Happy learning! 🎉",
        "🎉 Happy learning!",
        "I hope this helps!\n\nHappy learning!",
        "Let me know if you'd like\nmore exercises on this topic.",
        "If you'd like, I can also:\n\n- add a quiz\n- add exercises",
        "If you'd like, I can also:  \n\n- add a quiz\n- add exercises",  # trailing spaces after the colon
        "Would you like me to add any of these?\n\n- a quiz\n- exercises",
    ],
)
def test_chatty_sign_off_after_the_lesson_is_removed(sign_off):
    assert clean_lesson(f"{LESSON}\n{sign_off}\n") == LESSON


def test_separator_before_a_sign_off_is_removed_with_it():
    assert clean_lesson(f"{LESSON}\n---\n\nLet me know if you have questions.\n") == LESSON


def test_separator_right_under_a_code_block_is_removed_with_the_sign_off():
    """A closing fence right above the rule makes it a separator, not a setext underline (mutation
    run of 2026-12-07, lesson_text.py ``_separator_above``)."""
    lesson = "# T\n\n## Example\n\n```python\nx = 1\n```\n"
    assert clean_lesson(f"{lesson}---\n\nHappy learning!\n") == lesson


def test_separator_that_is_not_followed_by_chat_is_kept():
    text = LESSON + "\n---\n\nNames hold values.\n"
    assert clean_lesson(text) == text


def test_chat_words_as_the_only_content_of_a_section_are_kept():
    text = "# T\n\n## Practice\n\nFeel free to change the numbers and run it again.\n"
    assert clean_lesson(text) == text



def test_chat_words_under_a_title_on_the_first_line_are_its_content():
    """The heading above may be the text's first line (``_sign_off_start`` 44)."""
    text = "# Practice\n\nFeel free to change the numbers and run it again.\n"
    assert clean_lesson(text) == text


def test_chat_words_right_under_the_last_heading_with_no_blank_line_between_are_kept():
    """A section body on the line right after its heading, at the end of the text (``_sign_off_start`` 50:
    a look past the last line, a traceback)."""
    text = "# T\n\n## Practice\nFeel free to change the numbers and run it again.\n"
    assert clean_lesson(text) == text


def test_chat_words_under_a_heading_right_after_a_code_block_are_kept():
    """Only the heading's own line decides, not the code block's closing fence above it (``_sign_off_start`` 51)."""
    text = "# T\n\n```python\nprint('hi')\n```\n## Practice\n\nFeel free to change the numbers and run it again.\n"
    assert clean_lesson(text) == text


def test_a_list_at_the_end_under_a_plain_lead_ending_with_a_colon_is_kept():
    """Only a lead that is chat ("If you'd like, I can also:") takes its list with it (``_sign_off_start`` 68)."""
    text = "# T\n\nSome text.\n\nRemember these terms:\n\n- name\n- value\n"
    assert clean_lesson(text) == text


def test_a_list_at_the_end_under_a_chat_like_lead_that_is_a_section_s_body_is_kept():
    text = "# T\n\n## Next steps\n\nFeel free to try these:\n\n- rename a variable\n- print it\n"
    assert clean_lesson(text) == text

def test_chat_words_inside_a_final_code_block_are_kept():
    text = "# T\n\n```python\nprint('hi')\n\nLet me know if this works\n```\n"
    assert clean_lesson(text) == text


def test_line_ending_a_paragraph_is_not_a_sign_off():
    text = "# T\n\nVariables are names.\nLet me know is not a Python keyword.\n"
    assert clean_lesson(text) == text


def test_setext_heading_underline_before_a_sign_off_is_kept():
    text = "# T\n\nClosing thoughts\n---\n\nHappy learning!\n"
    assert clean_lesson(text) == "# T\n\nClosing thoughts\n---\n"


def test_setext_heading_underline_under_text_that_follows_a_code_block_is_kept_before_a_sign_off():
    """Only the line right above the rule decides (mutation run of 2026-12-07, ``_separator_above`` 28)."""
    lesson = "# T\n\n```python\nx = 1\n```\nAfter the code\n---\n"
    assert clean_lesson(f"{lesson}\nHappy learning!\n") == lesson


def test_a_reply_of_only_a_separator_and_a_sign_off_cleans_to_nothing():
    """A rule on the first line has no text above it: a separator (``_separator_above`` 23); the
    empty lesson is then rejected, not saved as a lone rule."""
    assert clean_lesson("---\n\nLet me know if you need anything else.\n") == ""


def test_the_closing_line_of_front_matter_is_never_taken_for_a_separator_above_a_sign_off():
    """Even with a blank line before it, as YAML allows (``_separator_above`` 17)."""
    front = "---\ntitle: Variables\n\n---\n"
    assert clean_lesson(f"{front}\nHappy learning!\n") == front



def test_a_lesson_whose_second_line_reads_like_a_yaml_key_is_not_taken_for_front_matter():
    """Front matter opens with "---" on the first line AND a key on the second; a title over a
    "Duration: ..." line is a lesson, so the separator above its sign-off goes with the sign-off
    (``_front_matter_end`` 1)."""
    lesson = "# Variables\nDuration: 20 minutes\n\n## Summary\n\nNames hold values.\n"
    assert clean_lesson(f"{lesson}\n---\n\nLet me know if you want more examples!\n") == lesson

# --- clean_lesson: prompt echoes ----------------------------------------------------------------


def test_prompt_header_lines_echoed_before_the_first_heading_are_removed():
    echo = (
        "Curriculum: Python Basics\nModule: M0 Foundations\nLesson id: M0-L001\n"
        "Lesson title: Variables\nComplexity: beginner\nKey topics: names, values\n"
        "Prerequisites: none\nRelated lessons: M0-L002\n\n"
    )
    assert clean_lesson(echo + LESSON) == LESSON


def test_bold_prompt_echo_lines_are_removed():
    assert clean_lesson("**Lesson id:** M0-L001\n**Module:** M0\n\n" + LESSON) == LESSON


def test_heading_that_looks_like_a_prompt_header_is_kept():
    text = "# Module: Foundations\n\nBody\n"
    assert clean_lesson(text) == text


def test_prompt_header_lines_after_the_first_heading_are_kept():
    text = "# T\n\nModule: this word means a file of Python code.\n"
    assert clean_lesson(text) == text


# --- clean_lesson: combinations and preserved content -------------------------------------------


def test_preamble_fence_and_sign_off_are_removed_together():
    text = (
        "Sure! Here is the lesson:\r\n\r\n```markdown\r\n"
        + LESSON.replace("\n", "\r\n")
        + "```\r\n\r\n---\r\n\r\nLet me know if you want changes!\r\n"
    )
    assert clean_lesson(text) == LESSON


def test_preamble_echo_and_sign_off_inside_a_wrapper_are_removed():
    text = "```markdown\nSure! Here it is.\nLesson id: M0-L001\n\n" + LESSON + "\nHappy learning!\n```\n"
    assert clean_lesson(text) == LESSON


def test_fence_and_sign_off_without_preamble_are_removed():
    assert clean_lesson("```md\n" + LESSON + "```\nI hope this helps!\n") == LESSON


def test_code_block_containing_chat_phrases_and_fence_text_is_kept_byte_for_byte():
    text = (
        "# T\n\n````markdown\nSure! Here is the lesson:\n```python\nx = 1\n```\n"
        "Let me know if...\n````\n\nEnd of lesson.\n"
    )
    assert clean_lesson(text) == text


def test_tables_and_trailing_double_spaces_are_kept():
    text = "# T\n\nLine one  \nLine two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert clean_lesson(text) == text


def test_yaml_front_matter_is_kept():
    text = "---\ntitle: Variables\nlevel: 1\n---\n\n# Variables\n\nBody\n"
    assert clean_lesson(text) == text


@pytest.mark.parametrize(
    "front",
    [
        "--- \ntitle: Variables\n--- \n",  # trailing spaces on its fence lines
        "---\ntitle: Variables\n...\n",  # YAML's other closing line
    ],
)
def test_front_matter_after_a_preamble_starts_the_lesson(front):
    lesson = front + "\n# Variables\n\nBody\n"
    assert clean_lesson("Sure! Here it is:\n\n" + lesson) == lesson


def test_front_matter_alone_after_a_preamble_is_the_lesson():
    assert clean_lesson("Sure! Here it is:\n\n---\ntitle: Variables\n---\n") == "---\ntitle: Variables\n---\n"


def test_an_opening_front_matter_line_never_closed_does_not_start_the_lesson():
    text = "Sure! Here it is:\n---\ntitle: Variables\nNo closing line.\n"
    assert clean_lesson(text) == text


def test_a_sign_off_right_under_front_matter_closed_with_dots_is_removed():
    assert clean_lesson("---\ntitle: Variables\n...\nHappy learning!\n") == "---\ntitle: Variables\n...\n"


def test_sign_off_after_front_matter_lesson_keeps_the_front_matter():
    front = "---\ntitle: Variables\n---\n\n# Variables\n\nBody\n"
    assert clean_lesson(front + "\n---\n\nHappy learning!\n") == front


# --- clean_lesson: properties -------------------------------------------------------------------

_FRAGMENTS = [
    "# Title",
    "## Summary",
    "Sure! Here is the lesson:",
    "Here's the lesson.",
    "Let me know if you need more.",
    "Happy learning!",
    "If you'd like, I can also:",
    "- add a quiz",
    "```",
    "```markdown",
    "```python",
    "~~~",
    "````",
    "---",
    "title: x",
    "Lesson id: M0-L001",
    "Module: M0",
    "Body text  ",
    "| a | b |",
    "",
    "   ",
    "\ufeff",
    "\ufeff# Title",
]
_LINE_ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _chatty_texts(draw):
    lines = draw(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=20), max_size=25))
    pieces = []
    for line in lines:
        pieces.append(line)
        pieces.append(draw(_LINE_ENDINGS))
    return "".join(pieces)


@settings(max_examples=300, deadline=None)
@given(_chatty_texts())
def test_cleaning_is_idempotent(text):
    once = clean_lesson(text)
    assert clean_lesson(once) == once


_WORDS = st.sampled_from(["variables", "hold", "values", "loops", "repeat", "code", "data", "x = 1"])
_PARAGRAPH = st.lists(st.lists(_WORDS, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=3).map(
    "\n".join
)
_BLOCKS = st.one_of(
    _PARAGRAPH,
    _WORDS.map(lambda word: f"## {word}"),
    _PARAGRAPH.map(lambda body: f"```python\n{body}\nSure! Let me know if...\n```"),
    _PARAGRAPH.map(lambda body: f"~~~\n```\n{body}\n~~~"),
    st.just("| a | b |\n|---|---|\n| 1 | 2 |"),
    _PARAGRAPH.map(lambda body: f"{body}  \nmore"),
    st.just("---"),
    _PARAGRAPH.map(lambda body: "- " + body.replace("\n", "\n- ")),
)


@st.composite
def _well_formed_lessons(draw):
    title = draw(_WORDS)
    blocks = draw(st.lists(_BLOCKS, max_size=8))
    return "\n\n".join([f"# {title}", *blocks]).split("\n")


@settings(max_examples=200, deadline=None)
@given(_well_formed_lessons(), _LINE_ENDINGS, st.integers(min_value=0, max_value=3))
def test_well_formed_lesson_changes_only_in_line_endings_and_final_newline(lines, ending, final_newlines):
    text = ending.join(lines) + ending * final_newlines
    assert clean_lesson(text) == "\n".join(lines) + "\n"


# --- check_lesson -------------------------------------------------------------------------------


def test_complete_lesson_passes():
    check = check_lesson(LESSON, "stop", ["Learning Objectives", "Summary"])
    assert check.ok and check.reason is None


def test_finish_reason_length_means_truncated():
    assert check_lesson(LESSON, "length", []).reason == "truncated"


def test_finish_reason_content_filter_is_reported():
    assert check_lesson(LESSON, "content_filter", []).reason == "content_filter"


@pytest.mark.parametrize("finish_reason", [None, "tool_calls", "function_call", ""])
def test_other_finish_reasons_mean_incomplete(finish_reason):
    assert check_lesson(LESSON, finish_reason, []).reason == "incomplete"


def test_finish_reason_is_judged_before_the_text():
    assert check_lesson("", "length", ["Summary"]).reason == "truncated"


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_blank_lesson_is_empty(text):
    assert check_lesson(text, "stop", []).reason == "empty"


@pytest.mark.parametrize("fence", ["```", "```python", "~~~"])
def test_fence_that_is_never_closed_is_reported(fence):
    check = check_lesson(f"# T\n\n{fence}\nx = 1\n", "stop", [])
    assert check.reason == "unclosed_fence"
    assert "line 3" in check.detail


def test_tilde_fence_is_not_closed_by_backticks():
    assert check_lesson("# T\n~~~\n```\n", "stop", []).reason == "unclosed_fence"


def test_a_line_opening_with_inline_code_is_not_a_fence():
    """CommonMark: a backtick in the info string of a backtick fence makes it inline code."""
    lesson = "# T\n\n```x = 1``` sets x.\n\n## Summary\n\nDone.\n"
    assert check_lesson(lesson, "stop", ["Summary"]).ok
    assert required_sections_of(lesson) == ["Summary"]


def test_shorter_fence_does_not_close_a_longer_one():
    assert check_lesson("# T\n````\n```\n", "stop", []).reason == "unclosed_fence"


@pytest.mark.parametrize("opening, closing", [("```", "````"), ("```python", "`````"), ("~~~", "~~~~~~")])
def test_a_longer_fence_closes_a_shorter_one(opening, closing):
    """CommonMark: a closing fence is at least as long as the opening one. Taking a longer one for
    an unclosed block would reject a good lesson, and its retry would be paid for."""
    lesson = f"# T\n\n{opening}\nx = 1\n{closing}\n\n## Summary\n\nDone.\n"
    check = check_lesson(lesson, "stop", ["Summary"])
    assert check.ok, check.detail
    assert required_sections_of(lesson) == ["Summary"]  # the heading after the block is outside it


def test_unclosed_fence_is_judged_before_missing_sections():
    assert check_lesson("# T\n```\n## Summary\n", "stop", ["Summary"]).reason == "unclosed_fence"


def test_missing_section_is_reported_with_its_name():
    check = check_lesson(LESSON, "stop", ["Learning Objectives", "Practice", "Recap"])
    assert check == LessonCheck(ok=False, reason="missing_sections", detail=check.detail)
    assert "Practice" in check.detail and "Recap" in check.detail
    assert "Learning Objectives" not in check.detail


@pytest.mark.parametrize(
    "heading",
    [
        "## learning objectives",
        "##   Learning Objectives   ",
        "## Learning Objectives:",
        "## 1. Learning Objectives",
        "## 1) Learning Objectives",
        "## **Learning Objectives**",
        "## 1. **Learning Objectives**:",
        "## Learning Objectives ##",
        "## Learning Objectives ##  ",  # closing hashes, then spaces
    ],
)
def test_section_heading_variants_match(heading):
    text = f"# T\n\n{heading}\n\nBody\n"
    assert check_lesson(text, "stop", ["Learning Objectives"]).ok


def test_required_section_written_with_numbering_matches_a_plain_heading():
    assert check_lesson("# T\n## Summary\n", "stop", ["2. **Summary:**"]).ok


def test_heading_inside_a_code_block_does_not_count_as_a_section():
    text = "# T\n\n```markdown\n## Summary\n```\n"
    assert check_lesson(text, "stop", ["Summary"]).reason == "missing_sections"


def test_level_three_heading_does_not_count_as_a_section():
    assert check_lesson("# T\n### Summary\n", "stop", ["Summary"]).reason == "missing_sections"


def test_no_required_sections_means_any_nonempty_closed_lesson_passes():
    assert check_lesson("Just text.\n", "stop", []).ok


# --- required_sections_of -------------------------------------------------------------------------


def test_required_sections_are_the_level_two_headings_in_order():
    template = "# {title}\n\n## Learning Objectives\n\nText\n\n### Detail\n\n## Summary\n"
    assert required_sections_of(template) == ["Learning Objectives", "Summary"]


def test_required_sections_skip_headings_inside_code_fences():
    template = "## Intro\n```\n## Not a section\n```\n## Summary\n"
    assert required_sections_of(template) == ["Intro", "Summary"]


def test_required_sections_are_deduplicated_keeping_the_first_spelling():
    assert required_sections_of("## Summary\n## summary:\n## Recap\n") == ["Summary", "Recap"]


def test_required_sections_drop_closing_hashes_and_surrounding_space():
    assert required_sections_of("##   Summary  ##\r\n") == ["Summary"]


def test_template_without_sections_requires_none():
    assert required_sections_of("# Title\n\nWrite a lesson.\n") == []
