"""Figures 3 and 4: accuracy (Figure 3) and ECE (Figure 4) of the reward models of each training
scheme (Raw, Top, Averaging, MultiTask, MORE) on each test source, one group of bars per test
source. Top tests each source with the single-source RM trained on it; Averaging averages the
single-source RMs' rewards. The numbers are those of Table 2."""

import argparse
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from more_lib.core import cli, names
from more_lib.core.errors import DataError
from more_lib.figures import plotting


def scheme_values(metrics, sources, mix, column, path):
    """Scheme x test source table of one metric column, rows in Table 2's order."""
    schemes = list(names.table2_schemes(mix))
    values = metrics.pivot_table(index="scheme", columns="test_source", values=column, aggfunc="first")
    for scheme in schemes:
        for source in sources:
            if scheme not in values.index or source not in values.columns or np.isnan(values.loc[scheme, source]):
                raise DataError(f"{path}: no {column} for scheme {scheme} on test source {source}")
    return values.loc[schemes, sources]


def plot(values, sources, ylabel, chance=None):
    """Grouped bars; with `chance`, the y axis starts just below the lowest bar and a dotted line
    marks chance, since accuracies of 0.5-0.8 would otherwise look alike."""
    fig, ax = plt.subplots(figsize=(plotting.DOUBLE, 2.0))
    groups = np.arange(len(sources))
    width = 0.8 / len(values.index)
    for k, scheme in enumerate(values.index):
        ax.bar(groups + (k - (len(values.index) - 1) / 2) * width, values.loc[scheme].to_numpy(), width,
               label=names.label(scheme), color=plotting.color(scheme, sources), edgecolor="white",
               linewidth=0.4)
    if chance is not None:
        ax.axhline(chance, color="black", linewidth=0.5, linestyle=":")
        ax.set_ylim(max(0.0, math.floor(10 * values.to_numpy().min() - 0.5) / 10), 1.0)
    ax.set_xticks(groups, [names.source_label(s) for s in sources])
    ax.set_xlabel("test source")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="0.9", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.legend(loc="outside upper center", ncols=len(values.index))
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True, help="tidy metrics CSV of one base")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--mix", required=True, help="the mix of the MultiTask and MORE bars")
    parser.add_argument("--ece-bins", type=int, default=10)
    parser.add_argument("--accuracy-output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    parser.add_argument("--ece-output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    ece = f"ece_{args.ece_bins}"
    metrics = plotting.read_table(args.metrics, ["scheme", "test_source", "accuracy", ece])
    accuracy = scheme_values(metrics, args.sources, args.mix, "accuracy", args.metrics)
    plotting.save(plot(accuracy, args.sources, "accuracy", chance=0.5), args.accuracy_output)
    calibration = scheme_values(metrics, args.sources, args.mix, ece, args.metrics)
    plotting.save(plot(calibration, args.sources, f"ECE ({args.ece_bins} bins)"), args.ece_output)


if __name__ == "__main__":
    cli.run(main)
