"""Stack tidy CSV files with the same columns into one (per-job summaries into a table)."""

import argparse
from pathlib import Path

import pandas as pd

from more_lib.core import cli, io


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inputs", type=Path, nargs="+")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    table = pd.concat([pd.read_csv(path) for path in args.inputs], ignore_index=True)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(f"{len(args.inputs)} files, {len(table)} rows -> {args.output}")


if __name__ == "__main__":
    cli.run(main)
