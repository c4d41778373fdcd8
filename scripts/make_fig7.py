"""Figure 7: ECE of each K-sweep reward model against the win rate over SFT of the policy
RJS-aligned with it, a fitted line, and Pearson/Spearman correlations with bootstrap intervals
(results/fig7_correlation.csv; the points in results/fig7_points.csv)."""

import argparse
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from more_lib import cli, io, judge, metrics, plotting, tables
from more_lib.errors import DataError

JUDGED = re.compile(r"rjs-(?P<base>.+)-(?P<kind>more|multitask)-(?P<mix>[^/]+)_vs_sft")


def outcomes_by_rm(judgment_files, mixes_by_k):
    """(base, scheme label, k) -> Win/Tie/Lose over SFT, pooled over the tasks' judgment files."""
    k_of = {mix: k for k, mix in mixes_by_k.items()}
    grouped = {}
    for path in judgment_files:
        match = JUDGED.fullmatch(path.parent.name)
        if not match or match["mix"] not in k_of:
            raise DataError(f"{path}: not a judgment of a K-sweep RJS policy against sft")
        key = (match["base"], "MORE" if match["kind"] == "more" else "MultiTask", k_of[match["mix"]])
        grouped.setdefault(key, []).extend(judge.read_judgments(path))
    return {key: judge.summarise(rows) for key, rows in grouped.items()}


def plot(points, correlation):
    fig, ax = plt.subplots(figsize=(plotting.SINGLE, 2.2))
    for scheme, part in points.groupby("scheme"):
        ax.scatter(part["ece"], part["win"], s=14, color=plotting.SCHEME_COLORS[scheme.lower()], label=scheme)
        for row in part.itertuples():
            ax.annotate(f"K={row.k}", (row.ece, row.win), fontsize=6, xytext=(3, 2), textcoords="offset points")
    if len(points) > 1 and np.ptp(points["ece"]) > 0:
        slope, intercept = np.polyfit(points["ece"], points["win"], 1)
        xs = np.linspace(points["ece"].min(), points["ece"].max(), 2)
        ax.plot(xs, slope * xs + intercept, color="0.4", linewidth=1.0, linestyle="--")
    stats = correlation.set_index("statistic")
    ax.set_title(f"Pearson r = {stats.loc['pearson', 'estimate']:.2f}, "
                 f"Spearman ρ = {stats.loc['spearman', 'estimate']:.2f}", fontsize=7)
    ax.set_xlabel("RM ECE (H&H)")
    ax.set_ylabel("win rate over SFT (%)")
    ax.legend(fontsize=6)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ksweep", type=Path, nargs="+", required=True, help="results/ksweep/{base}.csv")
    parser.add_argument("--judgments", type=Path, nargs="+", required=True, help="rjs-*_vs_sft judgment files")
    parser.add_argument("--mixes", nargs="+", required=True, help="K-sweep mixes as K=mix")
    parser.add_argument("--schemes", nargs="+", required=True, choices=["more", "multitask"])
    parser.add_argument("--resamples", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--points", type=Path, required=True)
    parser.add_argument("--correlation", type=Path, required=True)
    parser.add_argument("--figure", type=Path, required=True, help="path prefix: .png and .pdf are written")
    args = parser.parse_args()
    mixes = {int(k): mix for k, mix in (item.split("=", 1) for item in args.mixes)}
    ksweep = [pd.read_csv(path) for path in args.ksweep]
    bases = {frame["base"].iloc[0] for frame in ksweep}
    points = tables.fig7_points(ksweep, outcomes_by_rm(args.judgments, mixes), args.schemes)
    points = points[points["base"].isin(bases)]
    correlation = metrics.correlations(points["ece"], points["win"], args.resamples, args.seed)
    for table, path in ((points, args.points), (correlation, args.correlation)):
        with io.atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
    plotting.save(plot(points, correlation), args.figure)
    print(points.to_string(index=False))
    print(correlation.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
