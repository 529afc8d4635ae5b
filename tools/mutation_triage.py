"""The report of a mutation run: every surviving mutant, explained or not.

Run from the repository after ``tools/mutation.sh`` (it reads ``mutants/``)::

    python tools/mutation_triage.py                  # per module: killed, survived, explained, not
    python tools/mutation_triage.py --list           # each unexplained survivor and its change
    python tools/mutation_triage.py --list --all     # every survivor, with its kind or verdict
    python tools/mutation_triage.py --functions      # unexplained survivors counted per function
    python tools/mutation_triage.py --confirm        # check that each "closed" verdict's test kills its mutant

It exits with 1 while any survivor is unexplained, or any mutant is still to run and has no
verdict (TO RUN: a verdict may cover a mutant before it is run, for a function that only builds
words). A mutant is still to run when it was not tested yet, or when it timed out: mutmut's time
limit is a multiple of the tests' time measured once, so on a loaded machine a slow survivor times
out, and a timeout is a kill only on a machine as quiet as the one that measured. Run the timed-out
ones again by name on a quiet machine (``mutmut run NAME ...``; the list: ``--to-run``).
A survivor is explained in one of two ways.

**By its kind.** mutmut changes one thing per mutant. This script finds that change by comparing
the mutant's function with the original, node by node, and names its kind:

* ``sql-case``: only the letter case of an SQL statement changed, outside its quoted values.
  SQLite reads keywords and names in any case, so the statement means the same: equivalent.
* ``error-words``: only a string in what a ``raise`` raises (the words of an error) changed.
  The error is still raised, at the same place, of the same type; the tests that pin wording
  pin the words users see most, not every one. Not a money or data path.
* ``event-words``: only a string passed to ``output.Message`` (a one-line note) changed.
* ``logic``: anything else. Each must be read, and either killed by a test or given a verdict.

**By a verdict**, written by the person who read it, in ``tools/mutation_verdicts/<module>.txt``
(``flex`` and ``ledger`` for the packages): one line each, ``pattern | verdict | why``, where the
pattern matches mutant names (``*`` for any text, so one line can cover a function's mutants)
and the verdict is one of:

* ``equivalent``: no input tells it from the original;
* ``harmless``: it changes something no user or later run relies on (said in the why);
* ``wording``: it changes only words a person reads, not what is paid for or saved;
* ``closed``: a test kills it that mutmut did not run for it: one added after the run, or one
  that reaches the function only in a process of its own (a kill, a script run as a program) or
  through a module-scoped fixture set up by an earlier test, which mutmut cannot map to the function.
  The why starts with the test (``tests/x.py::name``),
  and ``--confirm`` runs that test on the mutant to check (and first without a mutant: a test
  that fails on the code ``mutants/`` was made from proves nothing).

A "no tests" mutant (no test calls its function in the test process) is reported like a survivor.
The report also names the verdict lines that match no mutant of the run (a function changed or
removed since): remove them, so that the verdicts stay a record of today's code.

The mutants of a module live in ``mutants/<path>`` as functions named
``x_<function>__mutmut_<n>`` (methods: ``xǁ<Class>ǁ<method>__mutmut_<n>``) beside the original,
``..._mutmut_orig``; their results are in ``mutants/<path>.meta``.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.stats import status_by_exit_code  # mutmut's own reading of the exit codes it records

VERDICTS = Path(__file__).parent / "mutation_verdicts"
VERDICT_KINDS = ("equivalent", "harmless", "wording", "closed")
AUTOMATIC_KINDS = ("sql-case", "error-words", "event-words")
NOT_GUARDED = ("survived", "no tests")
STILL_TO_RUN = ("not checked", "timeout")  # mutmut's words for "not tested yet" and "timed out"
HEADINGS = {"not checked": "not tested"}
SQL_WORDS = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE|CREATE|WHERE|FROM|PRAGMA|ALTER|DROP)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Survivor:
    module: str
    name: str
    status: str
    kind: str
    before: str
    after: str


@dataclass(frozen=True)
class Verdict:
    pattern: str
    verdict: str
    why: str
    where: str


def module_of(mutant_name: str) -> str:
    """The module (or package) a mutant belongs to, as its verdict file is named: ``flex``, ``saving``."""
    return mutant_name.split(".")[1]


def read_verdicts(folder: Path = VERDICTS) -> list[Verdict]:
    verdicts = []
    for path in sorted(folder.glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [part.strip() for part in line.split("|", 2)]
            where = f"{path.name}:{number}"
            if len(parts) != 3 or parts[1] not in VERDICT_KINDS or not parts[2]:
                raise SystemExit(f"{path}:{number}: expected 'pattern | verdict | why', the verdict one of "
                                 f"{', '.join(VERDICT_KINDS)}: {line!r}")
            verdicts.append(Verdict(parts[0], parts[1], parts[2], where))
    return verdicts


def verdict_for(name: str, verdicts: list[Verdict]) -> Verdict | None:
    return next((verdict for verdict in verdicts if fnmatch.fnmatchcase(name, verdict.pattern)), None)


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            found[node.name] = node
    return found


def _first_difference(a: ast.AST, b: ast.AST, parents: tuple[ast.AST, ...] = ()):
    """The outermost pair of nodes where a and b differ, with a's ancestors, or None."""
    if type(a) is not type(b):
        if isinstance(a, (ast.boolop, ast.operator, ast.cmpop, ast.unaryop)) and parents:
            return parents[-1], None, parents[:-1]  # an operator has no text of its own: show its expression
        return a, b, parents
    for field in a._fields:
        if field == "name" and isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        value_a, value_b = getattr(a, field, None), getattr(b, field, None)
        if isinstance(value_a, ast.AST):
            found = _first_difference(value_a, value_b, parents + (a,))
            if found:
                return found
        elif isinstance(value_a, list):
            if not isinstance(value_b, list) or len(value_a) != len(value_b):
                return a, b, parents
            for item_a, item_b in zip(value_a, value_b, strict=True):
                if isinstance(item_a, ast.AST):
                    found = _first_difference(item_a, item_b, parents + (a,))
                    if found:
                        return found
                elif item_a != item_b:
                    return a, b, parents
        elif value_a != value_b:
            return a, b, parents
    return None


