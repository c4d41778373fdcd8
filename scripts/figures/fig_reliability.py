"""Reliability diagrams (beyond the paper): for every reward model (rows) on every test source
(columns), the mean confidence of each of M equal-width bins against the observed frequency of
its label, every pair counted in both orientations as in the ECE: (sigmoid(d), 1) and
(sigmoid(-d), 0). Marker area is proportional to the bin's share of the pairs, so that sparse
bins, whose frequencies are noisy, stay small; the dashed diagonal is perfect calibration; each
panel gives its ECE."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from more_lib.core import cli, names
from more_lib.evaluate import metrics, tables
from more_lib.figures import plotting

MIN_MARKER, MAX_MARKER = 2, 60  # points^2 of an almost empty bin and of a bin holding every pair


def plot(scores, schemes, sources, bins):
    fig, axes = plt.subplots(len(schemes), len(sources), sharex=True, sharey=True, squeeze=False,
                             figsize=(plotting.DOUBLE, 0.45 + 1.1 * len(schemes)))
    for i, scheme in enumerate(schemes):
        for j, source in enumerate(sources):
            ax = axes[i, j]
            rows = plotting.pairs(scores, scheme, source)
            confidence, label = metrics.both_orientations(rows["r_chosen"], rows["r_rejected"])
            table = metrics.reliability_table(confidence, label, bins)
            filled = table[table["count"] > 0]
            c = plotting.color(scheme, sources)
            ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.6, linestyle="--")
            ax.scatter(filled["confidence"], filled["accuracy"], color=c, zorder=3, clip_on=False,
                       s=MIN_MARKER + (MAX_MARKER - MIN_MARKER) * filled["count"] / len(confidence))
            ece = metrics.calibration_errors(confidence, label, bins)["ece"]
            ax.text(0.04, 0.96, f"ECE {ece:.3f}", transform=ax.transAxes, ha="left", va="top")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_xticks([0, 0.5, 1], ["0", ".5", "1"])
            ax.set_yticks([0, 0.5, 1], ["0", ".5", "1"])
            if i == 0:
                ax.set_title(names.source_label(source))
            if j == 0:
                ax.set_ylabel(names.label(scheme, show_mix=True), fontweight="bold")
    fig.supxlabel("confidence", fontsize=plt.rcParams["axes.labelsize"])
    fig.supylabel("observed frequency", fontsize=plt.rcParams["axes.labelsize"])
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scores", nargs="+", required=True,
                        help="SCHEME:SOURCE=PATH of each scores file: one row per scheme, in this order")
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    paths = names.keyed_paths(args.scores, 2)
    schemes = list(dict.fromkeys(scheme for scheme, _ in paths))
    plot_ = plot(plotting.load_scores(paths), schemes, tables.keyed_sources(paths), args.bins)
    plotting.save(plot_, args.output)


if __name__ == "__main__":
    cli.run(main)
