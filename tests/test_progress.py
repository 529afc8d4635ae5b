"""The progress bar: drawn in place on a terminal, silent anywhere else."""

import io

from lesson_batch.progress import ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_redraws_in_place_and_ends_its_line():
    stream = FakeTerminal()
    bar = ProgressBar("Batches", 4, stream=stream, min_interval=0)
    bar.update(done=1, note="in_progress")
    bar.update(done=4, note="completed")
    bar.close()
    output = stream.getvalue()
    assert output.count("\r") == 3  # two updates and the final draw, each over the same line
    assert "1/4 (25.0%)  in_progress" in output
    assert output.endswith("4/4 (100.0%)  completed\x1b[K\n")


def test_when_output_is_not_a_terminal_nothing_is_drawn():
    stream = io.StringIO()
    bar = ProgressBar("Processing results", 10, stream=stream, min_interval=0)
    bar.update(advance=5)
    bar.close()
    assert stream.getvalue() == ""


def test_a_bar_never_updated_prints_nothing_when_closed():
    stream = FakeTerminal()
    ProgressBar("Batches", 0, stream=stream).close()
    assert stream.getvalue() == ""


def test_updates_closer_together_than_the_interval_are_not_redrawn():
    stream = FakeTerminal()
    bar = ProgressBar("Processing results", 1000, stream=stream, min_interval=3600)
    for _ in range(10):
        bar.update(advance=1)
    assert stream.getvalue().count("\r") == 1  # only the first update draws
