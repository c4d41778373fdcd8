"""Table 2 across training seeds (results/table2_seeds.csv): for each base and row, the mean and
standard deviation of every column over the primary run and the base's seed replicates."""

import argparse
from pathlib import Path

from more_lib.core import artifacts, cli, io, names
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", required=True, help="BASE:REPLICATE=PATH of each metrics file")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--mix", required=True)
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--ece", choices=["mean", "pooled"], required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    by_replicate = {}
    for (_, replicate), path in names.keyed_paths(args.metrics, 2).items():
        by_replicate.setdefault(replicate, []).append(artifacts.read_table(path, "metrics"))
    # a base without replicates has one seed: its standard deviations are NaN
    table = tables.table2_seeds(by_replicate, args.sources, args.mix, args.ece_bins, args.ece)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
