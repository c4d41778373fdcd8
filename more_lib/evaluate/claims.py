"""The paper's claims C1–C8 and C9 (beyond the paper), each a signed effect with an interval.

Every effect is computed from the reward differences d = r_chosen − r_rejected of the test pairs
(and, for C4-ts, of the held-out pairs its temperatures are fitted on), with an interval over the
test pairs and the training seeds (more_lib.evaluate.bootstrap: a paired pair bootstrap stratified by test
set, both sides of a difference on the same resampled pairs, and with k ≥ 2 seeds their spread on
k − 1 degrees of freedom). The interval is 95 %, 90 % for the equivalence claim C2 (two one-sided
tests at α = 0.05). The verdict reads it against the claim's decision boundary: `holds` when it
lies entirely on the claimed side, `fails` when entirely on the other, `inconclusive` otherwise,
`inconclusive (Monte Carlo)` when the resamples the rule allows cannot tell. C7 is an exact
permutation test of Fig. 7's correlation over its points, the K-sweep RMs (more_lib.evaluate.permutation).

Conventions are Table 2's: accuracy averaged over test sources (a tie counts `tie_credit`), ECE at
`ece_bins` bins, the mean over test sources or over all pairs (`ece_mode`); Top scores each test
source with the single-source RM trained on it, Averaging averages the single-source RMs.

Data: a replicate (one per training seed) is {(name, split, source): array}, where a name is a
scheme (its d) or a truth column (p_true, delta_shared, delta_source) and split is "test" or
"heldout"; the arrays of one (split, source) hold the same pairs in the same order.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from more_lib.core import names
from more_lib.evaluate import metrics, outliers, tables, temperature, truth

TRUTH_COLUMNS = ("p_true", "delta_shared", "delta_source")
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Settings:
    sources: list  # test sources, in the paper's order
    focus: list  # the H&H test sources of Tables 4–6 and Fig. 6
    mix: str  # the mix of Table 2's MultiTask and MORE
    mix_sources: list  # the sources of that mix (MultiTask's and MORE's temperatures are fitted on them)
    ksweep: dict  # {K: mix} of the K-sweep
    tolerance: float  # the accuracy gap that still counts as close
    ece_bins: int
    ece_mode: str  # "mean" over test sources or "pooled" over all pairs, as Table 2's ECE column
    tie_credit: float
    iqr_factor: float  # the box-plot rule of an outlier


@dataclass(frozen=True)
class Claim:
    statement: str
    claimed: str  # "below", "above" or "within" (±bound): see bootstrap.verdict
    bound: float
    keys: list  # the arrays the statistic reads
    statistic: Callable  # {key: array} -> {"effect": float, other named numbers...}
    missing: str = ""  # why the claim cannot be measured here (then keys and statistic are unused)


# ---- metrics of one scheme on resampled pairs --------------------------------------------------
def _top(source):
    return names.single(source)


def _accuracy(r, scheme, sources, settings):
    """Table 2's average accuracy of `scheme` over `sources`."""
    return float(np.mean([metrics.accuracy(r[(scheme, "test", s)], 0.0, settings.tie_credit) for s in sources]))


def _ece(d, bins):
    return metrics.calibration_errors(*metrics.both_orientations(d, 0.0), bins)["ece"]


def _table2_ece(r, scheme, sources, settings, scale=1.0):
    """Table 2's ECE of `scheme` (differences divided by a temperature `scale`)."""
    parts = [r[(scheme, "test", s)] / scale for s in sources]
    if settings.ece_mode == "pooled":
        return _ece(np.concatenate(parts), settings.ece_bins)
    return float(np.mean([_ece(d, settings.ece_bins) for d in parts]))


def _outlier_count(d, factor):
    return sum(len(outliers.box_outliers(part, factor)) for part in (d[d > 0], d[d < 0]))


def _keys(schemes, sources, split="test"):
    return [(scheme, split, s) for scheme in schemes for s in sources]


# ---- the claims ----------------------------------------------------------------------------------
def c1_off_source_drop(settings):
    """Each single-source RM's accuracy on its own source minus its mean on the others; the effect
    is the smallest drop: positive exactly when every single-source RM loses accuracy off its source."""
    sources = settings.sources

    def statistic(r):
        drops = {f"drop_{s}": metrics.accuracy(r[(_top(s), "test", s)], 0.0, settings.tie_credit)
                 - _accuracy(r, _top(s), [t for t in sources if t != s], settings) for s in sources}
        return {"effect": min(drops.values()), **drops}

    return Claim("single-source RMs lose accuracy off their own source (smallest drop > 0)", "above", 0.0,
                 _keys(names.singles(sources), sources), statistic)


