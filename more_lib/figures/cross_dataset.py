"""Figure 1 (scripts/figures/fig_cross_dataset.py): accuracy of the raw and each single-source RM on every test
source, the distribution of their reward differences on one source, and |d| of correctly and wrongly
ranked pairs."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from more_lib.core import names
from more_lib.evaluate import metrics
from more_lib.figures import plotting


def accuracy_matrix(scores, schemes, sources, tie_credit):
    def accuracy(scheme, source):
        rows = plotting.pairs(scores, scheme, source)
        return metrics.accuracy(rows["r_chosen"], rows["r_rejected"], tie_credit)

    return np.array([[accuracy(scheme, source) for source in sources] for scheme in schemes])


def plot(scores, sources, focus, tie_credit=0.0):
    schemes = ["raw", *names.singles(sources)]
    rows = np.arange(len(schemes))
    colors = [plotting.color(s, sources) for s in schemes]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(plotting.DOUBLE, 2.4), width_ratios=[1.15, 1, 1])

    accuracy = accuracy_matrix(scores, schemes, sources, tie_credit)
    low = min(0.5, accuracy.min())  # chance level is the natural floor of the colour scale
    left.imshow(accuracy, cmap="Blues", vmin=low, vmax=1.0, aspect="auto")
    for (i, j), value in np.ndenumerate(accuracy):
        dark = (value - low) / (1.0 - low) > 0.6
        left.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if dark else "black")
    for i, scheme in enumerate(schemes):
        if scheme.removeprefix("single-") in sources:
            j = sources.index(scheme.removeprefix("single-"))
            left.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.0))
    left.set_xticks(range(len(sources)), [names.source_label(s) for s in sources], rotation=35, ha="right")
    left.set_yticks(rows, [names.label(s) for s in schemes])
    left.set_xlabel("test source")
    left.set_title("accuracy")
    left.tick_params(length=0)
    left.spines[:].set_visible(False)

    focus_d = [plotting.differences(scores, scheme, focus) for scheme in schemes]
    parts = middle.violinplot(focus_d, positions=rows, orientation="horizontal", widths=0.8,
                              showmedians=True, showextrema=False)
    for body, c in zip(parts["bodies"], colors):
        body.set_facecolor(c)
        body.set_edgecolor(c)
        body.set_alpha(0.6)
    parts["cmedians"].set_color("black")
    middle.axvline(0, color="black", linewidth=0.5, linestyle=":")
    middle.set_xlabel("reward difference d")
    middle.set_title(f"d on {names.source_label(focus)}")

    offset = 0.2
    for row, (d, c) in enumerate(zip(focus_d, colors)):
        for sign, values, filled in ((-1, np.abs(d[d > 0]), True), (1, np.abs(d[d <= 0]), False)):
            if values.size == 0:
                continue
            right.boxplot([values], positions=[row + sign * offset], widths=0.32, orientation="horizontal",
                          patch_artist=True, boxprops={"facecolor": c if filled else "white", "edgecolor": c},
                          medianprops={"color": "black" if filled else c}, whiskerprops={"color": c},
                          capprops={"color": c},
                          flierprops={"marker": ".", "markersize": 2, "markeredgecolor": c, "alpha": 0.5})
    right.set_xlabel("|reward difference|")
    right.set_title(f"|d| on {names.source_label(focus)}")
    right.legend(handles=[Patch(facecolor="grey", edgecolor="grey", label="correct"),
                          Patch(facecolor="white", edgecolor="grey", label="wrong")],
                 loc="upper right", handlelength=1.0)

    # Rows line up with the heatmap's, so the heatmap's labels name them in all three panels.
    for ax in (middle, right):
        ax.set_ylim(len(schemes) - 0.5, -0.5)
        ax.set_yticks(rows, [])
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", color="0.9", linewidth=0.5)
        ax.set_axisbelow(True)
    return fig
