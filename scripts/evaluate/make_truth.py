"""Ground-truth metrics of every reward model of one base on every test source whose records carry
the truth (true calibration error, fidelity to the shared reward, drift absorption):
results/truth/{base}.csv. Sources without truth get one note row each."""

import argparse
from pathlib import Path

from more_lib.core import cli, io, names
from more_lib.data import records as data
from more_lib.evaluate import tables, truth


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file")
    parser.add_argument("--tests", nargs="+", required=True, help="SOURCE=PATH of each test set")
    parser.add_argument("--bins", type=int, required=True, help="bins of the ECE against p_true")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    records = {source: data.read_records(path) for source, path in names.keyed_paths(args.tests, 1).items()}
    paths = names.keyed_paths(args.scores, 2)
    sources = tables.keyed_sources(paths)
    scores = tables.read_scores(paths, {source: [r["id"] for r in rows] for source, rows in records.items()})
    scores.update(tables.derived_scores(scores, sources))
    truths = {source: truth.truth_frame(rows) for source, rows in records.items()}
    table = truth.truth_table(args.base, scores, truths, args.bins)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    measured = table[table["note"] == ""]
    if len(measured):
        print(measured.groupby("scheme", sort=False)[["true_ce", "pearson_shared", "drift_b_over_a"]].mean()
              .to_string(float_format="{:.4f}".format))
    print(table[table["note"] != ""][["test_source", "note"]].to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
