"""The claims table: each claim of more_lib.evaluate.claims judged on its test pairs and seeds (a row with
effect, interval, verdict and the design's numbers), C7 read from Fig. 7's points by an exact
permutation test (more_lib.evaluate.permutation), in the paper's order."""

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from more_lib.core.seeding import rng_for
from more_lib.evaluate import bootstrap, permutation
from more_lib.evaluate.claims import NOT_MEASURED, paper_claims, truth_claims

STATEMENT_C7 = "lower RM ECE goes with a higher RJS win rate (Fig. 7's Pearson r of ECE and win rate < 0)"


# ---- rows ------------------------------------------------------------------------------------------
NOT_TESTABLE = "not testable"
# The columns every row has after claim, base and statement; a row leaves unknown ones NaN.
MEASURES = ("effect", "ci_low", "ci_high", "n_pairs", "n_seeds")
DESIGN = ("level", "detectable", "n_sources", "se_pairs", "sd_seeds", "resamples", "mc_se_low", "mc_se_high")


def _numbers(intervals):
    return "; ".join(f"{name}={i.estimate:.4f} [{i.low:.4f}, {i.high:.4f}]" for name, i in intervals.items()
                     if name != "effect")


def noise_covered(n_seeds):
    """What the interval's noise covers: with one seed the verdict rests on one training run."""
    if n_seeds <= 1:
        return "test pairs only: training noise not measured (one seed)"
    return f"test pairs and {n_seeds} training seeds"


def _row(claim_id, base, statement, claimed, bound, verdict, numbers, noise, **values):
    """One claims.csv row: claims.csv's first columns in their order, the design columns after."""
    return {"claim": claim_id, "base": base, "statement": statement,
            **{name: values.get(name, np.nan) for name in MEASURES}, "noise": noise, "verdict": verdict,
            "claimed": claimed, "bound": bound, "numbers": numbers, **{name: values.get(name, np.nan) for name in DESIGN}}


def judge(claim_id, base, claim, replicates, resamples, rng, cap=None):
    """One claim's row: effect, interval and verdict over its arrays' test pairs and seeds, with
    the resamples the Monte Carlo rule needed (bootstrap.settle; `cap` as there)."""
    k = len(replicates)
    if claim.missing:
        return _row(claim_id, base, claim.statement, claim.claimed, claim.bound, NOT_MEASURED, claim.missing,
                    noise_covered(k), n_pairs=0, n_seeds=k)
    selected = [{key: replicate[key] for key in claim.keys} for replicate in replicates]
    intervals, verdict, used = bootstrap.settle(claim.statistic, selected, resamples, rng, claim.claimed,
                                                claim.bound, cap)
    effect = intervals["effect"]
    sizes = [n for (split, _), n in bootstrap.strata(selected[0]).items() if split == "test"]
    return _row(claim_id, base, claim.statement, claim.claimed, claim.bound, verdict, _numbers(intervals),
                noise_covered(k), effect=effect.estimate, ci_low=effect.low, ci_high=effect.high, n_pairs=sum(sizes),
                n_seeds=k, level=bootstrap.level_for(claim.claimed), detectable=(effect.high - effect.low) / 2,
                n_sources=len(sizes), se_pairs=effect.se_pairs, sd_seeds=effect.sd_seeds, resamples=used,
                mc_se_low=effect.mc_se_low, mc_se_high=effect.mc_se_high)


def _c7_verdict(pearson, n):
    """C7's verdict from its one-sided p-values; a p-value from sampled pairings within MC_MARGIN
    Monte Carlo errors of the level is left to no stream."""
    alpha = permutation.ALPHA
    if any(abs(p - alpha) < bootstrap.MC_MARGIN * permutation.mc_error(p, n)
           for p in (pearson["p_below"], pearson["p_above"])):
        return bootstrap.MC_INCONCLUSIVE
    return "holds" if pearson["p_below"] <= alpha else "fails" if pearson["p_above"] <= alpha else "inconclusive"