def _same_place(mutant: ast.AST, original: ast.AST, node: ast.AST) -> ast.AST:
    """The node of the mutant at the place of the original's node (same position in the source)."""
    for candidate in ast.walk(mutant):
        same_start = (getattr(candidate, "lineno", None), getattr(candidate, "col_offset", None))
        if type(candidate) is type(node) and same_start == (node.lineno - original.lineno + mutant.lineno,
                                                             node.col_offset):
            return candidate
    return node


def _outside_quotes(sql: str) -> str:
    return re.sub(r"'[^']*'", "''", sql)


def _kind(before: ast.AST, after: ast.AST, parents: tuple[ast.AST, ...]) -> str:
    strings = isinstance(before, ast.Constant) and isinstance(before.value, str)
    strings = strings and isinstance(after, ast.Constant) and isinstance(after.value, str)
    if not strings:
        return "logic"
    old, new = before.value, after.value
    if SQL_WORDS.search(old) and old.lower() == new.lower():
        if _outside_quotes(old) != old or re.findall(r"'[^']*'", old) == re.findall(r"'[^']*'", new):
            return "sql-case"
    if any(isinstance(parent, ast.Raise) for parent in parents):
        return "error-words"
    for parent in parents:
        if isinstance(parent, ast.Call):
            callee = parent.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if name == "Message":
                return "event-words"
    return "logic"


