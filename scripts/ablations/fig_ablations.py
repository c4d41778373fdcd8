"""MORE's momentum ablation: against α (the weight of the new head gradient; smaller α smooths
more), the average test accuracy, Table 2's ECE and the standard deviation of λ over training."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from more_lib.core import cli
from more_lib.figures import plotting

PANELS = {"avg": "average accuracy", "ece": "ECE", "lambda_std": "sd of λ over steps"}


def plot(table):
    fig, axes = plt.subplots(1, len(PANELS), figsize=(plotting.DOUBLE, 1.8), squeeze=False)
    rows = table.sort_values("alpha")
    for ax, (column, label) in zip(axes[0], PANELS.items()):
        ax.plot(rows["alpha"], rows[column], marker="o", markersize=3, color=plotting.SCHEME_COLORS["more"])
        ax.set_xticks(rows["alpha"])
        ax.set_xlabel("α (momentum)")
        ax.set_ylabel(label)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", type=Path, required=True, help="CSV: results/ablations/{base}.csv")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    plotting.save(plot(plotting.read_table(args.table, ["alpha", *PANELS])), args.output)


if __name__ == "__main__":
    cli.run(main)
