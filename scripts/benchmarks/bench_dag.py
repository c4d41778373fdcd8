"""Time the workflow's own overhead and the default pipeline end to end -> results/benchmarks/dag.csv.

  noop_default        `snakemake --cores 2` on the built default DAG, nothing to do   (target <= 3 s)
  dryrun_paper        `snakemake --profile slurm -n --configfile=config/paper.yaml`   (target <= 5 s)
  startup_cold/warm   a torch job's start-up (imports, a tiny RM loaded) through scripts/launch.py,
                      a new interpreter and a fork of the warm-start server        (target warm <= 1.5 s)
  e2e_default         the default pipeline from an empty results/ on 2 cores       (target <= 15 min)
  e2e_ratio           --against COMMIT: this checkout's e2e over COMMIT's, run one right after the
                      other on this machine (target <= 1.3), and scored_pairs_ratio (target >= 4)

Usage, from the repository root:
  python scripts/benchmarks/bench_dag.py                       # no-op here (after `snakemake`), paper dry run, start-up
  python scripts/benchmarks/bench_dag.py --measure-e2e         # ... after building the default DAG in a scratch folder
  python scripts/benchmarks/bench_dag.py --against 1869196     # ... side by side with that commit's default DAG (long)
"""

import argparse
import csv
from pathlib import Path

from more_lib.benchmarks import dag as dag_bench

REPO = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO, help="where the default DAG is built (no-op run)")
    parser.add_argument("--measure-e2e", action="store_true", help="build the default DAG from empty first (minutes)")
    parser.add_argument("--against", metavar="COMMIT", help="build COMMIT's default DAG too, just before this one's")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each short measure (median)")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "benchmarks" / "dag.csv")
    args = parser.parse_args()

    rows, workdir = [], args.workdir
    if args.against:
        rows, workdir = dag_bench.side_by_side(args.against)
    elif args.measure_e2e:
        e2e, _, workdir = dag_bench.end_to_end(REPO)
        rows.append(e2e)
    rows = [dag_bench.noop(workdir, args.repeats, REPO / "config" / "config.yaml"), dag_bench.dryrun_paper(args.repeats),
            *dag_bench.startup(max(args.repeats, 5)), *rows]

    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
