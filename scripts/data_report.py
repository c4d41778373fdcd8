"""Collect the per-source prepare and resample summaries into results/data/report.csv."""

import argparse
from pathlib import Path

from more_lib import cli, io, prepare


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, nargs="+", required=True)
    parser.add_argument("--resampled", type=Path, nargs="+", required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    rows = [row for path in args.prepared for row in io.read_json(path)]
    summaries = {s["source"]: s for s in map(io.read_json, args.resampled)}
    table = prepare.report_table(rows, summaries)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