def c7_row(base, points, seed=0):
    """C7 from Fig. 7's points (one row per K-sweep RM with its `ece` and `win`; None when the
    base's K-sweep RMs align no policy): Pearson r with an exact one-sided permutation test on
    each side (more_lib.evaluate.permutation), `not testable` below the points the test needs to reach its
    level. `detectable` is the weakest negative r the test would call. Spearman's in the numbers."""
    def row(verdict, numbers, **values):
        return _row("C7", base, STATEMENT_C7, "below", 0.0, verdict, numbers,
                    "the K-sweep RMs' points (one training run each)", **values)

    if points is None:
        return row(NOT_MEASURED, "base not in alignment.ksweep.bases", n_pairs=0, n_seeds=0)
    x, y, n = points["ece"].to_numpy(np.float64), points["win"].to_numpy(np.float64), len(points)
    if n < permutation.MIN_POINTS:  # whatever the points, no test over so few can reach its level
        return row(NOT_TESTABLE, f"not testable: an exact permutation test over {n} points cannot reach "
                   f"p ≤ {permutation.ALPHA} on either side (its smallest p-value is {1 / math.factorial(n):.3f}); "
                   f"it needs at least {permutation.MIN_POINTS} points", n_pairs=n, n_seeds=1)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return row("inconclusive", f"Fig. 7's correlation is undefined over its {n} points (their ECE or win rate "
                   "does not vary)", n_pairs=n, n_seeds=1)
    tests = permutation.correlation_test(x, y, rng_for(seed, "claims", base, "C7"))
    pearson, spearman = tests["pearson"], tests["spearman"]
    exact = n <= permutation.EXACT_UP_TO
    orderings = math.factorial(n) if exact else permutation.SAMPLED
    numbers = (f"points={n} (RMs, not pairs); permutation test over {orderings} "
               f"{'orderings (exact)' if exact else 'sampled orderings'}: "
               f"p(r this low)={pearson['p_below']:.4f}, p(r this high)={pearson['p_above']:.4f}; "
               f"spearman={spearman['r']:.4f} (p low={spearman['p_below']:.4f}, p high={spearman['p_above']:.4f})")
    values = {"effect": pearson["r"], "n_pairs": n, "n_seeds": 1, "level": 1 - 2 * permutation.ALPHA,
              "detectable": abs(pearson["critical"]), "resamples": orderings}
    if pearson["smallest_p"] > permutation.ALPHA:
        return row(NOT_TESTABLE, f"not testable: an exact permutation test over {n} points cannot reach "
                   f"p ≤ {permutation.ALPHA} on either side (its smallest p-value is {pearson['smallest_p']:.3f}); "
                   f"it needs at least {permutation.MIN_POINTS} points with distinct values; {numbers}", **values)
    return row(_c7_verdict(pearson, n), numbers, **values)


def _claims(truth_sources, settings):
    return {**paper_claims(settings), **truth_claims(truth_sources, settings)}


def _judge_by_id(claim_id, base, truth_sources, settings, replicates, resamples, seed, cap):
    """judge() of one claim named by its id: a worker process rebuilds the claim (its statistic is a
    closure, which cannot be pickled) and draws from the claim's own stream."""
    claim = _claims(truth_sources, settings)[claim_id]
    return judge(claim_id, base, claim, replicates, resamples, rng_for(seed, "claims", base, claim_id), cap)


def claims_table(base, replicates, truth_sources, points, settings, resamples, seed, workers=1, cap=None):
    """Every claim's row for `base`, in the paper's order, C9's two effects last. `truth_sources`
    are the test sources whose records carry the truth (C9 is not measured without one); `points`
    are Fig. 7's (C7; None when the base aligns no K-sweep policy). Each claim draws its resamples
    from its own stream of `seed`, so adding a claim changes no other and the rows are the same
    whether `workers` processes judge the claims or one does. `cap`: bootstrap.settle's."""
    judged = _claims(truth_sources, settings)
    tasks = [(claim_id, base, truth_sources, settings, [{key: r[key] for key in claim.keys} for r in replicates],
              resamples, seed, cap) for claim_id, claim in judged.items()]
    if workers > 1:
        # spawn, not fork: the parent has reading threads (pyarrow) that a forked child would inherit mid-lock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_judge_by_id, *zip(*tasks)))
    else:
        rows = [_judge_by_id(*task) for task in tasks]
    rows.insert(list(judged).index("C8"), c7_row(base, points, seed))
    return pd.DataFrame(rows)
