"""Figure 6: calibration against the number K of mixed preference sources. One panel per test
source (helpful and harmless in the paper): the ECE of the MultiTask and of the MORE reward model
trained on K sources (in the paper: helpful and harmless for K = 2, then oasst1, webgpt and summ
added in turn), and, dashed, the ECE of Top (the single-source RM of the test source), which does not depend on K.
Where the base has seed replicates, each other seed's MultiTask and MORE lines are drawn thin beside
the primary run's: the spread is the seed-to-seed variation."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from more_lib.core import cli, names
from more_lib.core.errors import DataError
from more_lib.figures import plotting


def kind_line(rows, kind):
    swept = rows[rows["k"].notna()]
    return swept[swept["scheme"].map(names.scheme_kind) == kind].sort_values("k")


def plot(sweep, metric, path, replicates=()):
    panels = list(dict.fromkeys(sweep["test_source"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(plotting.SINGLE, 1.75), squeeze=False)
    for ax, source in zip(axes[0], panels):
        rows = sweep[sweep["test_source"] == source]
        top = rows.loc[rows["scheme"] == "top", metric]
        if len(top) != 1:
            raise DataError(f"{path}: expected one Top row for test source {source}, found {len(top)}")
        ax.axhline(top.iloc[0], color=plotting.SCHEME_COLORS["top"], linestyle="--", linewidth=1.0, label="Top")
        for kind in names.MIXED_KINDS:
            line = kind_line(rows, kind)
            if line.empty:
                raise DataError(f"{path}: no {names.LABELS[kind]} rows for test source {source}")
            ax.plot(line["k"], line[metric], marker="o", markersize=3, color=plotting.SCHEME_COLORS[kind],
                    label=names.LABELS[kind])
            for other in replicates:
                seed = kind_line(other[other["test_source"] == source], kind)
                ax.plot(seed["k"], seed[metric], color=plotting.SCHEME_COLORS[kind], linewidth=0.6, alpha=0.45,
                        label="_seed")
        ax.set_xticks(sorted(sweep["k"].dropna().unique().astype(int)))
        ax.set_ylim(bottom=0)  # from zero, so that the gaps read as fractions of the error
        ax.set_title(names.source_label(source))
        ax.set_xlabel("K sources")
    axes[0, 0].set_ylabel("ECE" if metric == "ece" else metric)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncols=3)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ksweep", nargs="+", required=True,
                        help="REPLICATE=PATH of each seed's K-sweep CSV (base, k, scheme, test_source, accuracy, "
                             "ece); the first is the primary run")
    parser.add_argument("--metric", choices=["ece", "accuracy"], default="ece")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    paths = list(names.keyed_paths(args.ksweep, 1).values())
    primary, *others = (plotting.read_table(path, ["k", "scheme", "test_source", args.metric]) for path in paths)
    plotting.save(plot(primary, args.metric, paths[0], others), args.output)


if __name__ == "__main__":
    cli.run(main)
