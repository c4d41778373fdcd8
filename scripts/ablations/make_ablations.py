"""MORE's momentum ablation for one base: per α, accuracy on each test source, their mean, Table 2's
ECE and how much λ moved during training (results/ablations/{base}.csv)."""

import argparse
from pathlib import Path

from more_lib.ablations import momentum as ablations
from more_lib.core import artifacts, cli, io, names, progress
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--rms", nargs="+", required=True, help="VARIANT=PATH: the MORE RM of each alpha-{α}")
    parser.add_argument("--scores", nargs="+", required=True, help="VARIANT:SOURCE=PATH of each scores file")
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--ece", choices=["mean", "pooled"], required=True)
    parser.add_argument("--tie-credit", type=float, default=0.0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    scores = tables.read_scores(names.keyed_paths(args.scores, 2))
    sources = tables.keyed_sources(scores)
    runs = {names.parse_alpha_variant(variant): (artifacts.read_table(rm / progress.LOG, "train_log"),
                                                 {test: scores[(variant, test)] for test in sources})
            for variant, rm in names.keyed_paths(args.rms, 1).items()}
    table = ablations.alpha_table(args.base, runs, sources, args.ece_bins, args.ece, args.tie_credit)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False, float_format="%.4f"))


if __name__ == "__main__":
    cli.run(main)
