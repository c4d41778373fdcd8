"""Time the workflow's own overhead and the default pipeline end to end -> results/benchmarks/dag.csv.

  noop_default  `snakemake --cores 2` on the built default DAG, nothing to do   (target <= 3 s)
  dryrun_paper  `snakemake --profile slurm -n --configfile=config/paper.yaml`   (target <= 5 s)
  e2e_default   the default pipeline from an empty results/ on 2 cores          (target <= 15 min)

Usage, from the repository root:
  python scripts/bench_dag.py                     # no-op here (after `snakemake`), paper dry run
  python scripts/bench_dag.py --e2e-seconds 431   # ... and an end-to-end time measured elsewhere
  python scripts/bench_dag.py --measure-e2e       # build the default DAG in a scratch folder first (minutes)
Each row gives the number of jobs of its DAG and the ratio of the median time to its target.
"""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config" / "config.yaml"
TARGETS = {"noop_default": 3.0, "dryrun_paper": 5.0, "e2e_default": 900.0}


def snakemake(workdir, *args):
    """(seconds, output) of one snakemake run from the repository root (so `--profile slurm` and
    the local profile resolve as a user's command does) in working directory `workdir`."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)], cwd=REPO,
                            check=False, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {workdir}:\n{output[-3000:]}")
    return seconds, output


def total_jobs(output):
    """The `total` of snakemake's job stats table (0 when there is nothing to do)."""
    found = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(found[1]) if found else 0


def row(measure, jobs, times, note=""):
    seconds = statistics.median(times) if times else None
    ratio = seconds / TARGETS[measure] if seconds is not None else None
    shown = f"{seconds:.2f} s, {ratio:.2f} x target" if seconds is not None else "not measured"
    print(f"{measure}: {jobs} jobs, {shown} (target {TARGETS[measure]:g} s){' - ' + note if note else ''}")
    return {"measure": measure, "jobs": jobs, "seconds": None if seconds is None else round(seconds, 3),
            "target_s": TARGETS[measure], "ratio_to_target": None if ratio is None else round(ratio, 3),
            "repeats": len(times), "cores": 2, "note": note}


def noop(workdir, repeats):
    default = ("--cores", "2", f"--configfile={DEFAULT}")
    jobs = total_jobs(snakemake(workdir, *default, "-n", "--forceall")[1])
    pending = total_jobs(snakemake(workdir, *default, "-n")[1])
    if pending:  # a "no-op" run would build them: leave that to the user
        return row("noop_default", jobs, [], f"not built in {workdir}: {pending} jobs pending")
    times = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, *default)
        assert "Nothing to be done" in output, output[-2000:]
        times.append(seconds)
    return row("noop_default", jobs, times, f"in {workdir}")


def dryrun_paper(repeats):
    times, jobs = [], 0
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as scratch:  # no results/ of a real run is read
        for _ in range(repeats):
            seconds, output = snakemake(scratch, "--profile", "slurm", "-n", "--configfile=config/paper.yaml")
            times.append(seconds)
            jobs = total_jobs(output)
    return row("dryrun_paper", jobs, times)


def end_to_end(workdir):
    seconds, output = snakemake(workdir, "--cores", "2", f"--configfile={DEFAULT}")
    return row("e2e_default", total_jobs(output), [seconds], f"from an empty results/ in {workdir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO, help="where the default DAG is built (no-op run)")
    parser.add_argument("--e2e-seconds", type=float, help="end-to-end wall time measured elsewhere")
    parser.add_argument("--e2e-jobs", type=int, help="its number of jobs (default: the default DAG's)")
    parser.add_argument("--measure-e2e", action="store_true",
                        help="build the default DAG from empty in a scratch folder (minutes), then time its no-op")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each short measure (median)")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "benchmarks" / "dag.csv")
    args = parser.parse_args()

    rows = []
    workdir = args.workdir
    if args.measure_e2e:
        workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        rows.append(end_to_end(workdir))
    rows.insert(0, noop(workdir, args.repeats))
    rows.insert(1, dryrun_paper(args.repeats))
    if args.e2e_seconds is not None and not args.measure_e2e:
        rows.append(row("e2e_default", args.e2e_jobs or rows[0]["jobs"], [args.e2e_seconds], "given"))

    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
