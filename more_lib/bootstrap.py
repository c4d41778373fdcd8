"""Paired, stratified bootstrap over test pairs (and over training seeds) and the verdict it gives.

The data of one comparison are arrays keyed (name, *stratum): a name is a scheme's reward
differences or a truth column, a stratum one test set (("test", source)) or one held-out set.
Arrays of one stratum hold the same pairs in the same order, so one draw of indices per stratum
resamples every scheme alike: the two sides of a difference see the same pairs (paired), and an
effect that pools test sources keeps each source's size (stratified).

Seeds: the data come as a list of replicates, one per training seed, each a complete set of the
schemes' arrays (the truth arrays are the same in all). A resample draws the replicates with
replacement, evaluates the statistic of each drawn replicate on the same resampled pairs and
averages; the estimate is the mean over the replicates. With one replicate this is the pair
bootstrap alone. Whole replicates are drawn, never one scheme's seed apart from another's, so
schemes trained with one seed stay together whatever their runs share.
"""

import numpy as np

LEVEL = 0.95


def strata(replicate):
    """{stratum: number of pairs} of one replicate, checking that a stratum's arrays agree."""
    sizes = {}
    for key, values in replicate.items():
        stratum = key[1:]
        if sizes.setdefault(stratum, len(values)) != len(values):
            raise ValueError(f"stratum {stratum}: {key[0]} has {len(values)} pairs, others {sizes[stratum]}")
    return sizes


def _mean(results):
    """The mean of each named value over a list of {name: value}."""
    return {name: float(np.mean([r[name] for r in results])) for name in results[0]}


def paired_bootstrap(statistic, replicates, resamples, rng, level=LEVEL):
    """{name: (estimate, low, high)} for every value `statistic` ({key: array} -> {name: float})
    returns: the mean over `replicates` and a percentile interval at `level` from `resamples`
    paired, stratified resamples of the pairs and of the replicates. A resample whose statistic is
    undefined (NaN, e.g. a correlation of a constant) is left out of the interval."""
    if not replicates:
        raise ValueError("a bootstrap needs at least one replicate")
    sizes = strata(replicates[0])
    for replicate in replicates[1:]:
        if strata(replicate) != sizes or replicate.keys() != replicates[0].keys():
            raise ValueError("replicates must hold the same arrays with the same numbers of pairs")
    estimate = _mean([statistic(replicate) for replicate in replicates])
    draws = {name: [] for name in estimate}
    for _ in range(resamples):
        index = {stratum: rng.integers(n, size=n) for stratum, n in sizes.items()}
        drawn = rng.integers(len(replicates), size=len(replicates))
        result = _mean([statistic({key: values[index[key[1:]]] for key, values in replicates[i].items()})
                        for i in drawn])
        for name, value in result.items():
            draws[name].append(value)
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    intervals = {}
    for name, values in draws.items():
        values = np.asarray(values)
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, tails) if values.size else (np.nan, np.nan)
        intervals[name] = (estimate[name], float(low), float(high))
    return intervals


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
