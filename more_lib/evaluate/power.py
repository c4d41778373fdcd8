"""What each claim's design can resolve: the test pairs per source and the seeds that would
resolve the paper's effect (results/benchmarks/power.csv), from the noise the claims measured.

A claim's interval at a design of n pairs per source and k seeds is modelled from what was measured
at (n0, k0): the pair part z·se_pairs·√(n0/n), the seed part t_{k−1}·sd_seeds/√k, combined as the
claims combine them (more_lib.evaluate.bootstrap). An effect δ is resolved when the interval excludes the
decision boundary with probability POWER at a true effect δ: half-width + z_POWER·se ≤ margin, the
margin being δ's distance from the boundary (for C2's equivalence, |tolerance − |δ||). Both
simplifications err towards asking for more: the seed-specific pair noise inside sd_seeds falls
with more pairs, and the pair noise of a k-seed mean falls with more seeds.

The paper's effect, where its tables give one, is that of the base's own model in the paper world,
else the smallest margin over its four models (a design that resolves it resolves each); where the
paper gives none, the effect measured here.
"""

import math

import numpy as np
import pandas as pd
from scipy import stats

from more_lib.evaluate import permutation

POWER = 0.8
PAPER_PAIRS = 2000  # pairs per source of the paper's test sets (Table 3: Summarize's 2,000; H&H's 2,300)
MAX_SEEDS = 100
MAX_PAIRS = 10_000_000

# Table 2 of the paper: average accuracy (%) and ECE of each scheme, by base model.
TABLE2 = {
    "pythia-1.4b": {"top": (65.51, 0.0362), "averaging": (54.86, 0.0543), "multitask": (62.38, 0.0541),
                    "more": (63.34, 0.0364)},
    "pythia-2.8b": {"top": (66.13, 0.0342), "averaging": (54.78, 0.0685), "multitask": (64.00, 0.0456),
                    "more": (64.01, 0.0366)},
    "llama-2-7b": {"top": (69.27, 0.0334), "averaging": (58.20, 0.0391), "multitask": (70.13, 0.0570),
                   "more": (70.32, 0.0458)},
    "llama-2-13b": {"top": (71.46, 0.0275), "averaging": (53.42, 0.0471), "multitask": (70.90, 0.0561),
                    "more": (70.32, 0.0502)},
}
# Each claim's effect from one model's Table 2 row, as claims.py defines it.
PAPER_EFFECTS = {
    "C2": lambda t: (t["multitask"][0] - t["top"][0]) / 100,
    "C3": lambda t: t["multitask"][1] - t["top"][1],
    "C4": lambda t: t["more"][1] - t["multitask"][1],
    "C8": lambda t: (t["averaging"][0] - min(t["top"][0], t["multitask"][0])) / 100,
}


def margin(effect, claimed, bound):
    """How far an effect lies from the verdict's boundary: what the interval's half-width must clear."""
    return abs(bound - abs(effect)) if claimed == "within" else abs(effect - bound)


def target(row):
    """(effect, where it comes from) the design should resolve for one claims.csv row."""
    if row.claim not in PAPER_EFFECTS:
        return row.effect, "measured here (the paper gives no number)"
    effects = {model: PAPER_EFFECTS[row.claim](table) for model, table in TABLE2.items()}
    model = row.base if row.base in effects else min(effects, key=lambda m: margin(effects[m], row.claimed, row.bound))
    return effects[model], f"paper Table 2, {model}"


def _standard_error(row, pairs, seeds):
    seed_var = 0.0 if np.isnan(row.sd_seeds) else row.sd_seeds ** 2 / seeds
    return math.sqrt(row.se_pairs ** 2 * row.pairs_per_source / pairs + seed_var)


def resolves(row, pairs, seeds, needed):
    """Whether `pairs` per source and `seeds` resolve a margin `needed` with probability POWER."""
    pair_half = stats.norm.ppf((1 + row.level) / 2) * row.se_pairs * math.sqrt(row.pairs_per_source / pairs)
    seed_half = 0.0 if np.isnan(row.sd_seeds) else stats.t.ppf((1 + row.level) / 2, seeds - 1) * row.sd_seeds / math.sqrt(seeds)
    return math.hypot(pair_half, seed_half) + stats.norm.ppf(POWER) * _standard_error(row, pairs, seeds) <= needed


def pairs_needed(row, seeds, needed):
    """The fewest pairs per source that resolve `needed` with `seeds` seeds (NaN: none up to MAX_PAIRS)."""
    if not resolves(row, MAX_PAIRS, seeds, needed):
        return np.nan
    low, high = 0, MAX_PAIRS  # resolves(high), not resolves(low)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if resolves(row, middle, seeds, needed) else (middle, high)
    return high


def seeds_needed(row, pairs, needed):
    """The fewest seeds (at least 2, to measure their spread) that resolve `needed` with `pairs` pairs
    per source (NaN: none up to MAX_SEEDS, or the seeds' spread is not measured)."""
    if np.isnan(row.sd_seeds):
        return np.nan
    return next((k for k in range(2, MAX_SEEDS + 1) if resolves(row, pairs, k, needed)), np.nan)


def _c7(row):
    return {"note": f"Fig. 7 gives no number; an exact permutation test needs at least {permutation.MIN_POINTS} RM "
                    f"points to reach its level (here {int(row.n_pairs)}); detectable = the weakest r it calls"}


def power_row(row):
    """One power.csv row for a measured claims.csv row."""
    base = {"base": row.base, "claim": row.claim, "claimed": row.claimed, "bound": row.bound, "level": row.level,
            "effect": row.effect, "detectable": row.detectable, "n_seeds": row.n_seeds}
    if row.claim == "C7":
        return {**base, **_c7(row)}
    effect, source = target(row)
    needed = margin(effect, row.claimed, row.bound)
    note = "" if row.n_seeds > 1 else "one seed: training noise not measured, so the pairs needed are a lower bound"
    return {**base, "pairs_per_source": row.pairs_per_source, "target_effect": effect, "target_source": source,
            "margin": needed, "pairs_per_source_needed": pairs_needed(row, int(row.n_seeds), needed),
            "seeds_needed": seeds_needed(row, row.pairs_per_source, needed),
            f"seeds_needed_at_{PAPER_PAIRS}_pairs": seeds_needed(row, PAPER_PAIRS, needed), "note": note}


def power_table(claims_table):
    """power.csv: a row per measured claim of claims.csv (not measured ones and C7 without points left out)."""
    measured = claims_table[~claims_table["verdict"].isin(["not measured"]) & claims_table["effect"].notna()]
    measured = measured.assign(pairs_per_source=measured["n_pairs"] / measured["n_sources"])
    return pd.DataFrame([power_row(row) for row in measured.itertuples()])
