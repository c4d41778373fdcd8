"""Outliers, temperature scaling, the analysis tables and Fig. 7's correlations (claim C7), on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from more_lib.evaluate import metrics, outliers, tables, temperature, verdicts

SOURCES = ["helpful", "harmless", "summ"]


def frame(d, seed=0):
    """Scores with the reward differences `d` (r_rejected random, so only d matters)."""
    r_rejected = np.random.default_rng(seed).normal(size=len(d))
    return pd.DataFrame({"id": [f"p{i}" for i in range(len(d))], "r_chosen": r_rejected + np.asarray(d),
                         "r_rejected": r_rejected})


def test_box_outliers_are_beyond_the_fences():
    # quartiles 2 and 4, IQR 2: fences at -1 and 7 for factor 1.5, at 1 and 5 for factor 0.5
    values = [-5.0, 1.5, 2, 3, 4, 4.5, 100]
    assert outliers.box_outliers(values, 1.5).tolist() == [-5.0, 100]
    assert outliers.box_outliers(values, 0.5).tolist() == [-5.0, 100]
    assert outliers.box_outliers([], 1.5).size == 0
    assert outliers.box_outliers([1, 2, 3, 4, 5, 6, 7, 8], 1.5).size == 0


def test_outlier_row_counts_each_sign_separately():
    d = np.array([1.0, 1.1, 1.2, 1.3, 9.0, -1.0, -1.05, -1.1, -1.15, -1.2, -1.25, -1.3, -8.0, -9.0, 0.0])
    scores = frame(d)
    row = outliers.outlier_row(scores["r_chosen"], scores["r_rejected"], 1.5, 10)
    assert row["positive_outliers"] == 1 and row["positive_outlier_mean"] == pytest.approx(9.0)
    assert row["negative_outliers"] == 2 and row["negative_outlier_mean"] == pytest.approx(-8.5)
    assert row["mean_abs_difference"] == pytest.approx(np.abs(d).mean())
    assert row["ece"] == pytest.approx(metrics.pair_metrics(scores["r_chosen"], scores["r_rejected"], [10])["ece_10"])


def sampled_differences(n, scale, seed):
    """Pairs whose true preference probability is σ(m), labelled by sampling, scored k·m."""
    rng = np.random.default_rng(seed)
    m = rng.normal(scale=2.0, size=n)
    chosen_is_first = rng.random(n) < expit(m)
    return np.where(chosen_is_first, m, -m) * scale


def test_temperature_recovers_the_overconfidence_of_a_scaled_reward():
    d = sampled_differences(40_000, scale=3.0, seed=1)
    t = temperature.fit_temperature(d)
    assert t == pytest.approx(3.0, rel=0.05)
    assert temperature.mean_nll(d, t) < temperature.mean_nll(d, 1.0)
    test = sampled_differences(20_000, scale=3.0, seed=2)
    before = metrics.pair_metrics(test, np.zeros_like(test), [10])["ece_10"]
    after = metrics.pair_metrics(test / t, np.zeros_like(test), [10])["ece_10"]
    assert after < before / 3


def test_temperature_without_signal_is_one():
    assert temperature.fit_temperature(np.zeros(10)) == 1.0
    assert temperature.fit_temperature([]) == 1.0


def test_calibration_table_fits_on_heldout_and_reports_before_and_after():
    heldout = {(s, src): frame(sampled_differences(4000, 2.0, i)) for i, (s, src) in
               enumerate((s, src) for s in ["single-helpful", "raw"] for src in SOURCES)}
    test = {(s, src): frame(sampled_differences(2000, 2.0, 100 + i)) for i, (s, src) in
            enumerate((s, src) for s in ["single-helpful", "raw"] for src in SOURCES)}
    table = tables.calibration_table("b", test, heldout, {"single-helpful": ["helpful"], "raw": SOURCES},
                                     SOURCES, 10)
    assert len(table) == 2 * len(SOURCES)
    helpful = table[table.scheme == "single-helpful"]
    held = heldout[("single-helpful", "helpful")]
    assert (helpful["temperature"] == temperature.fit_temperature(held.r_chosen - held.r_rejected)).all()
    assert (helpful["fitted_on"] == "helpful").all() and (table[table.scheme == "raw"]["fitted_on"] == "helpful harmless summ").all()
    assert (table["ece_scaled"] < table["ece"]).all()


def test_ksweep_and_outlier_tables_have_the_papers_shape():
    schemes = ["single-helpful", "single-harmless", "multitask-k2", "more-k2", "multitask-all", "more-all"]
    scores = {(s, src): frame(np.linspace(-1, 3, 50) * (1 + i % 3), i) for i, (s, src) in
              enumerate((s, src) for s in schemes for src in ["helpful", "harmless"])}
    ksweep = tables.ksweep_table("b", scores, ["helpful", "harmless"], {2: "k2", 3: "all"}, 10)
    assert len(ksweep) == 2 * (1 + 2 * 2)
    assert ksweep[ksweep.scheme == "top"]["k"].isna().all()
    assert ksweep[ksweep.label == "MORE"]["k"].tolist() == [2, 3, 2, 3]
    assert ksweep[ksweep.label == "MORE"]["scheme"].tolist() == ["more-k2", "more-all"] * 2
    table = tables.outlier_table("b", scores, ["helpful", "harmless"], "all", 1.5, 10)
    assert table[["test_source", "scheme", "label"]].values.tolist() == [
        [t, s, label] for t in ["helpful", "harmless"]
        for s, label in [("top", "Top"), ("multitask-all", "MultiTask"), ("more-all", "MORE")]]
    assert {"ece", "positive_outliers", "positive_outlier_mean", "negative_outliers",
            "negative_outlier_mean"} <= set(table.columns)


def test_correlations_have_bootstrap_intervals():
    x = np.arange(8.0)
    table = metrics.correlations(x, 2 * x + np.sin(x), resamples=500, seed=1)
    rising = table.set_index("statistic")
    assert rising.loc["spearman", "estimate"] == pytest.approx(1.0)
    assert 0.9 < rising.loc["pearson", "estimate"] < 1.0
    assert (rising["ci_low"] <= rising["estimate"]).all() and (rising["estimate"] <= rising["ci_high"] + 1e-12).all()
    assert (rising["resamples"] <= 500).all() and (rising["points"] == 8).all()
    assert metrics.correlations(x, 2 * x, 500, seed=1).equals(metrics.correlations(x, 2 * x, 500, seed=1))
    assert verdicts.c7_row("b", None)["verdict"] == "not measured"

def test_table1_puts_win_tie_lose_on_the_more_row():
    metric_rows = [{"base": "b", "scheme": f"{kind}-all", "test_source": source, "n_pairs": n, "accuracy": acc,
                    "ece_10": ece}
                   for kind, acc, ece in (("multitask", 0.7, 0.05), ("more", 0.8, 0.03))
                   for source, n in (("helpful", 100), ("harmless", 300))]
    policies = ["base", "rjs-b-multitask-all", "rjs-b-more-all"]
    ppl = pd.DataFrame([{"policy": p, "source": s, "ppl": 10.0 + i} for i, p in enumerate(policies)
                        for s in ("helpful", "harmless")])
    outcome = {"b": {"win": 50.0, "tie": 20.0, "lose": 30.0, "n": 40, "invalid": 1}}
    table = tables.table1([pd.DataFrame(metric_rows)], ppl, outcome, "all", ["helpful", "harmless"], 10)
    assert table[["base", "scheme", "label"]].values.tolist() == [
        ["-", "-", "-"], ["b", "multitask-all", "MultiTask"], ["b", "more-all", "MORE"]]
    more = table.iloc[2]
    assert (more["win"], more["tie"], more["lose"], more["judged"]) == (50.0, 20.0, 30.0, 40)
    assert more["accuracy"] == pytest.approx(0.8) and more["ece"] == pytest.approx(0.03)
    assert table.iloc[1]["ppl_harmless"] == 11.0 and np.isnan(table.iloc[1]["win"])
    assert table.iloc[0]["ppl_helpful"] == 10.0
