"""A script's outcome and its one sink: output on stdout (stderr under --json), notes and errors
on stderr in the order they were added, the JSON envelope on stdout, and the exit code."""

import io
import json

from lesson_batch import cli
from lesson_batch.errors import EXIT_FAILURE, EXIT_USAGE, LessonBatchError, UsageError
from lesson_batch.output import Printer


def outcome_with_asides() -> cli.Outcome:
    outcome = cli.Outcome(["first"], {"done": True}, EXIT_FAILURE)
    outcome.error("went wrong")
    outcome.say("second")
    outcome.note("a note")
    return outcome


def test_text_goes_to_stdout_and_asides_to_stderr_in_the_order_they_were_added(capsys):
    assert outcome_with_asides().show(Printer()) == EXIT_FAILURE
    captured = capsys.readouterr()
    assert captured.out == "first\nsecond\n"
    assert captured.err == "error: went wrong\na note\n"


def test_under_json_stdout_holds_only_the_envelope_and_the_text_goes_to_stderr(capsys):
    outcome_with_asides().show(Printer(json_output=True, command="a_script"))
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "version": 1, "command": "a_script", "exit_code": EXIT_FAILURE, "result": {"done": True},
        "messages": [{"level": "error", "text": "went wrong"}, {"level": "info", "text": "a note"}],
    }
    assert captured.err == "first\nerror: went wrong\nsecond\na note\n"


def test_the_document_is_not_printed_without_json(capsys):
    cli.Outcome([], {"done": True}).show(Printer())
    assert capsys.readouterr().out == ""


def test_a_printer_can_hand_its_output_to_a_collector(capsys):
    said, noted = [], []
    printer = Printer(out=said.append, note=noted.append)
    printer.out("plan")
    printer.error("bad")
    assert (said, noted, capsys.readouterr().err) == (["plan"], ["error: bad"], "")


def test_with_yes_or_off_a_terminal_nothing_is_asked(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli.confirm("Go?", yes=True)
    assert cli.confirm("Go?")  # a StringIO is no terminal


def test_on_a_terminal_the_answer_decides(monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert cli.confirm("Go?")
    monkeypatch.setattr("sys.stdin", Terminal("\n"))
    assert not cli.confirm("Go?")
    assert capsys.readouterr().err == "Go? [y/N] Go? [y/N] "


def test_a_user_error_ends_the_run_with_its_message_and_its_exit_code(capsys):
    def fails_with(error):
        def main():
            raise error
        return main

    assert cli.run(fails_with(LessonBatchError("the ledger is locked"))) == EXIT_FAILURE
    assert cli.run(fails_with(UsageError("--limit must be at least 1"))) == EXIT_USAGE
    assert capsys.readouterr().err == "error: the ledger is locked\nerror: --limit must be at least 1\n"


def test_every_error_class_of_the_package_is_a_user_error_with_an_exit_code():
    import importlib
    import inspect
    import pkgutil

    import lesson_batch

    found = set()
    for module_info in pkgutil.walk_packages(lesson_batch.__path__, "lesson_batch."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            public = not name.startswith("_")  # a private one never leaves its module (control flow)
            own = inspect.isclass(value) and value.__module__ == module.__name__
            if public and own and issubclass(value, Exception):
                found.add(name)
                assert issubclass(value, LessonBatchError), name
    assert {"ApiError", "LedgerError", "CurriculumError", "FolderError", "BudgetError"} <= found
