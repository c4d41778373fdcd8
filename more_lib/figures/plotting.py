"""What every figure shares: style, paper sizes, one colour per scheme, tidy inputs, atomic saving.

Figures are drawn only from tidy score and metric files, never from models.
"""

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from more_lib.core import io, names
from more_lib.core.errors import DataError
from more_lib.evaluate import tables

matplotlib.use("Agg")  # figures are files; cluster nodes have no display

SINGLE = 3.3  # inches: one column of a two-column paper
DOUBLE = 6.9  # inches: the full text width
DPI = 200

plt.rcParams.update({
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.0,
    "patch.linewidth": 0.6,
    "figure.constrained_layout.use": True,
    "pdf.fonttype": 42,  # TrueType fonts: text stays editable and searchable in the paper's PDF
})

# Colour-blind-safe palettes: Okabe-Ito for the schemes, Paul Tol's "muted" for the single-source
# RMs, so that no single-source RM shares a colour with a scheme. Top and Averaging share a hue
# because both are built from the single-source RMs.
SCHEME_COLORS = {"raw": "#999999", "top": "#0072B2", "averaging": "#56B4E9",
                 "multitask": "#E69F00", "more": "#009E73"}
SOURCE_COLORS = ["#332288", "#CC6677", "#DDCC77", "#AA4499", "#999933", "#44AA99", "#882255"]
SCORE_COLUMNS = ["id", "r_chosen", "r_rejected"]


def color(scheme, sources):
    """A single-source RM takes its source's colour; every other scheme its kind's."""
    kind, rest = names.parse_scheme(scheme)
    if kind == "single":
        return SOURCE_COLORS[list(sources).index(rest) % len(SOURCE_COLORS)]
    return SCHEME_COLORS[kind]


def read_table(path, columns):
    """A tidy CSV, with a one-line error naming the file if it or one of `columns` is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def load_scores(paths, derived=False):
    """Tidy scores from {(scheme, test source): path}: scheme, test_source, id, r_chosen,
    r_rejected and d = r_chosen - r_rejected. `derived` adds the schemes "top" and "averaging"
    (as the metrics table defines them), which need every single-source RM on every source."""
    frames = tables.read_scores(paths)
    if derived:
        frames.update(tables.derived_scores(frames, tables.keyed_sources(paths)))
    tidy = pd.concat([frame[SCORE_COLUMNS].assign(scheme=scheme, test_source=source)
                      for (scheme, source), frame in frames.items()], ignore_index=True)
    tidy["d"] = tidy["r_chosen"] - tidy["r_rejected"]
    return tidy[["scheme", "test_source", *SCORE_COLUMNS, "d"]]


def pairs(scores, scheme, source):
    """The rows of one RM on one test source."""
    return scores[(scores["scheme"] == scheme) & (scores["test_source"] == source)]


def differences(scores, scheme, source):
    """The reward differences of one RM on one test source, as a numpy array."""
    return pairs(scores, scheme, source)["d"].to_numpy()


METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None}}


def save(fig, paths):
    """Write the figure to each of `paths` (.png or .pdf, each atomically) without timestamps, and close it."""
    for path in map(Path, paths):
        fmt = path.suffix.lstrip(".")
        if fmt not in METADATA:
            raise DataError(f"{path}: a figure is written as .png or .pdf")
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=METADATA[fmt])
    plt.close(fig)
