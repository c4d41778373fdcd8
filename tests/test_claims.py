"""Claims as effects with intervals: the bootstrap, the verdict, and planted effects on records of
the real synthetic world scored by planted scorers."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from more_lib.core import names
from more_lib.core.seeding import rng_for
from more_lib.data import synthetic
from more_lib.evaluate import bootstrap, claims, permutation, power, truth, verdicts

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SOURCES = ["helpful", "harmless"]
# The K-sweep's two K share one mix here: only C6's plumbing is exercised (a slope of exactly 0).
SETTINGS = claims.Settings(sources=SOURCES, focus=SOURCES, mix="all", mix_sources=SOURCES, ksweep={2: "all", 3: "all"},
                           tolerance=0.02, ece_bins=10, ece_mode="mean", tie_credit=0.0, iqr_factor=1.5)
TRUTHS = {s: truth.truth_frame(synthetic.generate_split(s, dict(CONFIG["sources"][s], n_test=300),
                                                        CONFIG["synthetic"], 11, "test")) for s in SOURCES}


def frame(ids, d, rng):
    r_rejected = rng.normal(size=len(d))
    return pd.DataFrame({"id": list(ids), "r_chosen": r_rejected + d, "r_rejected": r_rejected})


def replicate(scorers, seed):
    """One replicate's arrays: every scheme of Table 2 (Raw aside) scores each test source with
    `scorers[kind](truth, beta, noise, own)`, kind = single (each single-source RM), multitask or
    more, `own` whether the scheme is the single-source RM of that source; the held-out pairs are
    scored like test pairs."""
    rng = np.random.default_rng(seed)
    schemes = {**{names.single(s): "single" for s in SOURCES}, "multitask-all": "multitask", "more-all": "more"}

    def scored(source):
        beta = CONFIG["sources"][source]["beta"]
        return {(scheme, source): frame(TRUTHS[source]["id"],
                                        scorers[kind](TRUTHS[source], beta, rng, scheme == names.single(source)), rng)
                for scheme, kind in schemes.items()}

    scores = {key: value for s in SOURCES for key, value in scored(s).items()}
    heldout = {key: value for key, value in scored(SOURCES[0]).items() if key[0] in ("multitask-all", "more-all")}
    heldout.update({(k[0], SOURCES[1]): v for k, v in heldout.items()})
    return claims.replicate_arrays(scores, heldout, TRUTHS, {s: TRUTHS[s]["id"] for s in SOURCES}, SOURCES)


def calibrated(t, beta, rng, own=False):
    """The source's own reward with noise: a good, roughly calibrated scorer."""
    return beta * t["delta_source"].to_numpy() + rng.normal(0.0, 0.5, len(t))


def mean(r):
    return {"effect": float(np.mean(r[("a", "test", "x")]))}


def test_verdict_reads_the_interval_against_the_boundary():
    assert bootstrap.verdict(-0.3, -0.1, "below", 0.0) == "holds"
    assert bootstrap.verdict(0.1, 0.3, "below", 0.0) == "fails"
    assert bootstrap.verdict(-0.1, 0.3, "below", 0.0) == "inconclusive"
    assert bootstrap.verdict(0.0, 0.3, "above", 0.0) == "inconclusive"  # touching the boundary is not beyond it
    assert bootstrap.verdict(0.1, 0.3, "above", 0.0) == "holds"
    assert bootstrap.verdict(-0.01, 0.015, "within", 0.02) == "holds"
    assert bootstrap.verdict(0.03, 0.05, "within", 0.02) == "fails"
    assert bootstrap.verdict(0.01, 0.05, "within", 0.02) == "inconclusive"
    assert bootstrap.verdict(np.nan, np.nan, "below", 0.0) == "inconclusive"


