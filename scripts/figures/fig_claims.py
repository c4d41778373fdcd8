"""Forest plot of one base's claims: each claim's effect with its interval (95 %, 90 % for the
equivalence claim), on its own axis (the effects are accuracies, ECEs, slopes and correlations, so
they share no scale), the decision boundary (a line at 0, or the ±tolerance band of an equivalence
claim) and the verdict. C7, a permutation test, has its correlation and no interval."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from more_lib.core import cli
from more_lib.core.errors import DataError
from more_lib.figures import plotting

VERDICT_COLORS = {"holds": "#009E73", "fails": "#D55E00", "inconclusive": "#555555",
                  "inconclusive (Monte Carlo)": "#555555", "not testable": "#555555"}


def plot(rows):
    fig, axes = plt.subplots(len(rows), 1, figsize=(plotting.DOUBLE, 0.55 * len(rows) + 0.2), squeeze=False)
    for ax, row in zip(axes[:, 0], rows.itertuples()):
        ax.set_yticks([])
        ax.spines[["left"]].set_visible(False)
        if np.isnan(row.effect):
            ax.set_xticks([])
            ax.spines[["bottom"]].set_visible(False)
            ax.set_title(f"{row.claim}: {row.verdict} ({row.numbers})", loc="left", color="0.4", pad=1)
            continue
        color = VERDICT_COLORS[row.verdict]
        ax.set_ylim(-1, 1)
        if row.claimed == "within":
            ax.axvspan(-row.bound, row.bound, color="0.88", linewidth=0)
        else:
            ax.axvline(row.bound, color="black", linewidth=0.6)
        side = {"below": "< ", "above": "> ", "within": "within ±"}[row.claimed]
        edges = [row.effect, row.bound, -row.bound if row.claimed == "within" else row.bound]
        if np.isnan(row.ci_low):
            ax.plot([row.effect], [0], "o", markersize=3.5, color=color)
            interval = ""
        else:
            ax.errorbar([row.effect], [0], xerr=[[row.effect - row.ci_low], [row.ci_high - row.effect]], fmt="o",
                        markersize=3.5, color=color, capsize=2, linewidth=1.2)
            edges += [row.ci_low, row.ci_high]
            interval = f" [{row.ci_low:.4f}, {row.ci_high:.4f}] ({row.level:.0%})"
        span = max(edges) - min(edges) or 1.0
        ax.set_xlim(min(edges) - 0.1 * span, max(edges) + 0.1 * span)
        ax.set_title(f"{row.claim}: {row.effect:.4f}{interval}, claimed {side}{row.bound:g} → {row.verdict}",
                     loc="left", color=color, pad=1)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=Path, required=True, help="results/claims.csv")
    parser.add_argument("--base", required=True)
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    table = plotting.read_table(args.claims, ["claim", "base", "effect", "ci_low", "ci_high", "verdict", "claimed",
                                              "bound", "numbers", "level"])
    rows = table[table["base"] == args.base]
    if rows.empty:
        raise DataError(f"{args.claims}: no claim of base {args.base}")
    plotting.save(plot(rows), args.output)


if __name__ == "__main__":
    cli.run(main)