def c2_multitask_close_to_top(settings):
    mt, sources = names.multitask(settings.mix), settings.sources

    def statistic(r):
        ours, top = _accuracy(r, mt, sources, settings), _accuracy(r, "top", sources, settings)
        return {"effect": ours - top, "multitask_acc": ours, "top_acc": top}

    return Claim(f"MultiTask accuracy is close to Top (avg accuracy MultiTask − Top within ±{settings.tolerance})",
                 "within", settings.tolerance, _keys([mt, "top"], sources), statistic)


def c3_multitask_ece_above_top(settings):
    mt, sources = names.multitask(settings.mix), settings.sources

    def statistic(r):
        ours, top = _table2_ece(r, mt, sources, settings), _table2_ece(r, "top", sources, settings)
        return {"effect": ours - top, "multitask_ece": ours, "top_ece": top}

    return Claim("MultiTask ECE is above Top (ECE MultiTask − Top > 0)", "above", 0.0,
                 _keys([mt, "top"], sources), statistic)


def c4_more_ece_below_multitask(settings):
    more, mt, sources = names.more(settings.mix), names.multitask(settings.mix), settings.sources

    def statistic(r):
        ece = {s: _table2_ece(r, s, sources, settings) for s in (more, mt)}
        return {"effect": ece[more] - ece[mt], "more_ece": ece[more], "multitask_ece": ece[mt],
                "accuracy_gap": _accuracy(r, more, sources, settings) - _accuracy(r, mt, sources, settings)}

    return Claim("MORE ECE is below MultiTask (ECE MORE − MultiTask < 0; accuracy gap in the numbers)", "below",
                 0.0, _keys([more, mt], sources), statistic)


def c4_after_temperature_scaling(settings):
    """C4 after each RM's temperature is fitted, on every resample, on the resampled held-out
    training pairs of its mix's sources: the interval carries the temperature's own noise."""
    more, mt, sources = names.more(settings.mix), names.multitask(settings.mix), settings.sources

    def statistic(r):
        result = {}
        for scheme, name in ((more, "more"), (mt, "multitask")):
            t = temperature.fit_temperature(np.concatenate([r[(scheme, "heldout", s)] for s in settings.mix_sources]))
            result[f"{name}_ece_scaled"] = _table2_ece(r, scheme, sources, settings, scale=t)
            result[f"{name}_temperature"] = t
        return {"effect": result["more_ece_scaled"] - result["multitask_ece_scaled"], **result}

    return Claim("MORE ECE stays below MultiTask after temperature scaling of both (scaled ECE MORE − MultiTask "
                 "< 0; beyond the paper)", "below", 0.0,
                 _keys([more, mt], sources) + _keys([more, mt], settings.mix_sources, "heldout"), statistic)


def c5_smaller_differences(settings):
    """Mean |d| (the mean over the focus sources of each source's mean), MORE minus MultiTask; the
    outlier counts (box-plot rule on each sign, summed over the focus sources) in the numbers."""
    more, mt, focus = names.more(settings.mix), names.multitask(settings.mix), settings.focus

    def statistic(r):
        size = {s: float(np.mean([np.abs(r[(s, "test", f)]).mean() for f in focus])) for s in (more, mt)}
        count = {s: float(sum(_outlier_count(r[(s, "test", f)], settings.iqr_factor) for f in focus))
                 for s in (more, mt)}
        return {"effect": size[more] - size[mt], "more_mean_abs_d": size[more], "multitask_mean_abs_d": size[mt],
                "outliers_more_minus_multitask": count[more] - count[mt]}

    return Claim("MORE shrinks the reward differences (mean |d| MORE − MultiTask < 0 on the focus sources)",
                 "below", 0.0, _keys([more, mt], focus), statistic)


def c6_ece_falls_with_k(settings):
    """The least-squares slope over K of MORE's ECE (the mean over the focus sources of each
    source's ECE); ECE(K max) − ECE(K = 2) in the numbers."""
    ks = sorted(settings.ksweep)
    schemes = {k: names.more(settings.ksweep[k]) for k in ks}
    statement = "MORE ECE falls as the number of sources K grows (slope of ECE over K < 0)"
    if len(ks) < 2:
        return Claim(statement, "below", 0.0, [], None, missing="the K-sweep has a single K (analysis.ksweep)")

    def statistic(r):
        ece = {k: float(np.mean([_ece(r[(schemes[k], "test", f)], settings.ece_bins) for f in settings.focus]))
               for k in ks}
        return {"effect": float(np.polyfit(ks, [ece[k] for k in ks], 1)[0]),
                f"ece_k{ks[-1]}_minus_k{ks[0]}": ece[ks[-1]] - ece[ks[0]], **{f"ece_k{k}": e for k, e in ece.items()}}

    return Claim(statement, "below", 0.0, _keys(list(schemes.values()), settings.focus), statistic)