def test_pair_bootstrap_pairs_the_sides_and_is_deterministic():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    data = [{("a", "test", "x"): a, ("b", "test", "x"): a + 0.01}]
    diff, verdict, used = bootstrap.settle(
        lambda r: {"effect": float(np.mean(r[("b", "test", "x")] - r[("a", "test", "x")]))}, data, 200,
        np.random.default_rng(1), "above", 0.0)
    # Paired: the same pairs on both sides, so the constant shift has no sampling noise at all.
    effect = diff["effect"]
    assert (effect.estimate, effect.low, effect.high) == pytest.approx((0.01, 0.01, 0.01))
    assert verdict == "holds" and used == 200
    one = bootstrap.settle(mean, data, 2000, np.random.default_rng(2), "above", 0.0)
    assert one == bootstrap.settle(mean, data, 2000, np.random.default_rng(2), "above", 0.0)
    effect = one[0]["effect"]
    assert effect.low < effect.estimate < effect.high
    assert effect.high - effect.low == pytest.approx(2 * 1.96 / np.sqrt(200), rel=0.25)
    with pytest.raises(ValueError, match="stratum"):
        bootstrap.pair_draws(mean, [{("a", "test", "x"): a, ("b", "test", "x"): a[:-1]}], 10, rng)


def test_seeds_add_a_t_interval_on_k_minus_1_degrees_of_freedom():
    """Seeds whose effects differ but whose pairs carry no noise: the interval is exactly the t
    interval of the per-seed effects. Two seeds a shift of 1 apart on noisy pairs: the estimate is
    their mean and the interval covers both, far wider than one seed's pair interval."""
    constant = [{("a", "test", "x"): np.full(50, value)} for value in (0.0, 0.3, 0.6)]
    effect = bootstrap.settle(mean, constant, 200, np.random.default_rng(3), "above", 0.0)[0]["effect"]
    half = stats.t.ppf(0.975, 2) * 0.3 / np.sqrt(3)
    assert (effect.low, effect.high) == pytest.approx((0.3 - half, 0.3 + half)) and effect.sd_seeds == pytest.approx(0.3)
    assert effect.se_pairs == pytest.approx(0, abs=1e-12) and effect.mc_se_low == pytest.approx(0, abs=1e-12)
    a = np.random.default_rng(0).normal(size=300)
    replicates = [{("a", "test", "x"): a}, {("a", "test", "x"): a + 1.0}]
    two = bootstrap.settle(mean, replicates, 400, np.random.default_rng(3), "above", 0.0)[0]["effect"]
    one = bootstrap.settle(mean, replicates[:1], 400, np.random.default_rng(3), "above", 0.0)[0]["effect"]
    assert two.estimate == pytest.approx(a.mean() + 0.5)
    assert two.low < a.mean() and two.high > a.mean() + 1 and two.high - two.low > 3 * (one.high - one.low)


def test_identically_distributed_schemes_are_mostly_inconclusive():
    """MORE and MultiTask scores drawn from one distribution: C4's 95% interval should cross zero in
    about 95 of 100 independent draws; a verdict either way is the 5% false-positive rate. (A plain
    bootstrap of 200 resamples, cap=200: the interval's rate is the point, not the MC rule's.)"""
    claim = claims.c4_more_ece_below_multitask(SETTINGS)
    outcomes = [verdicts.judge("C4", "b", claim, [replicate({"single": calibrated, "multitask": calibrated,
                                                           "more": calibrated}, draw)], 200,
                             rng_for(0, "test", draw), cap=200)["verdict"] for draw in range(100)]
    rate = sum(verdict.startswith("inconclusive") for verdict in outcomes) / len(outcomes)
    print(f"identically distributed MORE and MultiTask: inconclusive in {rate:.0%} of 100 draws")
    assert rate >= 0.85


