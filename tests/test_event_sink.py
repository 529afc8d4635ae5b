"""Progress goes through one sink: a job tells typed events, a text module words them, the
printer prints the words (``output.EventSink``)."""

from __future__ import annotations

import threading
from pathlib import Path

from lesson_batch.ledger import Ledger
from lesson_batch.output import EventSink, Line, Message, Printer
from lesson_batch.process_job import Downloading, NoOutputFile, WaitingForAnotherRun
from lesson_batch.text.status import StatusWords
from tests.helpers import wait_until


def collecting() -> tuple[Printer, list[str], list[str]]:
    out: list[str] = []
    noted: list[str] = []
    return Printer(out=out.append, note=noted.append), out, noted


def test_an_event_is_printed_in_the_words_the_text_module_gives_it():
    printer, out, noted = collecting()
    events = EventSink(printer, lambda event: [Line(f"said {event}"), Line("aside", "note"), Line("bad", "error")])
    events(7)
    assert out == ["said 7"]
    assert noted == ["aside", "error: bad"]


def test_a_message_already_in_words_is_printed_as_it_is_where_it_says():
    printer, out, noted = collecting()
    events = EventSink(printer, lambda event: [Line("never used")])
    events(Message("note: the lessons folder is remembered"))
    events(Message("the API could not be read", "error"))
    assert out == []
    assert noted == ["note: the lessons folder is remembered", "error: the API could not be read"]


def test_closing_the_sink_closes_the_words_that_keep_state():
    closed = []

    class Words:
        def __call__(self, event):
            return []

        def close(self):
            closed.append(True)

    EventSink(Printer(out=lambda line: None), Words()).close()
    assert closed == [True]


def test_the_processing_events_read_as_the_processing_script_tells_them(tmp_path):
    printer, out, _noted = collecting()
    events = EventSink(printer, StatusWords())
    events(Downloading("file-abc", tmp_path / "results.jsonl"))
    events(NoOutputFile("batch_1"))
    assert out[0].startswith("Downloading file-abc to ") and out[0].endswith(f"{Path('results.jsonl')}...")
    assert out[1] == ("Batch batch_1 is completed but has no output file: its lessons are reported missing and "
                      "will be requested again.")


def test_a_run_that_waits_for_another_processing_run_says_so_once_as_a_note(tmp_path):
    printer, out, noted = collecting()
    events = EventSink(printer, StatusWords())
    turns = []
    with Ledger.open(tmp_path / "work") as first, Ledger.open(tmp_path / "work") as second:

        def second_run():
            with second.processing_lock(on_wait=lambda: events(WaitingForAnotherRun(second.path.parent))):
                turns.append("second")

        with first.processing_lock():
            waiting = threading.Thread(target=second_run)
            waiting.start()
            wait_until(lambda: noted, "the second run says it waits")
            assert turns == []
        waiting.join(timeout=30)

    assert turns == ["second"]  # its turn came once the first run let go
    assert out == []
    assert noted == [f"another run is processing results in {tmp_path / 'work'}; waiting for it to finish..."]
