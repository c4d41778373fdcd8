"""Intervals over test pairs and training seeds, the verdict they give, and the Monte Carlo rule
that keeps the verdict off the random stream.

The data of one comparison are arrays keyed (name, *stratum): a name is a scheme's reward
differences or a truth column, a stratum one test set (("test", source)) or one held-out set.
Arrays of one stratum hold the same pairs in the same order, so one draw of indices per stratum
resamples every scheme alike: the two sides of a difference see the same pairs (paired), and an
effect that pools test sources keeps each source's size (stratified).

Seeds: the data come as a list of replicates, one per training seed, each a complete set of the
schemes' arrays (the truth arrays are the same in all). The estimate is the mean over the seeds of
each seed's statistic. Two noises make it vary:
- the test pairs: a resample draws the pairs (the same indices for every seed, since every seed
  scores the same test set) and averages the seeds' statistics on them; the percentile interval of
  these draws is the pair interval;
- the training seeds: the spread s of the per-seed statistics, of which the mean carries s²/k.
With k ≥ 2 seeds the interval adds the two as Banerjee (1961) does for a sum of means with separate
variance estimates: each side's distance from the estimate is √(h² + (t·s/√k)²), h that side of the
pair interval and t Student's quantile on k − 1 degrees of freedom. It is conservative for every
ratio of the two noises (a Welch–Satterthwaite t undercovers where they are alike: at worst about
0.92 with three seeds, 0.87 with two) and exact at either end: the pair interval alone, or the t
interval of k seeds. tests/test_bootstrap.py prints its coverage with planted noises.
(Resampling whole seeds instead makes the seed part about the min–max of k values: 75 % coverage.)
With one seed the interval is the pair interval and training noise is not measured.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
# An equivalence claim ("within") holds when both one-sided tests reject at α = 0.05 (TOST): its
# interval is the 90 % one.
EQUIVALENCE_LEVEL = 0.90
MC_SHARE = 0.05  # a bound's Monte Carlo standard error must be under this share of the half-width
# A bound fewer than MC_MARGIN Monte Carlo standard errors from a decision boundary could cross it
# on another stream: it is re-estimated, and if still that close at the cap the verdict is
# MC_INCONCLUSIVE. Resampling goes on while a bound is within MC_RESAMPLE_MARGIN, so that a run
# does not stop early on the look that happened to land 2 standard errors out (each doubling is a
# look; at 2 on the boundary itself one look in twenty does).
MC_MARGIN = 2.0
MC_RESAMPLE_MARGIN = 3.0
GROWTH_CAP = 16  # resamples double up to this multiple of the configured number, then the rule gives up
MC_WINDOW = 3.0  # binomial standard deviations either side of a quantile's rank that its MC error reads
MC_INCONCLUSIVE = "inconclusive (Monte Carlo)"


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean over the seeds
    low: float
    high: float
    se_pairs: float  # standard deviation of the pair resamples: the test pairs' share of the noise
    sd_seeds: float  # standard deviation of the per-seed values (NaN with one seed)
    mc_se_low: float  # Monte Carlo standard error of each bound
    mc_se_high: float


def level_for(claimed):
    return EQUIVALENCE_LEVEL if claimed == "within" else LEVEL


def strata(replicate):
    """{stratum: number of pairs} of one replicate, checking that a stratum's arrays agree."""
    sizes = {}
    for key, values in replicate.items():
        stratum = key[1:]
        if sizes.setdefault(stratum, len(values)) != len(values):
            raise ValueError(f"stratum {stratum}: {key[0]} has {len(values)} pairs, others {sizes[stratum]}")
    return sizes


def _checked_sizes(replicates):
    if not replicates:
        raise ValueError("a bootstrap needs at least one replicate")
    sizes = strata(replicates[0])
    for replicate in replicates[1:]:
        if strata(replicate) != sizes or replicate.keys() != replicates[0].keys():
            raise ValueError("replicates must hold the same arrays with the same numbers of pairs")
    return sizes


def seed_values(statistic, replicates):
    """{name: array of the k seeds' values} of `statistic` ({key: array} -> {name: float})."""
    results = [statistic(replicate) for replicate in replicates]
    return {name: np.array([r[name] for r in results], dtype=np.float64) for name in results[0]}


def pair_draws(statistic, replicates, resamples, rng):
    """{name: array of `resamples` values}: the mean over the seeds of `statistic` on resampled
    pairs, one draw of indices per stratum shared by every seed and scheme."""
    sizes = _checked_sizes(replicates)
    draws = []
    for _ in range(resamples):
        index = {stratum: rng.integers(n, size=n) for stratum, n in sizes.items()}
        results = [statistic({key: values[index[key[1:]]] for key, values in replicate.items()})
                   for replicate in replicates]
        draws.append({name: np.mean([r[name] for r in results]) for name in results[0]})
    return {name: np.array([d[name] for d in draws], dtype=np.float64) for name in draws[0]}


