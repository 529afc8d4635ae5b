"""Specification of the atomic writes (lesson_batch.files): a new file never replaces an old one,
on every route the platform may take, a flush to disk leaves the files as they were, and a
streamed file takes its name only once complete."""

from __future__ import annotations

import errno
import os

import pytest

from lesson_batch import files
from lesson_batch.files import (
    TEMP_SUFFIX,
    AtomicStream,
    atomic_stream,
    flush_to_disk,
    publish,
    remove_stale_temporaries,
    write_atomic,
    write_temporary,
)


@pytest.fixture(params=["link", "check-then-rename"])
def route(request, monkeypatch):
    """Each way ``publish`` can take a name: a hard link, and a check then a rename on
    filesystems without hard links."""
    if request.param == "check-then-rename":
        def no_hard_links(*_args, **_kwargs):
            raise OSError(errno.EPERM, "hard links not supported")
        monkeypatch.setattr(os, "link", no_hard_links)
    return request.param


def leftovers(folder) -> list:
    return sorted(folder.glob(f".*{TEMP_SUFFIX}"))


def test_a_published_temporary_takes_its_name_with_its_bytes(tmp_path, route):
    temporary = write_temporary(tmp_path / "a.md", "é lesson\n")
    assert publish(temporary, str(tmp_path / "a.md")) is True
    assert (tmp_path / "a.md").read_bytes() == "é lesson\n".encode()
    assert leftovers(tmp_path) == []


def test_publish_leaves_the_temporary_when_the_name_is_taken(tmp_path, route):
    (tmp_path / "a.md").write_text("old")
    temporary = write_temporary(tmp_path / "a.md", b"new")
    assert publish(temporary, str(tmp_path / "a.md")) is False
    assert open(temporary, "rb").read() == b"new"
    assert (tmp_path / "a.md").read_text() == "old"


def test_two_temporaries_of_one_file_in_one_process_are_distinct(tmp_path):
    first, second = write_temporary(tmp_path / "a.md", b"1"), write_temporary(tmp_path / "a.md", b"2")
    assert first != second
    assert (open(first, "rb").read(), open(second, "rb").read()) == (b"1", b"2")


def test_a_temporary_s_missing_folders_are_created(tmp_path):
    assert publish(write_temporary(tmp_path / "x" / "y" / "a.md", b"data"), str(tmp_path / "x" / "y" / "a.md")) is True
    assert (tmp_path / "x" / "y" / "a.md").read_bytes() == b"data"


def test_write_atomic_replaces(tmp_path):
    write_atomic(tmp_path / "a.md", "one")
    write_atomic(tmp_path / "a.md", "two", durable=False)
    assert (tmp_path / "a.md").read_text() == "two"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("syncfs", [True, False])
def test_flush_to_disk_leaves_the_files_as_they_are(tmp_path, monkeypatch, syncfs):
    if not syncfs:
        monkeypatch.setattr(files, "_syncfs_call", None)  # the fsync-per-file route of other systems
    write_atomic(tmp_path / "a.md", b"a", durable=False)
    write_atomic(tmp_path / "sub" / "b.md", b"b", durable=False)
    flush_to_disk([str(tmp_path / "a.md"), str(tmp_path / "sub" / "b.md")])
    assert (tmp_path / "a.md").read_bytes() == b"a"
    assert (tmp_path / "sub" / "b.md").read_bytes() == b"b"


def test_temporaries_of_a_dead_writer_are_removed_and_this_process_s_are_kept(tmp_path):
    mine = write_temporary(tmp_path / "a.md", b"mine")
    dead = tmp_path / f".b.md.0.999999999{TEMP_SUFFIX}"  # no process has this id
    dead.write_bytes(b"dead")
    assert remove_stale_temporaries(tmp_path) == 1
    assert os.path.exists(mine) and not dead.exists()


def test_a_streamed_file_takes_its_name_only_when_the_block_ends(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"old\n")
    with atomic_stream(tmp_path / "a.jsonl") as handle:
        handle.write(b"first\n")
        handle.write(b"second\n")
        assert (tmp_path / "a.jsonl").read_bytes() == b"old\n"
        assert len(leftovers(tmp_path)) == 1
    assert (tmp_path / "a.jsonl").read_bytes() == b"first\nsecond\n"
    assert leftovers(tmp_path) == []


def test_a_streamed_file_cut_short_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"old\n")
    with pytest.raises(ConnectionError):
        with atomic_stream(tmp_path / "a.jsonl") as handle:
            handle.write(b"part")
            raise ConnectionError("cut")
    assert (tmp_path / "a.jsonl").read_bytes() == b"old\n"
    assert leftovers(tmp_path) == []


def test_a_streamed_file_may_learn_its_final_name_after_it_is_finished(tmp_path):
    stream = AtomicStream(tmp_path / "draft.jsonl")
    stream.handle.write(b"line\n")
    stream.finish()
    assert stream.publish(tmp_path / "final.jsonl") == tmp_path / "final.jsonl"
    assert (tmp_path / "final.jsonl").read_bytes() == b"line\n"
    assert not (tmp_path / "draft.jsonl").exists() and leftovers(tmp_path) == []


def test_the_temporary_of_a_streamed_file_whose_writer_died_is_removed(tmp_path):
    stream = AtomicStream(tmp_path / "a.jsonl")
    dead_name = stream.temporary.name.replace(f".{os.getpid()}{TEMP_SUFFIX}", f".999999999{TEMP_SUFFIX}")
    stream.handle.close()
    stream.temporary.rename(tmp_path / dead_name)  # as a killed writer with that process id leaves it
    assert remove_stale_temporaries(tmp_path) == 1
    assert leftovers(tmp_path) == []