def c8_averaging_low(settings):
    mt, sources = names.multitask(settings.mix), settings.sources

    def statistic(r):
        acc = {s: _accuracy(r, s, sources, settings) for s in ("averaging", "top", mt)}
        return {"effect": acc["averaging"] - min(acc["top"], acc[mt]), "averaging_acc": acc["averaging"],
                "top_acc": acc["top"], "multitask_acc": acc[mt]}

    return Claim("Averaging accuracy is low (avg accuracy Averaging − min(Top, MultiTask) < 0)", "below", 0.0,
                 _keys(["averaging", "top", mt], sources), statistic)


def _truth_keys(sources):
    return [(column, "test", s) for column in TRUTH_COLUMNS for s in sources]


NO_TRUTH = "no test source carries the truth in meta"


def _more_minus_multitask_on_truth(truth_sources, settings, statement, claimed, metric, column, name):
    """A C9 effect: `metric`(d, truth `column`), the mean over the sources with truth, MORE minus MultiTask."""
    more, mt = names.more(settings.mix), names.multitask(settings.mix)
    if not truth_sources:
        return Claim(statement, claimed, 0.0, [], None, missing=NO_TRUTH)

    def statistic(r):
        value = {s: float(np.mean([metric(r[(s, "test", t)], r[(column, "test", t)]) for t in truth_sources]))
                 for s in (more, mt)}
        return {"effect": value[more] - value[mt], f"more_{name}": value[more], f"multitask_{name}": value[mt]}

    return Claim(statement, claimed, 0.0, _keys([more, mt], truth_sources) + _truth_keys(truth_sources), statistic)


def c9_fidelity(truth_sources, settings):
    """MORE's reward differences follow the shared reward's more closely: Pearson r of d with Δr*."""
    return _more_minus_multitask_on_truth(
        truth_sources, settings, "MORE tracks the shared reward better than MultiTask (Pearson r(d, Δr*) MORE − "
        "MultiTask > 0; beyond the paper)", "above", truth.pearson, "delta_shared", "pearson_shared")


def c9_calibration(truth_sources, settings):
    """MORE's probabilities are closer to the true ones: true calibration error mean |σ(d) − p_true|."""
    return _more_minus_multitask_on_truth(
        truth_sources, settings, "MORE is closer to the true preference probability than MultiTask "
        "(mean |σ(d) − p_true| MORE − MultiTask < 0; beyond the paper)", "below", truth.true_calibration_error,
        "p_true", "true_ce")


def paper_claims(settings):
    """{claim id: Claim} of the claims judged on test pairs (C7 is read from Fig. 7)."""
    return {"C1": c1_off_source_drop(settings), "C2": c2_multitask_close_to_top(settings),
            "C3": c3_multitask_ece_above_top(settings), "C4": c4_more_ece_below_multitask(settings),
            "C4-ts": c4_after_temperature_scaling(settings), "C5": c5_smaller_differences(settings),
            "C6": c6_ece_falls_with_k(settings), "C8": c8_averaging_low(settings)}


def truth_claims(truth_sources, settings):
    return {"C9-fidelity": c9_fidelity(truth_sources, settings),
            "C9-calibration": c9_calibration(truth_sources, settings)}


def replicate_arrays(scores, heldout, truths, test_ids, sources):
    """One replicate's arrays from its frames: `scores` {(scheme, source): test scores} (every
    single-source RM on every source, for Top and Averaging), `heldout` {(scheme, source): held-out
    scores}, `truths` {source: truth frame or None}, `test_ids` {source: the test set's ids}."""
    scores = {**scores, **tables.derived_scores(scores, sources)}
    arrays = {(scheme, "test", source): truth.aligned_differences(frame, test_ids[source], f"{scheme} on {source}")
              for (scheme, source), frame in scores.items()}
    heldout_ids = {}
    for (scheme, source), frame in heldout.items():
        ids = heldout_ids.setdefault(source, sorted(frame["id"]))
        arrays[(scheme, "heldout", source)] = truth.aligned_differences(frame, ids, f"{scheme} on held-out {source}")
    for source, frame in truths.items():
        if frame is not None:
            arrays.update({(column, "test", source): frame[column].to_numpy(dtype=np.float64)
                           for column in TRUTH_COLUMNS})
    return arrays
