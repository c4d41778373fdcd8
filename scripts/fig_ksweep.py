"""Figure 6: calibration against the number K of mixed preference sources. One panel per test
source (helpful and harmless in the paper): the ECE of the MultiTask and of the MORE reward model
trained on K sources (in the paper: helpful and harmless for K = 2, then oasst1, webgpt and summ
added in turn), and, dashed, the ECE of Top (the single-source RM of the test source), which does not depend on K."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from more_lib import cli, names, plotting
from more_lib.errors import DataError

def plot(sweep, metric, path):
    panels = list(dict.fromkeys(sweep["test_source"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(plotting.SINGLE, 1.75), squeeze=False)
    for ax, source in zip(axes[0], panels):
        rows = sweep[sweep["test_source"] == source]
        top = rows.loc[rows["scheme"] == "top", metric]
        if len(top) != 1:
            raise DataError(f"{path}: expected one Top row for test source {source}, found {len(top)}")
        ax.axhline(top.iloc[0], color=plotting.SCHEME_COLORS["top"], linestyle="--", linewidth=1.0, label="Top")
        swept = rows[rows["k"].notna()]
        for kind in names.MIXED_KINDS:
            line = swept[swept["scheme"].map(names.scheme_kind) == kind].sort_values("k")
            if line.empty:
                raise DataError(f"{path}: no {names.LABELS[kind]} rows for test source {source}")
            ax.plot(line["k"], line[metric], marker="o", markersize=3, color=plotting.SCHEME_COLORS[kind],
                    label=names.LABELS[kind])
        ax.set_xticks(sorted(sweep["k"].dropna().unique().astype(int)))
        ax.set_ylim(bottom=0)  # from zero, so that the gaps read as fractions of the error
        ax.set_title(names.source_label(source))
        ax.set_xlabel("K sources")
    axes[0, 0].set_ylabel("ECE" if metric == "ece" else metric)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncols=3)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ksweep", type=Path, required=True,
                        help="CSV: base, k, scheme (top, multitask-MIX, more-MIX), test_source, accuracy, ece")
    parser.add_argument("--metric", choices=["ece", "accuracy"], default="ece")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    sweep = plotting.read_table(args.ksweep, ["k", "scheme", "test_source", args.metric])
    plotting.save(plot(sweep, args.metric, args.ksweep), args.output)


if __name__ == "__main__":
    cli.run(main)
