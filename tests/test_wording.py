"""How lists of ids are shown in a sentence: the first ten, then `` ...`` (``--json`` lists all)."""

from lesson_batch.wording import first_ids


def test_a_short_list_is_shown_whole():
    assert first_ids(["M0-L001", "M0-L002"]) == "M0-L001, M0-L002"


def test_a_list_of_exactly_ten_has_no_ellipsis():
    ids = [f"M0-L{number:03d}" for number in range(1, 11)]
    assert first_ids(ids) == ", ".join(ids)


def test_a_longer_list_shows_its_first_ten_and_an_ellipsis():
    ids = [f"M0-L{number:03d}" for number in range(1, 13)]
    assert first_ids(ids) == ", ".join(ids[:10]) + " ..."


def test_the_limit_can_be_changed():
    assert first_ids(["a", "b", "c"], limit=2) == "a, b ..."
