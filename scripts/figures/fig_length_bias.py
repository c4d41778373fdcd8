"""Length bias: on each test source, the Pearson correlation of each Table 2 reward model's reward
difference d with the response length difference (words of chosen - words of rejected), beside
(black diamond) the same correlation of the source's true reward difference, which carries its
annotators' length drift (synthetic world; the drift is in each source's label)."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from more_lib.core import cli, names
from more_lib.figures import plotting


def plot(metrics, sources, mix, drift):
    schemes = names.table2_schemes(mix)
    fig, ax = plt.subplots(figsize=(plotting.DOUBLE, 2.0))
    width = 0.8 / len(schemes)
    x = np.arange(len(sources))
    rows = metrics.set_index(["scheme", "test_source"])
    for i, scheme in enumerate(schemes):
        ax.bar(x + (i - (len(schemes) - 1) / 2) * width, [rows.loc[(scheme, s), "length_corr"] for s in sources],
               width, color=plotting.SCHEME_COLORS[names.scheme_kind(scheme)], label=names.label(scheme))
    truth = [rows.loc[(schemes[-1], s), "length_corr_source"] for s in sources]
    if not np.isnan(truth).all():
        ax.plot(x, truth, "D", color="black", markersize=3.5, label="annotators' true reward")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, [names.source_label(s) + (f"\n(length drift {drift[s]:+g})" if s in drift else "")
                      for s in sources])
    ax.set_ylabel("r(d, length difference)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=len(schemes) + 1)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True, help="CSV: one base's tidy metrics")
    parser.add_argument("--sources", nargs="+", required=True, help="test sources, in the paper's order")
    parser.add_argument("--mix", required=True, help="the mix of Table 2's MultiTask and MORE")
    parser.add_argument("--length-drift", nargs="*", default=[], metavar="SOURCE=DRIFT",
                        help="synthetic world: each source's length drift (config sources.<s>.drift.length)")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    metrics = plotting.read_table(args.metrics, ["scheme", "test_source", "length_corr", "length_corr_source"])
    drift = {source: float(value) for source, _, value in (item.partition("=") for item in args.length_drift)}
    print(metrics[metrics.test_source != "all"].pivot(index="scheme", columns="test_source", values="length_corr")
          .to_string(float_format="%.3f"))
    plotting.save(plot(metrics, args.sources, args.mix, drift), args.output)


if __name__ == "__main__":
    cli.run(main)