def test_rewards_times_three_make_ece_higher_and_the_claims_read_it():
    """MultiTask = the single-source RMs' own rewards x 3: overconfident, so its ECE is above Top's
    (C3 holds); MORE = MultiTask x 3 is above MultiTask's (C4 fails); the same accuracy (C2 holds)."""
    data = [replicate({"single": calibrated,
                       "multitask": lambda t, b, rng, own: 3 * calibrated(t, b, np.random.default_rng(5)),
                       "more": lambda t, b, rng, own: 9 * calibrated(t, b, np.random.default_rng(5))}, 0)]
    # The singles draw their own noise; MultiTask and MORE share one draw, so they rank pairs alike.
    c3 = verdicts.judge("C3", "b", claims.c3_multitask_ece_above_top(SETTINGS), data, 500, rng_for(0, "C3"))
    assert c3["verdict"] == "holds" and c3["ci_low"] > 0 and c3["n_pairs"] == 600 and c3["n_seeds"] == 1
    assert c3["noise"] == "test pairs only: training noise not measured (one seed)"
    c4 = verdicts.judge("C4", "b", claims.c4_more_ece_below_multitask(SETTINGS), data, 500, rng_for(0, "C4"))
    assert c4["verdict"] == "fails" and c4["ci_low"] > 0
    assert "accuracy_gap=0.0000 [0.0000, 0.0000]" in c4["numbers"]
    # Temperature scaling undoes a pure scale: MORE and MultiTask are then the same scorer.
    ts = verdicts.judge("C4-ts", "b", claims.c4_after_temperature_scaling(SETTINGS), data, 200, rng_for(0, "ts"))
    assert abs(ts["effect"]) < 1e-6 and ts["verdict"].startswith("inconclusive") and ts["n_pairs"] == 600


def test_claims_table_plants_shared_reward_tracking_and_scale():
    """MORE scores the shared reward, MultiTask the source's own: C9's fidelity holds; every claim has
    a row, an interval around its effect and a verdict consistent with the interval."""
    def shared(t, beta, rng, own):
        return beta * t["delta_shared"].to_numpy() + rng.normal(0.0, 0.3, len(t))

    data = [replicate({"single": calibrated, "multitask": calibrated, "more": shared}, seed) for seed in (0, 1)]
    table = verdicts.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7, cap=400).set_index("claim")
    assert list(table.index) == ["C1", "C2", "C3", "C4", "C4-ts", "C5", "C6", "C7", "C8", "C9-fidelity",
                                 "C9-calibration"]
    assert table.loc["C9-fidelity", "verdict"] == "holds" and table.loc["C9-fidelity", "n_seeds"] == 2
    assert table.loc["C9-fidelity", "noise"] == "test pairs and 2 training seeds"
    assert table.loc["C7", "verdict"] == "not measured"
    assert list(table.reset_index().columns) == ["claim", "base", "statement", "effect", "ci_low", "ci_high", "n_pairs",
                                                 "n_seeds", "noise", "verdict", "claimed", "bound", "numbers",
                                                 *verdicts.DESIGN]
    measured = table.drop(index="C7")
    assert (measured["ci_low"] <= measured["effect"] + 1e-12).all() and (measured["effect"] <= measured["ci_high"] + 1e-12).all()
    for row in measured.itertuples():
        assert row.verdict in (bootstrap.verdict(row.ci_low, row.ci_high, row.claimed, row.bound),
                               bootstrap.MC_INCONCLUSIVE), row.Index
    # C2, an equivalence, is read at 90 % (two one-sided tests at 5 %); the power column is the half-width
    assert measured["level"].to_dict() == {c: 0.90 if c == "C2" else 0.95 for c in measured.index}
    assert np.allclose(measured["detectable"], (measured["ci_high"] - measured["ci_low"]) / 2)
    assert (measured["n_sources"] == 2).all() and (measured["sd_seeds"] >= 0).all() and (measured["resamples"] >= 200).all()
    assert (measured["mc_se_low"] < 0.2 * measured["detectable"]).all()
    # the same rows again, and the same rows from two worker processes (each claim has its own stream)
    assert verdicts.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7, cap=400).equals(table.reset_index())
    assert verdicts.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7, workers=2, cap=400).equals(
        table.reset_index())
    assert verdicts.claims_table("b", data, [], None, SETTINGS, 20, seed=7).set_index("claim").loc[
        "C9-calibration", "verdict"] == "not measured"


