"""Every word the three scripts put in front of the user, made from the jobs' results and events:

- ``status``: what check_batch_status.py shows (batches, flex runs, lessons, ``--watch``, cancel,
  give-up, a rebuilt ledger);
- ``processing``: the processing report (process_batch_results.py, ``--wait``, flex);
- ``plan``, ``events``, ``ending``: what the generate script shows (the plan and its questions; the
  progress of a run and its interrupts; the flex report, the last words and the exit code).

The shared phrases (counts, id lists, money, times) and the next-step commands are
``lesson_batch.wording``'s: the modules below the text (an error message, the ledger's own
next step) use them too. Error messages travel on the errors that carry them
(``errors.LessonBatchError``).
"""
