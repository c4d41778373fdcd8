"""Ground truth of one base's reward models (the synthetic world's `meta`): on each test source
with the truth, the true calibration error mean |σ(d) − p_true|, the fidelity Pearson r(d, Δr*)
to the shared reward, and the drift absorbed, b/a of d ≈ a·Δr* + b·(Δr_k − Δr*), for Top,
Averaging, MultiTask and MORE (every RM, Raw and the single-source RMs included, is in the CSV)."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from more_lib.core import cli, names
from more_lib.figures import plotting

PANELS = [("true_ce", "true calibration error\nmean |σ(d) − p_true|"),
          ("pearson_shared", "fidelity to the shared\nreward: r(d, Δr*)"),
          ("drift_b_over_a", "drift absorbed: b/a\n(0 shared, 1 source's own)")]
# b/a runs off to ±infinity where an RM barely follows the shared reward (a near 0): the panel
# shows this range and prints the value of a bar it cuts.
RATIO_LIMITS = (-1.5, 2.5)


def plot(table, schemes):
    measured = table[table["note"].fillna("") == ""]
    sources = list(dict.fromkeys(measured["test_source"]))
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(plotting.DOUBLE, 4.8), sharex=True)
    if not sources:
        fig.text(0.5, 0.5, "no test source carries the truth in meta", ha="center")
        return fig
    groups = np.arange(len(sources))
    width = 0.8 / len(schemes)
    for ax, (column, ylabel) in zip(axes, PANELS):
        values = measured.pivot_table(index="scheme", columns="test_source", values=column, aggfunc="first")
        for k, scheme in enumerate(schemes):
            x, heights = groups + (k - (len(schemes) - 1) / 2) * width, values.loc[scheme, sources].to_numpy()
            ax.bar(x, heights, width, label=names.label(scheme), color=plotting.color(scheme, sources),
                   edgecolor="white", linewidth=0.4)
            if column == "drift_b_over_a":
                for xi, h in zip(x, heights):
                    if not RATIO_LIMITS[0] <= h <= RATIO_LIMITS[1]:
                        ax.text(xi, float(np.clip(h, *RATIO_LIMITS)), f"{h:.1f}", ha="center", fontsize=5,
                                va="top" if h > 0 else "bottom")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="0.9", linewidth=0.5)
        ax.set_axisbelow(True)
    axes[-1].axhline(1, color="black", linewidth=0.5, linestyle=":")
    axes[-1].set_ylim(*RATIO_LIMITS)
    axes[-1].set_xticks(groups, [names.source_label(s) for s in sources])
    axes[-1].set_xlabel("test source")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(schemes))
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--truth", type=Path, required=True, help="results/truth/{base}.csv")
    parser.add_argument("--mix", required=True, help="the mix of the MultiTask and MORE bars")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    table = plotting.read_table(args.truth, ["scheme", "test_source", "note", *(column for column, _ in PANELS)])
    schemes = [s for s in names.table2_schemes(args.mix) if s != "raw"]
    plotting.save(plot(table, schemes), args.output)


if __name__ == "__main__":
    cli.run(main)