def test_c1_reads_the_smallest_drop():
    def own_source_only(t, beta, rng, own):  # a single-source RM that knows nothing of other sources
        return calibrated(t, beta, rng) if own else rng.normal(size=len(t))

    def helpful_everywhere(t, beta, rng, own):  # single-helpful is as good off its source as on it
        return calibrated(t, beta, rng) if own or t is TRUTHS["harmless"] else rng.normal(size=len(t))

    claim = claims.c1_off_source_drop(SETTINGS)
    drops = verdicts.judge("C1", "b", claim, [replicate({"single": own_source_only, "multitask": calibrated,
                                                       "more": calibrated}, 0)], 300, rng_for(0, "C1"))
    assert drops["verdict"] == "holds" and drops["ci_low"] > 0.15  # chance (0.5) off the source, ~0.75 on it
    one_holds_up = verdicts.judge("C1", "b", claim, [replicate({"single": helpful_everywhere, "multitask": calibrated,
                                                              "more": calibrated}, 0)], 300, rng_for(0, "C1"))
    assert one_holds_up["verdict"] != "holds" and one_holds_up["ci_low"] < 0 < one_holds_up["ci_high"] + 0.05
    assert "drop_harmless=" in one_holds_up["numbers"]


def points(ece, win):
    return pd.DataFrame({"ece": ece, "win": win})


def test_c7_is_an_exact_permutation_test_and_not_testable_below_five_points():
    x = np.arange(8.0)
    falling = verdicts.c7_row("b", points(x, -x))
    assert falling["verdict"] == "holds" and falling["effect"] == pytest.approx(-1.0) and falling["n_pairs"] == 8
    assert "p(r this low)=0.0000" in falling["numbers"] and "40320 orderings (exact)" in falling["numbers"]
    assert "spearman=-1.0000" in falling["numbers"] and np.isnan(falling["ci_low"])
    assert verdicts.c7_row("b", points(x, 2 * x + np.sin(x)))["verdict"] == "fails"  # higher ECE, higher win rate
    assert verdicts.c7_row("b", points(x, np.sin(3 * x)))["verdict"] == "inconclusive"
    # five points in perfect order: p = 1/5! = 0.0083, the smallest p-value five points can give
    five = verdicts.c7_row("b", points(x[:5], -x[:5]))
    assert five["verdict"] == "holds" and "p(r this low)=0.0083" in five["numbers"] and 0 < five["detectable"] < 1
    four = verdicts.c7_row("b", points(x[:4], -x[:4]))
    assert four["verdict"] == verdicts.NOT_TESTABLE and "smallest p-value is 0.042" in four["numbers"]
    assert f"at least {permutation.MIN_POINTS} points" in four["numbers"] and permutation.MIN_POINTS == 5
    assert verdicts.c7_row("b", points(x[:5], [1.0, 1.0, 0.0, 0.0, 0.0]))["verdict"] == verdicts.NOT_TESTABLE  # ties
    flat = verdicts.c7_row("b", points(x, np.ones(8)))
    assert flat["verdict"] == "inconclusive" and "undefined" in flat["numbers"]
    assert verdicts.c7_row("b", None)["verdict"] == "not measured"
    # beyond EXACT_UP_TO points the pairings are sampled, from the claim's own stream
    many = verdicts.c7_row("b", points(np.arange(12.0), -np.arange(12.0) + np.sin(np.arange(12.0))), seed=3)
    assert many["verdict"] == "holds" and "sampled orderings" in many["numbers"]
    assert many == verdicts.c7_row("b", points(np.arange(12.0), -np.arange(12.0) + np.sin(np.arange(12.0))), seed=3)


