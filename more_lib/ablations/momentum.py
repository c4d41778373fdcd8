"""MORE's momentum ablation (`snakemake ablations`) and the λ statistics that read a MORE run.

The paper's code updates g_m <- (1 - α) g_m + α g_new, so α = 0.99 keeps 1 % of the past:
smaller α smooths λ over more batches (more_lib.reward.weighting.more_weights).
"""

import numpy as np
import pandas as pd

from more_lib.evaluate import metrics

LAMBDA_PREFIX = "lambda_"
DROPPED = 0.01  # a λ below this leaves the source out of the step's update, in effect


def lambda_columns(log):
    return [c for c in log.columns if c.startswith(LAMBDA_PREFIX)]


def lambda_stats(log):
    """Per training source of a MORE train log: mean λ, its standard deviation over the steps, and
    the share of steps that (in effect) dropped the source (λ < DROPPED)."""
    lam = log[lambda_columns(log)]
    return pd.DataFrame({"source": [c.removeprefix(LAMBDA_PREFIX) for c in lam.columns],
                         "mean": lam.mean().to_numpy(), "std": lam.std().to_numpy(),
                         "dropped": (lam < DROPPED).mean().to_numpy()})


def table2_ece(scores, sources, ece_bins, ece, tie_credit=0.0):
    """Table 2's ECE of one RM: the mean over test sources ("mean") or over all their pairs ("pooled")."""
    frames = [scores[test] for test in sources] if ece == "mean" else [pd.concat(scores[test] for test in sources)]
    return float(np.mean([metrics.pair_metrics(f["r_chosen"], f["r_rejected"], [ece_bins], tie_credit)[f"ece_{ece_bins}"]
                          for f in frames]))


def alpha_table(base, runs, sources, ece_bins, ece, tie_credit=0.0):
    """One row per α: accuracy on each test source and their mean, Table 2's ECE, and λ's standard
    deviation and dropped share averaged over the training sources. `runs`: {α: (train log,
    {test source: scores})}."""
    rows = []
    for alpha, (log, scores) in sorted(runs.items(), reverse=True):
        accuracy = {test: metrics.pair_metrics(scores[test]["r_chosen"], scores[test]["r_rejected"], [ece_bins],
                                               tie_credit)["accuracy"] for test in sources}
        stats = lambda_stats(log)
        rows.append({"base": base, "alpha": alpha, **accuracy, "avg": float(np.mean(list(accuracy.values()))),
                     "ece": table2_ece(scores, sources, ece_bins, ece, tie_credit),
                     "lambda_std": stats["std"].mean(), "lambda_dropped": stats["dropped"].mean()})
    return pd.DataFrame(rows)
