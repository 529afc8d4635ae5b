#!/usr/bin/env bash
# Mutation testing of the money and data modules: docs/testing.md, "Mutation testing".
# Run by hand (never in CI), from anywhere in the repository, with mutmut 3 installed:
#
#     pip install "mutmut==3.8.1"
#     tools/mutation.sh                      # every module below, in this order
#     tools/mutation.sh saving flex          # some of them
#     tools/mutation.sh --confirm saving     # then re-test its survivors with all its test files
#
# mutmut (configured in pyproject.toml, [tool.mutmut]) copies the package to mutants/, learns
# once which test calls which function (in the test process), and tests each mutant with only
# those tests. A test that reaches a module only through a process of its own (a crash point,
# a kill, a script run as a program) is not among them, although that process runs the mutant
# too; --confirm re-tests each survivor of a module with every test file listed for it below
# (MODULE_TESTS), in-process and subprocess tests alike: a survivor that still passes them is
# a real survivor.
#
# It ends with the report of tools/mutation_triage.py (see its docstring): every survivor, explained
# or not. Results stay in mutants/ (ignored by git): `mutmut results` lists them, `mutmut show
# NAME` shows one, `mutmut browse` browses them. Delete mutants/ after changing the tests (or
# pyproject's [tool.mutmut]) so that the test-to-function map is learnt again.
# MUTATION_JOBS (default 4) mutants run at once: their tests wait more than they compute, so on 2 cores
# 4 ran several times as many mutants a second as 2, and 8 passed mutmut's time limit (docs/testing.md,
# "How long it takes").
set -euo pipefail
cd "$(dirname "$0")/.."

# flex and ledger are packages: each stands for all of its modules (lesson_batch/flex/*, lesson_batch/ledger/*).
ALL_MODULES=(saving existing_lesson flex submit batch_sync models plan process_job lifecycle ledger lesson_text)

# The test files that exercise each module: in the test process (as mutmut finds) and through a
# script's own process (tests/test_kill_*.py, tests/test_scripts_as_programs.py).
declare -A MODULE_TESTS=(
  [saving]="test_process_results test_results_files_given test_results_per_batch test_results_one_process test_flex test_fuzz test_workspace
             test_real_batch_lines test_kill_recovery test_kill_anywhere test_model_rules test_submit_and_status
             test_processing_a_batch"
  [existing_lesson]="test_process_results test_workspace test_results_one_process test_kill_recovery"
  [process_job]="test_process_results test_results_files_given test_processing_summary_json test_results_per_batch test_fuzz test_real_batch_lines test_kill_recovery
                test_kill_anywhere test_model_rules test_newcomer"
  [flex]="test_flex test_flex_faults test_flex_guards test_flex_cost test_flex_settling test_flex_write_failures test_kill_recovery test_kill_anywhere test_model_rules
          test_newcomer"
  [submit]="test_submit_and_status test_submit_cancel test_submit_adoption test_submit_metadata test_flex test_kill_recovery test_kill_anywhere test_model_rules test_newcomer
            test_process_results test_submit_limits"
  [batch_sync]="test_batch_sync test_watch_stops test_submit_and_status test_polling_cost test_process_results test_results_per_batch
                test_kill_recovery test_kill_anywhere test_newcomer test_ledger"
  [plan]="test_plan test_generate_dry_run test_submit_and_status test_flex test_newcomer test_model_rules
          test_kill_recovery"
  [models]="test_models test_plan test_requests test_model_rules test_flex test_process_results test_generate_dry_run"
  [lifecycle]="test_lifecycle test_ledger test_process_results test_flex"
  [ledger]="test_ledger test_ledger_faults test_lost_batch test_ledger_upgrade test_upgrade_from_v1 test_batch_sync test_submit_and_status
            test_process_results test_flex test_kill_recovery test_kill_anywhere test_results_one_process test_fuzz"
  [lesson_text]="test_lesson_text test_lesson_text_reference test_real_batch_lines test_requests test_prompt
                 test_process_results test_fuzz"
)

confirm=0
if [[ "${1:-}" == "--confirm" ]]; then
  confirm=1
  shift
fi
modules=("$@")
if [[ ${#modules[@]} -eq 0 ]]; then
  modules=("${ALL_MODULES[@]}")
fi
for module in "${modules[@]}"; do
  if [[ -z "${MODULE_TESTS[$module]:-}" ]]; then
    echo "tools/mutation.sh: no module '$module'; choose from: ${ALL_MODULES[*]}" >&2
    exit 2
  fi
done
if ! command -v mutmut >/dev/null; then
  echo 'tools/mutation.sh: mutmut is not installed: pip install "mutmut==3.8.1"' >&2
  exit 2
fi

# The real Batch API lines next to the repository (tests/test_real_batch_lines.py), where present.
export REAL_BATCH_LINES_DIR="${REAL_BATCH_LINES_DIR:-$(git rev-parse --show-toplevel)/../shared/real_batch_lines}"

patterns=()
for module in "${modules[@]}"; do
  patterns+=("lesson_batch.$module.*")
done
start=$(date +%s)
status=0
mutmut run --max-children "${MUTATION_JOBS:-4}" "${patterns[@]}" || status=$?
echo "mutmut: $(( $(date +%s) - start )) s for ${modules[*]} (exit $status)"

survivors() {  # the surviving mutants of module $1
  mutmut results | sed -n "s/^ *\(lesson_batch\.$1\.[^:]*\): survived\$/\1/p"
}

if [[ $confirm -eq 1 ]]; then
  for module in "${modules[@]}"; do
    files=()
    for name in ${MODULE_TESTS[$module]}; do
      files+=("tests/$name.py")
    done
    for mutant in $(survivors "$module"); do
      # The trampolines in mutants/ run the mutant this variable names, in this process and in
      # every process the tests start.
      if (cd mutants && MUTANT_UNDER_TEST="$mutant" python -m pytest -x -q -n 0 -p no:cacheprovider \
            -p tools.mutmut_env "${files[@]}" >/dev/null 2>&1); then
        echo "survived (all of its test files): $mutant"
      else
        echo "killed by its test files:         $mutant"
      fi
    done
  done
fi

echo
# The report: per module, what was killed and what survived, and every survivor not yet explained
# by its kind or by a verdict in tools/mutation_verdicts/ (exit 1 while there is one).
python tools/mutation_triage.py
python tools/mutation_triage.py --list
