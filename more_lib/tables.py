"""Paper tables from tidy score and metric files (never from models)."""

import pandas as pd

from more_lib import metrics

TABLE2_ROWS = {"raw": "Raw", "top": "Top", "averaging": "Averaging", "multitask": "MultiTask", "more": "MORE"}


def derived_scores(scores, sources):
    """Top (each test source scored by the single-source RM trained on it) and Averaging (per
    pair, the mean reward of the single-source RMs) from the single-source RMs' scores."""
    derived = {("top", s): scores[(f"single-{s}", s)] for s in sources}
    for test in sources:
        singles = [scores[(f"single-{s}", test)] for s in sources]
        mean = sum(frame[["r_chosen", "r_rejected"]] for frame in singles) / len(singles)
        derived[("averaging", test)] = singles[0][["id"]].join(mean)
    return derived


def metrics_table(base, scores, sources, bins):
    """Tidy metrics: one row per (scheme, test source), plus a test source "all" pooling every pair."""
    scores = {**scores, **derived_scores(scores, sources)}
    rows = []
    for scheme in dict.fromkeys(scheme for scheme, _ in scores):
        frames = {test: scores[(scheme, test)] for test in sources}
        frames["all"] = pd.concat(frames.values())
        for test, frame in frames.items():
            rows.append({"base": base, "scheme": scheme, "test_source": test,
                         **metrics.pair_metrics(frame["r_chosen"].to_numpy(), frame["r_rejected"].to_numpy(), bins)})
    return pd.DataFrame(rows)


def table2(metric_tables, sources, mix, ece_bins, ece):
    """Table 2: per base, rows Raw, Top, Averaging, MultiTask, MORE; accuracy per test source,
    their mean (Avg) and one ECE: the mean over test sources ("mean") or over all pairs ("pooled")."""
    rows = []
    for frame in metric_tables:
        for key, label in TABLE2_ROWS.items():
            scheme = f"{key}-{mix}" if key in ("multitask", "more") else key
            part = frame[frame["scheme"] == scheme].set_index("test_source")
            accuracy = part.loc[sources, "accuracy"]
            ece_value = part.loc[sources, f"ece_{ece_bins}"].mean() if ece == "mean" else part.loc["all", f"ece_{ece_bins}"]
            rows.append({"base": frame["base"].iloc[0], "scheme": label, **accuracy.to_dict(),
                         "avg": accuracy.mean(), "ece": ece_value})
    return pd.DataFrame(rows)


def to_markdown(table, digits=4):
    return table.to_markdown(index=False, floatfmt=f".{digits}f") + "\n"
