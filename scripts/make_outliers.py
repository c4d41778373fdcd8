"""Tables 4–6 of the paper for one base: on the focus test sources, Top, MultiTask and MORE with
their ECE and the box-plot outliers of the positive and negative reward differences."""

import argparse
from pathlib import Path

from more_lib import cli, tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores-dir", type=Path, required=True, help="holds {scheme}/{source}.parquet")
    parser.add_argument("--focus", nargs="+", required=True, help="test sources (paper: helpful harmless)")
    parser.add_argument("--mix", required=True, help="the mix of the MultiTask and MORE rows")
    parser.add_argument("--iqr-factor", type=float, required=True)
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    schemes = [*(f"single-{s}" for s in args.focus), f"multitask-{args.mix}", f"more-{args.mix}"]
    scores = tables.read_scores(args.scores_dir, schemes, args.focus)
    table = tables.outlier_table(args.base, scores, args.focus, args.mix, args.iqr_factor, args.ece_bins)
    tables.write_table(table, args.output, args.markdown)
    print(tables.to_markdown(table))


if __name__ == "__main__":
    cli.run(main)
