"""Collect the per-source prepare and resample summaries into results/data/report.csv, beside the
paper's counts; warn (stderr, the job's log) about splits far from them."""

import argparse
import json
import sys
from pathlib import Path

from more_lib.core import cli, io
from more_lib.data import prepare
from more_lib.hub import plan as hub


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, nargs="+", required=True)
    parser.add_argument("--resampled", type=Path, nargs="+", required=True)
    parser.add_argument("--paper-counts", default="{}", help="JSON: config key `paper_counts` ({} if none)")
    parser.add_argument("--lock", nargs="?", help="the hub lock, when a source comes from the hub")
    parser.add_argument("--repositories", default="{}", help="JSON: {source: its repository's key in the lock}")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    rows = [row for path in args.prepared for row in io.read_json(path)]
    summaries = {s["source"]: s for s in map(io.read_json, args.resampled)}
    table = prepare.report_table(rows, summaries, json.loads(args.paper_counts))
    table = prepare.with_hub_commits(table, json.loads(args.repositories), hub.read_lock(args.lock))
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    for line in prepare.paper_count_warnings(table):
        print(line, file=sys.stderr)


if __name__ == "__main__":
    cli.run(main)
