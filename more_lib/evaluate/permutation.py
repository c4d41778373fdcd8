"""An exact permutation test of a correlation over few points: claim C7, Fig. 7's K-sweep RMs.

Under the null hypothesis that win rate does not depend on ECE, every pairing of the points' win
rates with their ECEs is equally likely, so the one-sided p-value of an observed Pearson r is the
share of the n! pairings whose r is at least as extreme. A bootstrap over 4 points cannot do this:
a third of its resamples hold two distinct points (r = ±1), so [−1, 1] is built into its interval.

Each side is tested at ALPHA = 0.025, the share a 95 % interval leaves on each side, as every other
claim is read. The smallest p-value n points can give is 1/n! (distinct values; ties give more), so
the test can reach its level only from MIN_POINTS = 5 points (1/4! = 0.042 > 0.025 ≥ 1/5! = 0.008).
Up to EXACT_UP_TO points every pairing is enumerated; beyond, SAMPLED random ones are drawn and the
p-value is (1 + as extreme) / (1 + SAMPLED) (Phipson & Smyth 2010).
"""

import itertools
import math

import numpy as np
from scipy import stats

ALPHA = 0.025
EXACT_UP_TO = 9  # 9! = 362,880 pairings
SAMPLED = 100_000
MIN_POINTS = next(n for n in itertools.count(2) if 1 / math.factorial(n) <= ALPHA)


def pairings(n, rng):
    """Every ordering of n points (n ≤ EXACT_UP_TO), else SAMPLED random ones, as rows of indices."""
    if n <= EXACT_UP_TO:
        return np.array(list(itertools.permutations(range(n))), dtype=np.int8)
    return rng.permuted(np.tile(np.arange(n), (SAMPLED, 1)), axis=1)


def _null(x, y, orders):
    """Pearson r of x with y reordered by each row of `orders`."""
    x, y = x - x.mean(), y - y.mean()
    return (y[orders] @ x) / np.sqrt((x @ x) * (y @ y))


def one_sided(x, y, orders):
    """{r, p_below, p_above, smallest_p, critical}: the observed r, its one-sided p-values (r this
    low, r this high), the smallest p-value either side can reach, and the r at the edge of the
    lower rejection region (the weakest negative r the test detects; NaN if it has none)."""
    r = float(_null(x, y, np.arange(len(x))[None, :])[0])
    null = np.sort(_null(x, y, orders))
    tie = 1e-12  # equal correlations computed along different paths
    if len(x) <= EXACT_UP_TO:
        def p_value(count):
            return count / null.size
    else:
        def p_value(count):
            return (1 + count) / (1 + null.size)
    below, above = np.count_nonzero(null <= r + tie), np.count_nonzero(null >= r - tie)
    smallest = min(p_value(np.count_nonzero(null <= null[0] + tie)), p_value(np.count_nonzero(null >= null[-1] - tie)))
    rejecting = int(np.floor(ALPHA * null.size))
    return {"r": r, "p_below": p_value(below), "p_above": p_value(above), "smallest_p": smallest,
            "critical": float(null[rejecting - 1]) if rejecting else np.nan}


def correlation_test(x, y, rng):
    """Pearson's and Spearman's one_sided() tests of paired points (Spearman's is Pearson's on ranks)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    orders = pairings(len(x), rng)
    return {"pearson": one_sided(x, y, orders),
            "spearman": one_sided(stats.rankdata(x), stats.rankdata(y), orders)}


def mc_error(p, n):
    """The Monte Carlo standard error of a p-value from n sampled pairings (0 when enumerated)."""
    return 0.0 if n <= EXACT_UP_TO else math.sqrt(p * (1 - p) / SAMPLED)
