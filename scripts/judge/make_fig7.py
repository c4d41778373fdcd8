"""Figure 7: ECE of each K-sweep reward model against the win rate over SFT of the policy
RJS-aligned with it, a fitted line, and Pearson/Spearman correlations with bootstrap intervals
(results/fig7_correlation.csv; the points in results/fig7_points.csv)."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from more_lib.core import artifacts, cli, io, names
from more_lib.evaluate import metrics, tables
from more_lib.figures import plotting
from more_lib.judge import pairs as judge


def outcomes_by_rm(judgments):
    """(base, scheme) of the RM behind each policy -> Win/Tie/Lose over SFT, pooled over the tasks'
    judgment files; `judgments` maps (policy, task) -> path."""
    grouped = {}
    for (policy, _), path in judgments.items():
        grouped.setdefault(names.parse_policy(policy), []).extend(judge.read_judgments(path))
    return {rm: judge.summarise(rows) for rm, rows in grouped.items()}


def plot(points, correlation):
    fig, ax = plt.subplots(figsize=(plotting.SINGLE, 2.2))
    for label, part in points.groupby("label"):
        kind = names.scheme_kind(part["scheme"].iloc[0])
        ax.scatter(part["ece"], part["win"], s=14, color=plotting.SCHEME_COLORS[kind], label=label)
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
    parser.add_argument("--judgments", nargs="+", required=True,
                        help="POLICY:TASK=PATH: each K-sweep RJS policy's judgments against SFT")
    parser.add_argument("--schemes", nargs="+", required=True, choices=["more", "multitask"])
    parser.add_argument("--resamples", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--points", type=Path, required=True)
    parser.add_argument("--correlation", type=Path, required=True)
    parser.add_argument("--figure", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    ksweep = [artifacts.read_table(path, "ksweep") for path in args.ksweep]
    bases = {frame["base"].iloc[0] for frame in ksweep}
    points = tables.fig7_points(ksweep, outcomes_by_rm(names.keyed_paths(args.judgments, 2)), args.schemes)
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