def claims_row(claim, base="b", **values):
    row = {"claim": claim, "base": base, "claimed": "above", "bound": 0.0, "level": 0.95, "effect": 0.01,
           "detectable": np.nan, "n_pairs": 1000, "n_sources": 2, "n_seeds": 1, "se_pairs": 0.01, "sd_seeds": np.nan,
           "verdict": "inconclusive"}
    return {**row, **values}


def test_power_asks_for_the_pairs_and_seeds_that_resolve_the_papers_effect():
    """Pair noise alone: the pairs per source needed are n0·((z_0.975 + z_0.8)·se / margin)²; seed
    noise alone: the fewest k with (t_{k−1} + z_0.8)·sd/√k under the margin. The paper's effect is the
    base's own model's where it is a paper base, else the smallest margin over the four models."""
    table = pd.DataFrame([claims_row("C5", effect=0.01), claims_row("C3"), claims_row("C3", base="llama-2-7b"),
                          claims_row("C9-calibration", claimed="below", effect=-0.02, n_seeds=3, se_pairs=1e-9,
                                     sd_seeds=0.02),
                          claims_row("C2", claimed="within", bound=0.02, level=0.90),
                          claims_row("C6", verdict="not measured", effect=np.nan)])
    rows = power.power_table(table).set_index(["claim", "base"])
    c5 = rows.loc[("C5", "b")]
    factor = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.01 / 0.01
    assert c5["pairs_per_source_needed"] == int(np.ceil(500 * factor ** 2))
    assert c5["target_source"].startswith("measured here") and np.isnan(c5["seeds_needed"])
    assert rows.loc[("C3", "b"), "target_effect"] == pytest.approx(0.0456 - 0.0342)  # Pythia-2.8B's, the smallest
    assert rows.loc[("C3", "llama-2-7b"), "target_effect"] == pytest.approx(0.0570 - 0.0334)
    c9 = rows.loc[("C9-calibration", "b")]
    k = c9["seeds_needed"]
    assert (stats.t.ppf(0.975, k - 1) + stats.norm.ppf(0.8)) * 0.02 / np.sqrt(k) <= 0.02
    assert (stats.t.ppf(0.975, k - 2) + stats.norm.ppf(0.8)) * 0.02 / np.sqrt(k - 1) > 0.02
    assert np.isnan(c9["pairs_per_source_needed"])  # three seeds cannot resolve it, whatever the pairs
    # C2: the paper's gaps (−0.031, −0.021, +0.009, −0.006) lie 0.011, 0.001, 0.011, 0.014 from ±0.02
    assert rows.loc[("C2", "b"), "margin"] == pytest.approx(0.0213 - 0.02)
    assert rows.loc[("C2", "b"), "target_source"] == "paper Table 2, pythia-2.8b"
    assert ("C6", "b") not in rows.index


def test_forest_plot_draws_one_base_and_names_a_missing_one(tmp_path):
    data = [replicate({"single": calibrated, "multitask": calibrated, "more": calibrated}, 0)]
    verdicts.claims_table("b", data, SOURCES, None, SETTINGS, 50, seed=7).to_csv(tmp_path / "claims.csv", index=False)
    figure = [tmp_path / "forest.png", tmp_path / "forest.pdf"]
    script = [sys.executable, str(REPO / "scripts" / "figures" / "fig_claims.py"), "--claims", str(tmp_path / "claims.csv")]
    done = subprocess.run([*script, "--base", "b", "--output", *map(str, figure)], check=False, capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert figure[0].read_bytes().startswith(b"\x89PNG") and figure[0].stat().st_size > 10_000
    assert figure[1].read_bytes().startswith(b"%PDF")
    missing = subprocess.run([*script, "--base", "other", "--output", str(tmp_path / "x.png")], check=False,
                             capture_output=True, text=True, cwd=REPO, timeout=300)
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: {tmp_path / 'claims.csv'}: no claim of base other"
