"""λ dynamics of a MORE reward model: one panel per training source, its weight λ at every step
(thin), its running mean over the steps so far (bold) and, dashed, the uniform weight 1/K that
MultiTask gives every source. Drawn from the RM's train_log.csv; the log gets each source's mean,
standard deviation and share of steps with λ < 0.01 (a source dropped from that batch's update,
more_lib.ablations.momentum.lambda_stats)."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from more_lib.ablations import momentum as ablations
from more_lib.core import cli, names, progress
from more_lib.core.errors import DataError
from more_lib.figures import plotting


def plot(log, columns):
    fig, axes = plt.subplots(1, len(columns), figsize=(plotting.DOUBLE, 1.7), sharey=True, squeeze=False)
    for i, (ax, column) in enumerate(zip(axes[0], columns)):
        colour = plotting.SOURCE_COLORS[i % len(plotting.SOURCE_COLORS)]
        ax.plot(log["step"], log[column], color=colour, alpha=0.35, linewidth=0.6, label="λ at the step")
        ax.plot(log["step"], log[column].expanding().mean(), color=colour, linewidth=1.4, label="running mean")
        ax.axhline(1 / len(columns), color="black", linestyle="--", linewidth=0.8, label="1/K")
        ax.set_title(f"{names.source_label(column.removeprefix(ablations.LAMBDA_PREFIX))} (sd {log[column].std():.2f})")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("λ")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncols=3)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rm", type=Path, required=True, help="a MORE reward model's folder (its train_log.csv)")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    path = args.rm / progress.LOG
    log = plotting.read_table(path, ["step"])
    columns = ablations.lambda_columns(log)
    if not columns or log.empty:
        raise DataError(f"{path}: no λ columns or no steps (is it a MORE reward model's log?)")
    print(ablations.lambda_stats(log).to_string(index=False, float_format="%.3f"))
    plotting.save(plot(log, columns), args.output)


if __name__ == "__main__":
    cli.run(main)
