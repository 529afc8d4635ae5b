#!/usr/bin/env python3
"""Scale benchmark: the dry run and results processing at 15,000 and 50,000+ lessons.

Run by hand from the repository root (it is not a test):

    python bench/benchmark.py                 # the full run, a few minutes, ~1 GB of scratch files
    python bench/benchmark.py --results 5000  # a quicker run

It builds, in a scratch folder (``bench/out/`` unless ``--scratch``):

- a synthetic curriculum of 15 modules x 999 lessons (14,985), and one of 51 x 999 (50,949),
  which must shard into two batches (the API takes at most 50,000 requests per file);
- a synthetic Batch API output file of ``--results`` lessons (default 50,000) of about 4 KB of
  Markdown each, and a ledger in which those lessons are submitted.

Each measured step runs in a fresh Python process (processing runs in that one process) that
reports its wall time, its CPU time and its peak memory. The processing step is compared with a
bare baseline loop that only reads the same results file, parses each line and writes each lesson
to a file: the ratio is what our matching, cleaning, checking, atomic writes and ledger updates
cost on top of the unavoidable I/O. The two run in turn (processing, baseline, processing, ...),
``--repeat`` times each, and the median of each is compared; all of it twice, with the scratch
files on the disk (``--scratch``) and in memory (``--memory-scratch``, a tmpfs such as /dev/shm).

``--sync-compare N`` also processes N lessons (15,000 by default) on the disk three ways: as
shipped (a group's files flushed to disk by one ``syncfs`` on Linux), with the fallback of other
systems (an fsync of each file of a group, then of the folder), and with an fsync as each file is
written: what ``syncfs`` saves a user.

Peak memory is the step's process's own peak resident set (VmHWM from /proc on Linux; elsewhere
its maximum RSS on Unix, or "n/a" on Windows).

Targets: processing within 3.5x of the baseline, peak memory under 100 MB whatever the results
file's size, the dry run for 15k lessons under 2 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SECTIONS = (
    "Learning Objectives", "Why It Matters", "Core Concepts", "How It Works in Practice", "Worked Example",
    "Common Pitfalls", "Check Your Understanding", "Key Takeaways", "Further Reading",
)
PARAGRAPH = (
    "Data stewards agree the definition with the business owner, record it in the glossary and link it "
    "to the physical columns in the catalog, so that every report that uses the term can be traced back "
    "to one agreed meaning and one accountable person. "
)


# --------------------------------------------------------------------------- scratch data


def write_curriculum(path: Path, modules: int, lessons_per_module: int) -> int:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("# Synthetic Governance Curriculum\n\n")
        for module in range(modules):
            handle.write(f"# M{module}: Synthetic Module {module} — Lesson Map\n\n")
            for lesson in range(1, lessons_per_module + 1):
                tag = "FIA"[lesson % 3]
                handle.write(f"## L{lesson:03d}: Topic {module}.{lesson} in Practice [{tag}]\n")
                handle.write(f"Key topics: stewardship; quality rule {lesson}; lineage for module {module}.\n\n")
    return modules * lessons_per_module


def lesson_markdown(title: str) -> str:
    """About 4 KB of Markdown shaped like a generated lesson: sections of a paragraph and a list,
    a table and a code block."""
    parts = [f"# {title}\n"]
    for number, section in enumerate(SECTIONS):
        parts.append(f"\n## {section}\n\n{PARAGRAPH}\n\n")
        parts.append("".join(f"- Point {number}.{item}: who owns it, and how it is measured.\n" for item in range(3)))
    parts.append("\n| Role | Decides | Is consulted |\n| --- | --- | --- |\n| Data owner | definition | steward |\n")
    parts.append("\n```sql\nSELECT steward, COUNT(*) FROM glossary_terms GROUP BY steward;\n```\n")
    return "".join(parts)


def write_results(path: Path, lesson_ids: list[str]) -> int:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for index, lesson_id in enumerate(reversed(lesson_ids)):  # output order differs from input order
            body = {
                "id": f"chatcmpl-{index}",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-6.1-terra",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": lesson_markdown(f"Lesson {lesson_id}")},
                    "finish_reason": "stop",
                }],
                "usage": {
                    "prompt_tokens": 900, "completion_tokens": 2900, "total_tokens": 3800,
                    "prompt_tokens_details": {"cached_tokens": 768},
                    "completion_tokens_details": {"reasoning_tokens": 1900},
                },
            }
            line = {"id": f"batch_req_{index}", "custom_id": lesson_id,
                    "response": {"status_code": 200, "request_id": f"req_{index}", "body": body}, "error": None}
            handle.write(json.dumps(line) + "\n")
    return path.stat().st_size


def prepare_ledger(work_dir: Path, lesson_ids: list[str]) -> None:
    from lesson_batch.batch_info import BatchInfo
    from lesson_batch.ledger import Ledger

    with Ledger.open(work_dir) as ledger:
        ledger.record_shard(
            shard_key="bench-s001", run_id="bench", model="gpt-6.1-terra", input_path="bench.jsonl", sha256="-",
            lessons=[(lesson_id, 16000, None) for lesson_id in lesson_ids], prompt_tokens=900 * len(lesson_ids),
            output_tokens=3000 * len(lesson_ids), required_sections=list(SECTIONS),
        )
        ledger.shard_uploaded("bench-s001", "file-bench")
        ledger.shard_submitted("bench-s001", BatchInfo(id="batch_bench", status="completed",
                                                         input_file_id="file-bench", request_total=len(lesson_ids)))


# --------------------------------------------------------------------------- measured steps (child processes)


def step_dry_run(curriculum: str, work_dir: str, output_dir: str) -> dict:
    from lesson_batch.cli import DEFAULT_TEMPLATE
    from lesson_batch.plan import PlanOptions, make_plan

    plan = make_plan(PlanOptions(Path(curriculum), DEFAULT_TEMPLATE, Path(output_dir), Path(work_dir)))
    return {"lessons": len(plan.to_request), "shards": len(plan.shards)}


def step_process(results: str, work_dir: str, output_dir: str, sync: str = "shipped") -> dict:
    from lesson_batch import files
    from lesson_batch import saving as results_module
    from lesson_batch.ledger import Ledger
    from lesson_batch.saving import Processing, process_files

    if sync == "fsync-group":  # the route of systems without syncfs: each file of a group, then its folder
        files._syncfs_call = None
    elif sync == "fsync-each":  # an fsync as each lesson is written (the group's syncfs then finds little)
        results_module.write_temporary = lambda path, data: files.write_temporary(path, data, durable=True)
    with Ledger.open(work_dir) as ledger:
        report = process_files(Processing.of(ledger, Path(output_dir), Path(work_dir)), [Path(results)])
    return {"saved": len(report.saved), "failed": report.failed_count, "bad_lines": len(report.bad_lines)}


def step_baseline(results: str, work_dir: str, output_dir: str) -> dict:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(results, "rb") as handle:
        for raw in handle:
            record = json.loads(raw)
            content = record["response"]["body"]["choices"][0]["message"]["content"]
            with open(out / f"{record['custom_id']}.md", "w", encoding="utf-8", newline="\n") as lesson:
                lesson.write(content)
            written += 1
    return {"saved": written}


STEPS = {"dry-run": step_dry_run, "process": step_process, "baseline": step_baseline}


def peak_memory_mb() -> float | None:
    """The process's own peak resident set."""
    # VmHWM belongs to this process image alone; ru_maxrss on Linux also counts the parent's
    # memory at fork time, which would blame the benchmark driver's data on the measured step.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    try:
        import resource
    except ImportError:
        return None
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def cpu_seconds() -> float | None:
    """CPU time of this process."""
    try:
        import resource
    except ImportError:
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def load_average() -> str:
    """The machine's load average (1, 5, 15 minutes), where the system tells it: other work slows every step."""
    try:
        return ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        return ""


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def run_child(step: str, *args: str) -> dict:
    if hasattr(os, "sync"):
        os.sync()  # start from a quiet disk: no step pays for the previous one's write-back
    completed = subprocess.run(
        [sys.executable, __file__, "--step", step, *args], capture_output=True, text=True, cwd=REPO
    )
    if completed.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=50_000, help="lessons in the synthetic results file")
    parser.add_argument("--scratch", type=Path, default=REPO / "bench" / "out",
                        help="scratch folder on the disk (emptied first)")
    parser.add_argument("--memory-scratch", type=Path, default=Path("/dev/shm/lesson_batch_bench"),
                        help="scratch folder in memory, a tmpfs (emptied first; skipped if its parent does not exist)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the processing and baseline loops (median)")
    parser.add_argument("--no-dry-run", action="store_true", help="measure only the processing")
    parser.add_argument("--sync-compare", type=int, nargs="?", const=15_000, default=0, metavar="N",
                        help="also process N lessons (15,000) on the disk with syncfs, an fsync per group's file, "
                             "and an fsync per write")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders afterwards")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()

    if args.step:  # a child process: run one step and print its measurements as JSON
        started, cpu_started = time.perf_counter(), cpu_seconds()
        result = STEPS[args.step](*rest)
        cpu = cpu_seconds()
        result.update(
            seconds=time.perf_counter() - started,
            cpu_seconds=None if cpu is None else cpu - cpu_started,
            peak_mb=peak_memory_mb(),
        )
        print(json.dumps(result))
        return 0

    places = [("disk", args.scratch)]
    if args.memory_scratch.parent.is_dir():
        places.append(("memory", args.memory_scratch))
    for _, scratch in places:
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(parents=True)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}{load_average()}")
    rows = []
    scratch = args.scratch

    curriculum = scratch / "curriculum_51.md"
    write_curriculum(curriculum, 51, 999)
    if not args.no_dry_run:
        for name, modules in (("15 x 999", 15), ("51 x 999", 51)):
            curriculum = scratch / f"curriculum_{modules}.md"
            count = write_curriculum(curriculum, modules, 999)
            result = run_child("dry-run", str(curriculum), str(scratch / f"work_dry_{modules}"), str(scratch / "none"))
            rows.append((f"dry run, {name} = {count:,} lessons", "disk", result))
            print(f"dry run {name}: {result['lessons']:,} requests in {result['shards']} shard(s)")

    from lesson_batch.curriculum import load_curriculum

    lesson_ids = [lesson.id for lesson in load_curriculum(scratch / "curriculum_51.md").lessons][: args.results]
    ratios = {}
    for place, folder in places:
        results = folder / "results.jsonl"
        size = write_results(results, lesson_ids)
        print(f"{place}: results file of {len(lesson_ids):,} lessons, {size / 1e6:,.0f} MB in {folder}")
        prepare_ledger(folder / "ledger_template", lesson_ids)
        processed_runs, baseline_runs = [], []
        for attempt in range(args.repeat):
            # Fresh folders every time; the two loops alternate so that neither always runs while the
            # disk is still writing back the other's files, or while the machine is busier.
            work = folder / f"work_process_{attempt}"
            shutil.copytree(folder / "ledger_template", work)
            processed_runs.append(
                run_child("process", str(results), str(work), str(folder / f"lessons_process_{attempt}"))
            )
            baseline_runs.append(run_child(
                "baseline", str(results), str(folder / f"work_baseline_{attempt}"),
                str(folder / f"lessons_baseline_{attempt}"),
            ))
            shutil.rmtree(folder / f"lessons_process_{attempt}")
            shutil.rmtree(folder / f"lessons_baseline_{attempt}")
            print(f"  run {attempt + 1}: processing {processed_runs[-1]['seconds']:.2f} s, "
                  f"baseline {baseline_runs[-1]['seconds']:.2f} s")
        processed, baseline = median_run(processed_runs), median_run(baseline_runs)
        if processed["saved"] != len(lesson_ids):
            print(f"WARNING: processing saved {processed['saved']:,} of {len(lesson_ids):,} lessons")
        rows.append((f"process {len(lesson_ids):,} results (median of {args.repeat})", place, processed))
        rows.append((f"baseline: read, parse, write (median of {args.repeat})", place, baseline))
        each = sorted(p["seconds"] / b["seconds"] for p, b in zip(processed_runs, baseline_runs, strict=True))
        ratios[place] = (processed["seconds"] / baseline["seconds"], each)

    syncs = {}
    if args.sync_compare:
        folder = args.scratch / "sync"
        folder.mkdir()
        some = lesson_ids[: args.sync_compare]
        results = folder / "results.jsonl"
        write_results(results, some)
        prepare_ledger(folder / "ledger_template", some)
        for sync in ("shipped", "fsync-group", "fsync-each"):
            shutil.copytree(folder / "ledger_template", folder / f"work_{sync}")
            syncs[sync] = run_child(
                "process", str(results), str(folder / f"work_{sync}"), str(folder / f"lessons_{sync}"), sync
            )
            shutil.rmtree(folder / f"lessons_{sync}")
            print(f"  {len(some):,} lessons, {sync}: {syncs[sync]['seconds']:.2f} s")

    print()
    print(f"{'step':52} {'where':>6} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}")
    for label, place, result in rows:
        peak = "n/a" if result["peak_mb"] is None else f"{result['peak_mb']:.0f}"
        cpu = "n/a" if result["cpu_seconds"] is None else f"{result['cpu_seconds']:.2f}"
        print(f"{label:52} {place:>6} {result['seconds']:8.2f} {cpu:>8} {peak:>8}")
    print()
    for place, (ratio, pairs) in ratios.items():
        shown = ", ".join(f"{pair:.2f}" for pair in pairs)
        print(f"{place}: processing / baseline time (medians): {ratio:.2f}x (target <= 3.5x); run by run: {shown}")
    for label, place, result in rows:
        if label.startswith("process") and result["peak_mb"] is not None:
            print(f"{place}: processing peak memory: {result['peak_mb']:.0f} MB (target < 100 MB)")
    for sync, result in syncs.items():
        print(f"disk: {args.sync_compare:,} lessons processed, {sync}: {result['seconds']:.2f} s")
    if not args.no_dry_run:
        print(f"dry run for 15k lessons: {rows[0][2]['seconds']:.2f} s (target < 2 s)")
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}{load_average()}")
    if not args.keep:
        for _, folder in places:
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
