"""Table 2 of the paper from the tidy metric files: CSV and a markdown rendering."""

import argparse
from pathlib import Path

from more_lib.core import artifacts, cli
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, nargs="+", required=True)
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--mix", required=True)
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--ece", choices=["mean", "pooled"], required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    metric_tables = [artifacts.read_table(path, "metrics") for path in args.metrics]
    table = tables.table2(metric_tables, args.sources, args.mix, args.ece_bins, args.ece)
    tables.write_table(table, args.output, args.markdown)
    print(tables.to_markdown(table))


if __name__ == "__main__":
    cli.run(main)
