"""Table 1: RJS alignment with each base's MultiTask and MORE reward models — RM accuracy and
ECE on the H&H test sets, policy perplexity, and Win/Tie/Lose of MORE's policy over MultiTask's."""

import argparse
from pathlib import Path

from more_lib.core import artifacts, cli, names
from more_lib.evaluate import tables
from more_lib.judge import pairs as judge


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, nargs="+", required=True, help="results/metrics/{base}.csv")
    parser.add_argument("--ppl", type=Path, required=True)
    parser.add_argument("--judgments", nargs="+", required=True,
                        help="BASE:TASK=PATH: MORE-vs-MultiTask judgments of each base's policies on every task")
    parser.add_argument("--mix", required=True)
    parser.add_argument("--sources", nargs="+", required=True, help="alignment sources (helpful harmless)")
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    metric_tables = [artifacts.read_table(path, "metrics") for path in args.metrics]
    judged = {}
    for (base, _), path in names.keyed_paths(args.judgments, 2).items():
        judged.setdefault(base, []).extend(judge.read_judgments(path))
    outcomes = {base: judge.summarise(rows) for base, rows in judged.items()}
    table = tables.table1(metric_tables, artifacts.read_table(args.ppl, "ppl"), outcomes, args.mix, args.sources, args.ece_bins)
    tables.write_table(table, args.output, args.markdown)
    print(tables.to_markdown(table))


if __name__ == "__main__":
    cli.run(main)