def results(mutants: Path) -> tuple[Counter, list[Survivor], list[str], list[str]]:
    """The count of each status per module, every mutant no test guards (survived or no tests),
    the names of the mutants still to run (not tested yet, or timed out: see the docstring), and
    the names of all the mutants."""
    counts: Counter = Counter()  # (module, status) -> count
    found = []
    untested = []
    names = []
    for meta in sorted(mutants.glob("lesson_batch/**/*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        source = meta.with_suffix("")
        functions = None
        for name, code in sorted(exit_codes.items()):
            names.append(name)
            status = status_by_exit_code[code]
            counts[module_of(name), status] += 1
            if status in STILL_TO_RUN:
                untested.append(name)
            if status not in NOT_GUARDED:
                continue
            if functions is None:
                functions = _functions(ast.parse(source.read_text()))
            found.append(_survivor(name, status, functions))
    return counts, found, untested, names


def _survivor(name: str, status: str, functions: dict) -> Survivor:
    mangled = name.rsplit(".", 1)[1]
    mutant = functions[mangled]
    original = functions[mangled.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"]
    difference = _first_difference(original, mutant)
    if difference is None:
        return Survivor(module_of(name), name, status, "logic", "?", "?")
    before, after, parents = difference
    if after is None:  # an operator changed: find it in the mutant's copy of the expression
        kind, after = "logic", _same_place(mutant, original, before)
    else:
        kind = _kind(before, after, parents)
    return Survivor(module_of(name), name, status, kind, ast.unparse(before)[:200], ast.unparse(after)[:200])


def explanation(survivor: Survivor, verdicts: list[Verdict]) -> str | None:
    """What explains a survivor (its automatic kind, or a verdict), or None."""
    verdict = verdict_for(survivor.name, verdicts)
    if verdict:
        return verdict.verdict
    if survivor.kind in AUTOMATIC_KINDS:
        return survivor.kind
    return None


def matching_nothing(names: list[str], verdicts: list[Verdict]) -> list[Verdict]:
    """The verdict lines that match none of the run's mutants (``names``): left over from a function
    since changed or removed. They explain nothing, but a reader takes them for a record of today's code."""
    names_by_module: dict[str, list[str]] = {}
    for name in names:
        names_by_module.setdefault(module_of(name), []).append(name)
    return [verdict for verdict in verdicts
            if not fnmatch.filter(names_by_module.get(verdict.where.split(".txt")[0], ()), verdict.pattern)]


def confirm(mutants: Path, found: list[Survivor], verdicts: list[Verdict]) -> list[str]:
    """Run each "closed" verdict's test on its mutant (in mutants/, with today's tests); the names it does not kill."""
    shutil.copytree("tests", mutants / "tests", dirs_exist_ok=True)
    not_killed = []
    passes_unmutated: dict[str, bool] = {}
    for survivor in found:
        verdict = verdict_for(survivor.name, verdicts)
        if not verdict or verdict.verdict != "closed":
            continue
        test = _test_named(verdict.why)
        if test not in passes_unmutated:  # a test that fails on the run's code without a mutant kills nothing
            passes_unmutated[test] = _run_test(mutants, test, "") == 0
        if not passes_unmutated[test]:
            print(f"{'NOT checked':14} {test} fails without a mutant (on the code mutants/ was made from)")
            not_killed.append(survivor.name)
            continue
        killed = _run_test(mutants, test, survivor.name) != 0
        print(f"{'killed by' if killed else 'NOT killed by':14} {test}: {survivor.name}")
        if not killed:
            not_killed.append(survivor.name)
    return not_killed


def _test_named(why: str) -> str:
    """The test a "closed" verdict's why starts with: its first word, or up to the ``]`` that closes a
    parametrized node id with spaces in its parameters (``tests/x.py::name[a b]``)."""
    first = why.split()[0]
    if "[" in first and "]" not in first and "]" in why:
        return why[:why.index("]") + 1]
    return first


def _run_test(mutants: Path, test: str, mutant: str) -> int:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
               "-p", "tools.mutmut_env", test]
    environment = dict(os.environ, MUTANT_UNDER_TEST=mutant)
    return subprocess.run(command, cwd=mutants, env=environment, capture_output=True, text=True).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder (default: mutants)")
    parser.add_argument("--list", action="store_true", help="each unexplained survivor and its change")
    parser.add_argument("--all", action="store_true", help="with --list: every survivor, explained ones too")
    parser.add_argument("--functions", action="store_true", help="unexplained survivors counted per function")
    parser.add_argument("--module", help="only this module (saving, flex, ledger, ...)")
    parser.add_argument("--to-run", action="store_true", help="the names of the mutants still to run (TO RUN)")
    parser.add_argument("--confirm", action="store_true", help="run each 'closed' verdict's test on its mutant")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no {args.mutants}/ here: run tools/mutation.sh first", file=sys.stderr)
        return 2
    verdicts = read_verdicts()
    counts, found, untested, names = results(args.mutants)
    if args.module:
        found = [survivor for survivor in found if survivor.module == args.module]
        untested = [name for name in untested if module_of(name) == args.module]
    unexplained = [survivor for survivor in found if explanation(survivor, verdicts) is None]
    # A mutant still to run is open unless a verdict already covers it (a function that only builds words).
    still_open = [name for name in untested if verdict_for(name, verdicts) is None]
    if args.confirm:
        not_killed = confirm(args.mutants, found, verdicts)
        unexplained += [survivor for survivor in found if survivor.name in not_killed]
    if args.to_run:
        print("\n".join(still_open))
    elif args.list:
        for survivor in found if args.all else unexplained:
            said = explanation(survivor, verdicts) or "UNEXPLAINED"
            print(f"{said:12} {survivor.name} ({survivor.status})\n    - {survivor.before}\n    + {survivor.after}")
    elif args.functions:
        per_function = Counter(survivor.name.rsplit("__mutmut_", 1)[0] for survivor in unexplained)
        for function, count in sorted(per_function.items()):
            print(f"{count:4} {function}")
    else:
        if args.module:
            counts = Counter({key: count for key, count in counts.items() if key[0] == args.module})
        _print_report(counts, found, unexplained, verdicts, still_open)
        stale = [verdict for verdict in matching_nothing(names, verdicts)
                 if not args.module or verdict.where.startswith(args.module + ".txt")]
        if stale:
            print(f"verdict lines that match no mutant ({len(stale)}; remove them): "
                  + ", ".join(verdict.where for verdict in stale))
    return 1 if unexplained or still_open else 0


def _print_report(counts: Counter, found: list[Survivor], unexplained: list[Survivor], verdicts: list[Verdict],
                  still_open: list[str]):
    modules = sorted({module for module, _ in counts})
    statuses = ("killed", "timeout", "survived", "no tests", "not checked")
    headings = "".join(f"{HEADINGS.get(status, status):>11}" for status in statuses)
    print(f"{'module':16}{'mutants':>8}{headings}{'explained':>11}{'UNEXPLAINED':>12}{'TO RUN':>9}")
    for module in modules:
        total = sum(count for (name, _), count in counts.items() if name == module)
        explained = sum(1 for survivor in found if survivor.module == module and explanation(survivor, verdicts))
        left = sum(1 for survivor in unexplained if survivor.module == module)
        untested = sum(1 for name in still_open if module_of(name) == module)
        print(f"{module:16}{total:>8}" + "".join(f"{counts[module, status]:>11}" for status in statuses)
              + f"{explained:>11}{left:>12}{untested:>9}")
    kinds = Counter(explanation(survivor, verdicts) for survivor in found)
    print("explained by: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items(), key=str) if kind))


if __name__ == "__main__":
    sys.exit(main())
