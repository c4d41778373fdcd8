"""The paper's claims C1–C8 judged on every base from the produced tables and Fig. 7: results/claims.csv."""

import argparse
from pathlib import Path

import pandas as pd

from more_lib import claims, cli, io, names

TABLES = ("metrics", "outliers", "ksweep", "calibration")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table2", type=Path, required=True)
    parser.add_argument("--tables", nargs="+", required=True,
                        help=f"TABLE:BASE=PATH for TABLE in {', '.join(TABLES)} and every base")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--mix", required=True)
    parser.add_argument("--correlation", type=Path, required=True, help="Fig. 7's correlations (claim C7)")
    parser.add_argument("--aligned-bases", nargs="*", default=[], help="bases whose K-sweep RMs Fig. 7 uses")
    parser.add_argument("--tolerance", type=float, required=True, help="accuracy gap that still counts as close")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    table2, correlation = pd.read_csv(args.table2), pd.read_csv(args.correlation)
    paths = names.keyed_paths(args.tables, 2)
    frames = []
    for base in dict.fromkeys(base for _, base in paths):
        read = {name: pd.read_csv(paths[(name, base)]) for name in TABLES}
        frames.append(claims.claims_table(base, table2[table2["base"] == base].set_index("scheme"), read["metrics"],
                                          read["outliers"], read["ksweep"], read["calibration"],
                                          correlation if base in args.aligned_bases else None, args.sources,
                                          args.mix, args.tolerance))
    table = pd.concat(frames, ignore_index=True)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table[["claim", "base", "verdict", "numbers"]].to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
