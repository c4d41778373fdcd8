"""Tables 4–6 of the paper for one base: on the focus test sources, Top, MultiTask and MORE with
their ECE and the box-plot outliers of the positive and negative reward differences."""

import argparse
from pathlib import Path

from more_lib.core import cli, names
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file (the focus test sources; paper: helpful harmless)")
    parser.add_argument("--mix", required=True, help="the mix of the MultiTask and MORE rows")
    parser.add_argument("--iqr-factor", type=float, required=True)
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    paths = names.keyed_paths(args.scores, 2)
    table = tables.outlier_table(args.base, tables.read_scores(paths), tables.keyed_sources(paths), args.mix,
                                 args.iqr_factor, args.ece_bins)
    tables.write_table(table, args.output, args.markdown)
    print(tables.to_markdown(table))


if __name__ == "__main__":
    cli.run(main)
