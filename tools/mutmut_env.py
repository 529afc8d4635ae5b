"""A pytest plugin for mutation runs only (``tools/mutation.sh`` loads it; the suite never does).

mutmut first runs the tests once with ``MUTANT_UNDER_TEST=stats`` to learn which tests call
which function. A fresh interpreter that a test starts in its ``tmp_path`` (a script run as a
program, a multiprocessing worker) inherits that variable, and mutmut's trampoline then looks
for its configuration in that folder, fails, and the test fails with it. mutmut also keeps the
value in the test process itself, so taking the variable out of the environment during the
stats run changes nothing for the calls it records; processes started by the tests run the
original code then. While a mutant is tested the variable names it and is left alone: processes
started by the tests (the fork server's runs, programs, workers) run the mutant too.

A script run in the test process (tests/helpers.run_script) runs with an environment of its own,
without that variable; mutmut's trampolines then read the mutant from the value kept in the
process. mutmut keeps it in its own runs; this plugin keeps it too when the variable is set by
hand (``MUTANT_UNDER_TEST=<name> python -m pytest -p tools.mutmut_env ...`` in mutants/, as
``tools/mutation.sh --confirm`` runs it), or those runs would test the original code.
"""

import os


def pytest_configure(config):
    name = os.environ.get("MUTANT_UNDER_TEST")
    if name == "stats":
        del os.environ["MUTANT_UNDER_TEST"]
    elif name:
        from mutmut.mutation.trampoline import set_mutant_under_test

        set_mutant_under_test(name)
