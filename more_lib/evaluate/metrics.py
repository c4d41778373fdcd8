"""Accuracy and calibration of reward differences, with the conventions of the paper's code.

A pair with d = r_chosen - r_rejected predicts P(chosen preferred) = p = sigmoid(d). Calibration
uses both orientations, (p, label 1) and (1 - p, label 0), since with the chosen side alone every
label is 1. Bins are M equal-width, right-closed ((m-1)/M, m/M], with 0 in the first bin.
"""

import numpy as np
import pandas as pd
from scipy.special import expit


def _differences(r_chosen, r_rejected):
    return np.asarray(r_chosen, dtype=np.float64) - np.asarray(r_rejected, dtype=np.float64)


def both_orientations(r_chosen, r_rejected):
    """(confidence, label) of every pair seen both ways: [p..., 1 - p...] and [1..., 0...]."""
    d = _differences(r_chosen, r_rejected)
    # expit(-d) rather than 1 - expit(d): exact where p is within rounding of 1.
    return np.concatenate([expit(d), expit(-d)]), np.repeat([1.0, 0.0], len(d))


def _bin_sums(confidence, label, bins):
    """Per-bin count, sum of confidences and sum of labels over `bins` right-closed bins."""
    confidence = np.asarray(confidence, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if confidence.size == 0:
        raise ValueError("calibration of an empty set")
    # Edges m/M correctly rounded (np.linspace gives 0.30000000000000004 for 3/10), so a
    # confidence equal to the float m/M always lands in bin m, the lower one.
    edges = np.arange(bins + 1) / bins
    idx = np.searchsorted(edges[1:-1], confidence, side="left")
    return (
        np.bincount(idx, minlength=bins),
        np.bincount(idx, weights=confidence, minlength=bins),
        np.bincount(idx, weights=label, minlength=bins),
    )


def calibration_errors(confidence, label, bins):
    """ECE = Σ_b |Σ conf - Σ label| / N; ACE and MCE: mean and max over non-empty bins of |acc - conf|."""
    count, conf_sum, label_sum = _bin_sums(confidence, label, bins)
    gap = np.abs(conf_sum - label_sum)
    filled = count > 0
    per_bin = gap[filled] / count[filled]
    return {"ece": gap.sum() / count.sum(), "ace": per_bin.mean(), "mce": per_bin.max()}


def reliability_table(confidence, label, bins):
    """One row per bin b covering (b/M, (b+1)/M]: count, mean confidence, mean label (NaN if empty)."""
    count, conf_sum, label_sum = _bin_sums(confidence, label, bins)
    with np.errstate(invalid="ignore"):
        return pd.DataFrame(
            {
                "bin": np.arange(bins),
                "lower": np.arange(bins) / bins,
                "upper": np.arange(1, bins + 1) / bins,
                "count": count,
                "confidence": conf_sum / count,
                "accuracy": label_sum / count,
            }
        )


def accuracy(r_chosen, r_rejected, tie_credit=0.0):
    """Fraction of pairs with r_chosen > r_rejected; a tie (equal rewards) counts `tie_credit`.

    0 counts a tie wrong (TRL, RewardBench); 0.5 is what the paper's code gives: it scores each
    pair in both orientations with a strict `>`, so a tie is right in one of the two
    (`evaluation.tie_credit`)."""
    if not 0.0 <= tie_credit <= 1.0:
        raise ValueError(f"tie_credit must be in [0, 1], got {tie_credit}")
    d = _differences(r_chosen, r_rejected)
    return np.mean(d > 0) + tie_credit * np.mean(d == 0)


def smooth_ece(confidence, label):
    """Smooth ECE (Błasiok & Nakkiran 2024, `relplot.smECE`): the calibration error of a kernel
    regression of label on confidence, bandwidth chosen by the data; unlike binned ECE it has no
    bin edges to move and is consistent (Kumar et al. 2019: binned ECE is biased for small bins)."""
    # Imported here: relplot loads scikit-learn and seaborn (about 0.4 s), which only the jobs
    # that compute calibration need, not every script that imports this module.
    import relplot

    return float(relplot.smECE(np.asarray(confidence, dtype=np.float64), np.asarray(label, dtype=np.float64)))


def pair_metrics(r_chosen, r_rejected, bins=(5, 10, 20), tie_credit=0.0):
    """Accuracy (ties d == 0 count `tie_credit` and are reported), Brier, NLL, smooth ECE, and
    ECE/ACE/MCE per M."""
    d = _differences(r_chosen, r_rejected)
    metrics = {
        "n_pairs": len(d),
        "accuracy": accuracy(r_chosen, r_rejected, tie_credit),
        "ties": int(np.sum(d == 0)),
        # (p - 1)² = (1 - p)² = sigmoid(-d)²; the two-orientation mean is the same number.
        "brier": np.mean(expit(-d) ** 2),
        "nll": np.mean(np.logaddexp(0.0, -d)),  # -log sigmoid(d) = softplus(-d)
    }
    confidence, label = both_orientations(r_chosen, r_rejected)
    metrics["smece"] = smooth_ece(confidence, label)
    for m in bins:
        for name, value in calibration_errors(confidence, label, m).items():
            metrics[f"{name}_{m}"] = value
    return metrics


def correlations(x, y, resamples, seed, level=0.95):
    """Pearson r and Spearman ρ of paired points, each with a percentile bootstrap interval
    (points resampled in pairs; a resample whose x or y is constant has no correlation and is skipped)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = []
    for name, statistic in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        boot = []
        for _ in range(resamples):
            i = rng.integers(len(x), size=len(x))
            if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
                boot.append(statistic(x[i], y[i]).statistic)
        low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]) if boot else (np.nan, np.nan)
        rows.append({"statistic": name, "estimate": statistic(x, y).statistic, "ci_low": low, "ci_high": high,
                     "level": level, "points": len(x), "resamples": len(boot)})
    return pd.DataFrame(rows)
