"""Outliers of reward differences (the paper's Tables 4–6), by the box-plot rule.

The paper counts "positive" and "negative outliers" of d = r_chosen - r_rejected without
defining them. Here the positive and the negative differences are two samples, and an outlier of
either is a value beyond `factor` interquartile ranges from its quartiles: the fliers of a
box plot (matplotlib's `whis`), so the counts match what Fig. 8's box plots show.
"""

import numpy as np

from more_lib.evaluate import metrics


def box_outliers(values, factor):
    """The values beyond `factor` IQR below the first or above the third quartile."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    q1, q3 = np.percentile(values, [25, 75])
    spread = factor * (q3 - q1)
    return values[(values < q1 - spread) | (values > q3 + spread)]


def outlier_row(r_chosen, r_rejected, factor, ece_bins):
    """ECE and the count and mean of the positive and of the negative differences' outliers."""
    d = np.asarray(r_chosen, dtype=np.float64) - np.asarray(r_rejected, dtype=np.float64)
    row = {"ece": metrics.pair_metrics(r_chosen, r_rejected, [ece_bins])[f"ece_{ece_bins}"],
           "mean_abs_difference": float(np.abs(d).mean())}
    for sign, part in (("positive", d[d > 0]), ("negative", d[d < 0])):
        found = box_outliers(part, factor)
        row[f"{sign}_outliers"] = len(found)
        row[f"{sign}_outlier_mean"] = float(found.mean()) if len(found) else float("nan")
    return row