def percentile(draws, level):
    """(low, high, MC se of low, MC se of high) of the percentile interval of `draws` (NaN draws,
    a statistic undefined on a resample, left out). A quantile's MC error is read from the order
    statistics MC_WINDOW binomial standard deviations either side of its rank (one would be
    twice as noisy; three reads slightly high in a tail, where the draws thin out)."""
    values = np.sort(draws[~np.isnan(draws)])
    n = values.size
    if n < 2:
        return np.nan, np.nan, np.nan, np.nan
    bounds, errors = [], []
    for p in ((1 - level) / 2, (1 + level) / 2):
        bounds.append(float(np.quantile(values, p)))
        spread = MC_WINDOW * np.sqrt(n * p * (1 - p))
        below, above = int(np.clip(np.floor(n * p - spread), 0, n - 1)), int(np.clip(np.ceil(n * p + spread), 0, n - 1))
        errors.append(float(values[above] - values[below]) / (2 * MC_WINDOW))
    return bounds[0], bounds[1], errors[0], errors[1]


def seed_half_width(per_seed, level):
    """t_{k−1}·s/√k over the last axis (0 with one seed): the seed part of the interval."""
    k = per_seed.shape[-1]
    if k < 2:
        return np.zeros(per_seed.shape[:-1])
    return stats.t.ppf((1 + level) / 2, k - 1) * per_seed.std(axis=-1, ddof=1) / np.sqrt(k)


def widen(estimate, pair_bound, seed_half, side):
    """One bound of the combined interval: the pair interval's bound on `side` (−1 low, +1 high)
    moved out so that its distance from the estimate becomes √(h² + seed_half²), h its distance
    from the estimate. Where the pair interval does not contain the estimate (the upward bias of a
    single binned ECE on resampled pairs), the bound moves out by the same increment √(h² + s²) − |h|."""
    h = side * (pair_bound - estimate)
    return pair_bound + side * (np.sqrt(h ** 2 + seed_half ** 2) - np.abs(h))


def interval(per_seed, draws, level):
    """The Interval of one named value from its per-seed values and its pair draws."""
    estimate = float(np.mean(per_seed))
    low, high, se_low, se_high = percentile(draws, level)
    seed_half = float(seed_half_width(per_seed, level))

    def mc_error(bound, se, side):  # the combined bound's change when the pair bound moves by its error
        return abs(widen(estimate, bound + se, seed_half, side) - widen(estimate, bound - se, seed_half, side)) / 2

    return Interval(estimate, float(widen(estimate, low, seed_half, -1)), float(widen(estimate, high, seed_half, 1)),
                    float(np.nanstd(draws)) if draws.size else np.nan,
                    float(per_seed.std(ddof=1)) if per_seed.size > 1 else np.nan,
                    float(mc_error(low, se_low, -1)), float(mc_error(high, se_high, 1)))


def verdict(low, high, claimed, bound):
    """`holds` when the interval lies entirely on the claimed side of the decision boundary, `fails`
    when entirely on the other side, `inconclusive` otherwise (an undefined interval included).

    claimed: "below" or "above" `bound`, or "within" ±`bound` (an equivalence claim: holds when the
    interval lies inside (−bound, bound), fails when it lies entirely outside)."""
    if np.isnan(low) or np.isnan(high):
        return "inconclusive"
    if claimed == "below":
        return "holds" if high < bound else "fails" if low > bound else "inconclusive"
    if claimed == "above":
        return "holds" if low > bound else "fails" if high < bound else "inconclusive"
    if claimed == "within":
        return "holds" if -bound < low and high < bound else "fails" if low > bound or high < -bound else "inconclusive"
    raise ValueError(f"claimed must be below, above or within, got {claimed!r}")


def edges(claimed, bound):
    """The decision boundaries a bound must not cross for the verdict to stay."""
    return [-bound, bound] if claimed == "within" else [bound]


def near_edge(effect, claimed, bound, margin=MC_MARGIN):
    """Whether a bound lies within `margin` Monte Carlo standard errors of a decision boundary:
    then another random stream could move it across and change the verdict."""
    return any(abs(value - edge) < margin * se for value, se in ((effect.low, effect.mc_se_low),
                                                                    (effect.high, effect.mc_se_high))
               for edge in edges(claimed, bound))


def settled(effect, claimed, bound):
    """Whether the effect's bounds are precise enough: MC error under MC_SHARE of the half-width
    and no bound near a boundary. An undefined interval is as settled as it will get."""
    if np.isnan(effect.low) or np.isnan(effect.high):
        return True
    half = (effect.high - effect.low) / 2
    return (max(effect.mc_se_low, effect.mc_se_high) <= MC_SHARE * half
            and not near_edge(effect, claimed, bound, MC_RESAMPLE_MARGIN))


def settle(statistic, replicates, resamples, rng, claimed, bound, cap=None):
    """({name: Interval}, verdict, resamples used): the pair draws double, continuing the same
    stream, until the effect's bounds are settled or `cap` resamples (GROWTH_CAP × `resamples` by
    default) are drawn; a bound still near a boundary then makes the verdict MC_INCONCLUSIVE."""
    cap = GROWTH_CAP * resamples if cap is None else cap
    level = level_for(claimed)
    per_seed = seed_values(statistic, replicates)
    draws = pair_draws(statistic, replicates, resamples, rng)
    while True:
        used = len(draws["effect"])
        intervals = {name: interval(per_seed[name], draws[name], level) for name in per_seed}
        effect = intervals["effect"]
        if settled(effect, claimed, bound) or used >= cap:
            break
        more = pair_draws(statistic, replicates, min(used, cap - used), rng)
        draws = {name: np.concatenate([draws[name], more[name]]) for name in draws}
    judged = MC_INCONCLUSIVE if near_edge(effect, claimed, bound) else verdict(effect.low, effect.high, claimed, bound)
    return intervals, judged, used
