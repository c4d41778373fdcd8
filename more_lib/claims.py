"""The paper's claims C1–C8 (DESIGN.md), each judged from the produced tables of one base.

A verdict is "holds" or "fails" with the numbers behind it, or "pending" while the table it
needs does not exist yet. Accuracy "close" means within `tolerance` (absolute, averaged over
test sources); ECE is Table 2's ECE column.
"""

import pandas as pd
from scipy.stats import spearmanr

from more_lib import names

STATEMENTS = {
    "C1": "single-source RMs lose accuracy off their own source",
    "C2": "MultiTask accuracy is close to Top",
    "C3": "MultiTask ECE is above Top",
    "C4": "MORE ECE is below MultiTask at similar accuracy",
    "C4-ts": "MORE ECE stays below MultiTask after temperature scaling of both (beyond the paper)",
    "C5": "MORE shrinks the reward differences and their outliers (vs MultiTask)",
    "C6": "MORE ECE falls as the number of sources K grows",
    "C7": "lower RM ECE goes with a higher RJS win rate",
    "C8": "Averaging accuracy is low (below Top and MultiTask)",
}


def _numbers(**values):
    return "; ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _verdict(holds):
    return "holds" if holds else "fails"


def c1_off_source_drop(metrics, sources):
    singles = metrics[metrics["scheme"].isin(names.singles(sources))].pivot(
        index="scheme", columns="test_source", values="accuracy")
    drops = {s: singles.loc[names.single(s), s] - singles.loc[names.single(s), [t for t in sources if t != s]].mean()
             for s in sources}
    return _verdict(all(d > 0 for d in drops.values())), _numbers(**{f"drop_{s}": float(d) for s, d in drops.items()})


def c2_multitask_close_to_top(table2, mix, tolerance):
    mt, top = table2.loc[names.multitask(mix), "avg"], table2.loc["top", "avg"]
    gap = float(mt - top)
    return _verdict(abs(gap) <= tolerance), _numbers(multitask_avg=mt, top_avg=top, gap=gap, tolerance=tolerance)


def c3_multitask_ece_above_top(table2, mix):
    mt, top = table2.loc[names.multitask(mix), "ece"], table2.loc["top", "ece"]
    return _verdict(mt > top), _numbers(multitask_ece=float(mt), top_ece=float(top))


def c4_more_ece_below_multitask(table2, mix, tolerance):
    more, mt = table2.loc[names.more(mix)], table2.loc[names.multitask(mix)]
    gap = float(more["avg"] - mt["avg"])
    return _verdict(more["ece"] < mt["ece"] and abs(gap) <= tolerance), _numbers(
        more_ece=float(more["ece"]), multitask_ece=float(mt["ece"]), accuracy_gap=gap, tolerance=tolerance)


def c4_after_temperature_scaling(calibration, mix):
    means = calibration.groupby("scheme")[["ece", "ece_scaled"]].mean()
    more, mt = means.loc[names.more(mix)], means.loc[names.multitask(mix)]
    return _verdict(more["ece_scaled"] < mt["ece_scaled"]), _numbers(
        more_ece_scaled=float(more["ece_scaled"]), multitask_ece_scaled=float(mt["ece_scaled"]),
        more_ece=float(more["ece"]), multitask_ece=float(mt["ece"]))


def c5_smaller_differences_and_outliers(outliers, mix):
    by_scheme = outliers.assign(outliers=outliers["positive_outliers"] + outliers["negative_outliers"]).groupby(
        "scheme")[["mean_abs_difference", "outliers"]].agg({"mean_abs_difference": "mean", "outliers": "sum"})
    more, mt = by_scheme.loc[names.more(mix)], by_scheme.loc[names.multitask(mix)]
    holds = more["mean_abs_difference"] < mt["mean_abs_difference"] and more["outliers"] <= mt["outliers"]
    return _verdict(holds), _numbers(
        more_mean_abs_d=float(more["mean_abs_difference"]), multitask_mean_abs_d=float(mt["mean_abs_difference"]),
        more_outliers=int(more["outliers"]), multitask_outliers=int(mt["outliers"]))


def c6_ece_falls_with_k(ksweep):
    more = ksweep[ksweep["k"].notna() & (ksweep["scheme"].map(names.scheme_kind) == "more")]
    trends = {test: spearmanr(part["k"], part["ece"]).statistic for test, part in more.groupby("test_source")}
    eces = {f"ece_{test}_k{int(k)}": float(e) for test, part in more.groupby("test_source")
            for k, e in zip(part["k"], part["ece"])}
    return _verdict(all(t < 0 for t in trends.values())), _numbers(
        **{f"spearman_{test}": float(t) for test, t in trends.items()}, **eces)


def c7_ece_against_win_rate(correlation):
    """Fig. 7: lower ECE goes with a higher win rate over SFT, i.e. both correlations negative."""
    if correlation is None:
        return "not measured", "base not in alignment.ksweep.bases"
    stats = correlation.set_index("statistic")
    return _verdict(bool((stats["estimate"] < 0).all())), _numbers(
        points=int(stats.loc["pearson", "points"]),
        **{f"{name}{suffix}": float(stats.loc[name, column]) for name in ("pearson", "spearman")
           for suffix, column in (("", "estimate"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))})


def c8_averaging_low(table2, mix):
    avg, top, mt = (table2.loc[scheme, "avg"] for scheme in ("averaging", "top", names.multitask(mix)))
    return _verdict(avg < min(top, mt)), _numbers(averaging_avg=float(avg), top_avg=float(top), multitask_avg=float(mt))


def claims_table(base, table2, metrics, outliers, ksweep, calibration, correlation, sources, mix, tolerance):
    """One row per claim for `base`; `table2` is this base's rows of Table 2 indexed by scheme;
    `correlation` is Fig. 7's (None when the base's K-sweep RMs align no policy)."""
    verdicts = {
        "C1": c1_off_source_drop(metrics, sources),
        "C2": c2_multitask_close_to_top(table2, mix, tolerance),
        "C3": c3_multitask_ece_above_top(table2, mix),
        "C4": c4_more_ece_below_multitask(table2, mix, tolerance),
        "C4-ts": c4_after_temperature_scaling(calibration, mix),
        "C5": c5_smaller_differences_and_outliers(outliers, mix),
        "C6": c6_ece_falls_with_k(ksweep),
        "C7": c7_ece_against_win_rate(correlation),
        "C8": c8_averaging_low(table2, mix),
    }
    return pd.DataFrame([{"claim": claim, "base": base, "statement": STATEMENTS[claim], "verdict": verdict,
                          "numbers": numbers} for claim, (verdict, numbers) in verdicts.items()])

