"""Figures 5, 8 and 9 (scripts/figures/fig_reward_differences.py): the reward differences d = r(chosen) - r(rejected)
of Top, MultiTask and MORE on the focus test sources (histograms; box plots of d > 0 and d < 0), and of
the raw and each single-source RM over every test source."""

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from more_lib.core import names
from more_lib.figures import plotting

BINS = 40


def compared(mix):
    return ["top", names.multitask(mix), names.more(mix)]


def fig5(scores, sources, focus, mix):
    fig, axes = plt.subplots(1, len(focus), figsize=(plotting.DOUBLE, 2.0), squeeze=False)
    for ax, source in zip(axes[0], focus):
        series = {scheme: plotting.differences(scores, scheme, source) for scheme in compared(mix)}
        # One set of bin edges per panel, so that the three histograms are comparable.
        edges = np.histogram_bin_edges(np.concatenate(list(series.values())), bins=BINS)
        for scheme, d in series.items():
            ax.stairs(np.histogram(d, edges)[0], edges, label=names.label(scheme),
                      color=plotting.color(scheme, sources), linewidth=1.1)
        ax.axvline(0, color="black", linewidth=0.5, linestyle=":")
        ax.set_title(names.source_label(source))
        ax.set_xlabel("reward difference d")
    axes[0, 0].set_ylabel("pairs")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncols=3)
    return fig


def fig8(scores, sources, focus, mix, whis):
    schemes = compared(mix)
    fig, axes = plt.subplots(1, len(focus), figsize=(plotting.DOUBLE, 2.2), squeeze=False)
    for ax, source in zip(axes[0], focus):
        for k, scheme in enumerate(schemes):
            d = plotting.differences(scores, scheme, source)
            c = plotting.color(scheme, sources)
            for offset, values, filled in ((-0.2, d[d > 0], True), (0.2, d[d < 0], False)):
                if values.size == 0:
                    continue
                ax.boxplot([values], positions=[k + offset], widths=0.32, patch_artist=True, whis=whis,
                           boxprops={"facecolor": c if filled else "white", "edgecolor": c},
                           medianprops={"color": "black" if filled else c}, whiskerprops={"color": c},
                           capprops={"color": c},
                           flierprops={"marker": ".", "markersize": 2, "markeredgecolor": c, "alpha": 0.5})
        ax.axhline(0, color="black", linewidth=0.5, linestyle=":")
        ax.set_xticks(range(len(schemes)), [names.label(s) for s in schemes])
        ax.set_xlim(-0.6, len(schemes) - 0.4)
        ax.set_title(names.source_label(source))
    axes[0, 0].set_ylabel("reward difference d")
    fig.legend(handles=[Patch(facecolor="grey", edgecolor="grey", label="d > 0 (correct)"),
                        Patch(facecolor="white", edgecolor="grey", label="d < 0 (wrong)")],
               loc="outside upper center", ncols=2)
    return fig


def fig9(scores, sources):
    schemes = ["raw", *names.singles(sources)]
    ncols = min(3, len(schemes))
    nrows = math.ceil(len(schemes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(plotting.DOUBLE, 1.5 * nrows + 0.3), sharex=True,
                             sharey=True, squeeze=False)
    pooled = {scheme: scores.loc[scores["scheme"] == scheme, "d"].to_numpy() for scheme in schemes}
    # Shared edges: the panels are compared by their spread.
    edges = np.histogram_bin_edges(np.concatenate(list(pooled.values())), bins=2 * BINS)
    for ax, (scheme, d) in zip(axes.flat, pooled.items()):
        ax.stairs(np.histogram(d, edges)[0], edges, fill=True, color=plotting.color(scheme, sources), alpha=0.8)
        ax.axvline(0, color="black", linewidth=0.5, linestyle=":")
        ax.set_title(names.label(scheme))
        ax.text(0.98, 0.95, f"mean {d.mean():.2f}\nsd {d.std():.2f}", transform=ax.transAxes, ha="right", va="top")
    for ax in axes.flat[len(schemes):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("reward difference d")
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel("pairs")
    return fig
