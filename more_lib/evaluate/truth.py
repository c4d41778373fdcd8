"""Ground-truth metrics of reward models, where the test records carry the truth in `meta`.

A synthetic record (more_lib.data.synthetic) holds the true probability that its chosen response is
preferred, p_true = σ(β_k Δr_k), the source reward of both responses (r_k = r* + drift_k) and
their shared reward r*. With d = r_chosen − r_rejected of an RM:

- true calibration: mean |σ(d) − p_true| and its root mean square; binned ECE against p_true
  (Table 2's ECE with the sampled label replaced by its probability, both orientations, as
  more_lib.evaluate.metrics); the Brier score expected under p_true beside the one of the sampled label;
- fidelity: Pearson and Spearman correlation of d with Δr* (the shared preference) and with Δr_k
  (the test source's own);
- drift absorption: the least-squares fit d ≈ a·Δr* + b·(Δr_k − Δr*), without intercept (d changes
  sign when the two responses swap, so a constant term has no meaning): a scorer of the shared
  reward has b = 0, one of the source's own reward b = a (b/a = 1).
"""

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from more_lib.core import names
from more_lib.core.errors import DataError
from more_lib.evaluate import metrics

TRUTH_KEYS = ("p_chosen", "reward_chosen", "reward_rejected", "shared_chosen", "shared_rejected")
NO_TRUTH = "skipped: the test records carry no truth in meta (" + ", ".join(TRUTH_KEYS) + ")"


def truth_frame(records):
    """id, p_true, delta_shared (Δr*) and delta_source (Δr_k) of every record, in file order;
    None when a record lacks one of the truth keys (a hub source)."""
    if not records or any(not set(TRUTH_KEYS) <= set(r.get("meta", {})) for r in records):
        return None
    meta = pd.DataFrame([r["meta"] for r in records])
    return pd.DataFrame({"id": [r["id"] for r in records], "p_true": meta["p_chosen"],
                         "delta_shared": meta["shared_chosen"] - meta["shared_rejected"],
                         "delta_source": meta["reward_chosen"] - meta["reward_rejected"]})


def aligned_differences(scores, ids, where):
    """d = r_chosen − r_rejected of a scores frame, in the order of `ids` (the test set's), so that
    every scheme's differences of one test set line up pair by pair."""
    indexed = scores.set_index("id")
    if len(indexed) != len(ids) or not indexed.index.isin(ids).all():
        raise DataError(f"{where}: the scores' pair ids are not those of the test set")
    ordered = indexed.loc[list(ids)]
    return (ordered["r_chosen"] - ordered["r_rejected"]).to_numpy(dtype=np.float64)


def true_calibration_error(d, p_true):
    """mean |σ(d) − p_true|."""
    return float(np.mean(np.abs(expit(d) - p_true)))


def pearson(x, y):
    """Pearson's r, NaN when either side is constant (no correlation is defined)."""
    return float(np.corrcoef(x, y)[0, 1]) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")


def spearman(x, y):
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def drift_absorption(d, delta_shared, delta_source):
    """(a, b, b/a) of the least-squares fit d ≈ a·Δr* + b·(Δr_k − Δr*); NaN where the design has
    no drift column to fit (Δr_k = Δr* on every pair) or a = 0."""
    design = np.column_stack([delta_shared, delta_source - delta_shared])
    if np.linalg.matrix_rank(design) < 2:
        return float("nan"), float("nan"), float("nan")
    (a, b), *_ = np.linalg.lstsq(design, d, rcond=None)
    return float(a), float(b), float(b / a) if a != 0 else float("nan")


def truth_metrics(d, truth, bins):
    """Every ground-truth metric of differences `d` on the pairs of `truth` (same order)."""
    p_true = truth["p_true"].to_numpy(dtype=np.float64)
    shared = truth["delta_shared"].to_numpy(dtype=np.float64)
    source = truth["delta_source"].to_numpy(dtype=np.float64)
    p = expit(d)
    confidence, _ = metrics.both_orientations(d, 0.0)
    a, b, ratio = drift_absorption(d, shared, source)
    return {
        "n_pairs": len(d),
        "true_ce": true_calibration_error(d, p_true),
        "true_ce_rms": float(np.sqrt(np.mean((p - p_true) ** 2))),
        f"true_ece_{bins}": metrics.calibration_errors(confidence, np.concatenate([p_true, 1 - p_true]), bins)["ece"],
        # E over the label drawn from p_true of (p − label)²: what brier_label estimates from one draw.
        "brier_true": float(np.mean((p - p_true) ** 2 + p_true * (1 - p_true))),
        "brier_label": float(np.mean(expit(-d) ** 2)),
        "pearson_shared": pearson(d, shared),
        "spearman_shared": spearman(d, shared),
        "pearson_source": pearson(d, source),
        "spearman_source": spearman(d, source),
        "drift_a": a,
        "drift_b": b,
        "drift_b_over_a": ratio,
    }


def metric_names(bins):
    """The columns truth_metrics fills, in its order (NaN on a source without the truth)."""
    return ["n_pairs", "true_ce", "true_ce_rms", f"true_ece_{bins}", "brier_true", "brier_label", "pearson_shared",
            "spearman_shared", "pearson_source", "spearman_source", "drift_a", "drift_b", "drift_b_over_a"]


def truth_table(base, scores, truths, bins):
    """One row per scheme × test source with the truth (`scores`: {(scheme, source): frame}, the
    derived Top and Averaging included; `truths`: {source: truth_frame or None}), and one note row
    per source without it. Every metric column is there even when no source has the truth (the
    paper world), so that readers find the table they expect."""
    rows = []
    for source, truth in truths.items():
        if truth is None:
            rows.append({"base": base, "scheme": "", "label": "", "test_source": source, "note": NO_TRUTH})
            continue
        for scheme in dict.fromkeys(scheme for scheme, _ in scores):
            d = aligned_differences(scores[(scheme, source)], truth["id"], f"{scheme} on {source}")
            rows.append({"base": base, "scheme": scheme, "label": names.label(scheme), "test_source": source,
                         **truth_metrics(d, truth, bins), "note": ""})
    return pd.DataFrame(rows, columns=["base", "scheme", "label", "test_source", *metric_names(bins), "note"])
