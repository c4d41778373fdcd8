"""Claims as effects with intervals: the bootstrap, the verdict, and planted effects on records of
the real synthetic world scored by planted scorers."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from more_lib import bootstrap, claims, names, synthetic, truth
from more_lib.seeding import rng_for

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


def test_paired_bootstrap_pairs_the_sides_and_is_deterministic():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    data = [{("a", "test", "x"): a, ("b", "test", "x"): a + 0.01}]
    diff = bootstrap.paired_bootstrap(lambda r: {"effect": float(np.mean(r[("b", "test", "x")] - r[("a", "test", "x")]))},
                                      data, 200, np.random.default_rng(1))
    # Paired: the same pairs on both sides, so the constant shift has no sampling noise at all.
    assert diff["effect"] == pytest.approx((0.01, 0.01, 0.01))
    one = bootstrap.paired_bootstrap(mean, data, 300, np.random.default_rng(2))
    assert one == bootstrap.paired_bootstrap(mean, data, 300, np.random.default_rng(2))
    est, low, high = one["effect"]
    assert low < est < high and high - low == pytest.approx(2 * 1.96 / np.sqrt(200), rel=0.25)
    with pytest.raises(ValueError, match="stratum"):
        bootstrap.paired_bootstrap(mean, [{("a", "test", "x"): a, ("b", "test", "x"): a[:-1]}], 10, rng)


def test_seeds_widen_the_interval_by_their_spread():
    """Two replicates whose effects differ by a seed-level shift: the estimate is their mean and the
    interval covers both, wider than either replicate's pair-only interval."""
    a = np.random.default_rng(0).normal(size=300)
    replicates = [{("a", "test", "x"): a}, {("a", "test", "x"): a + 1.0}]
    est, low, high = bootstrap.paired_bootstrap(mean, replicates, 400, np.random.default_rng(3))["effect"]
    _, low1, high1 = bootstrap.paired_bootstrap(mean, replicates[:1], 400, np.random.default_rng(3))["effect"]
    assert est == pytest.approx(a.mean() + 0.5)
    assert low < a.mean() + 0.1 and high > a.mean() + 0.9 and high - low > 3 * (high1 - low1)


def test_identically_distributed_schemes_are_mostly_inconclusive():
    """MORE and MultiTask scores drawn from one distribution: C4's 95% interval should cross zero in
    about 95 of 100 independent draws; a verdict either way is the 5% false-positive rate."""
    claim = claims.c4_more_ece_below_multitask(SETTINGS)
    verdicts = [claims.judge("C4", "b", claim, [replicate({"single": calibrated, "multitask": calibrated,
                                                           "more": calibrated}, draw)], 200,
                             rng_for(0, "test", draw))["verdict"] for draw in range(100)]
    rate = verdicts.count("inconclusive") / len(verdicts)
    print(f"identically distributed MORE and MultiTask: inconclusive in {rate:.0%} of 100 draws")
    assert rate >= 0.85


def test_rewards_times_three_make_ece_higher_and_the_claims_read_it():
    """MultiTask = the single-source RMs' own rewards x 3: overconfident, so its ECE is above Top's
    (C3 holds); MORE = MultiTask x 3 is above MultiTask's (C4 fails); the same accuracy (C2 holds)."""
    data = [replicate({"single": calibrated,
                       "multitask": lambda t, b, rng, own: 3 * calibrated(t, b, np.random.default_rng(5)),
                       "more": lambda t, b, rng, own: 9 * calibrated(t, b, np.random.default_rng(5))}, 0)]
    # The singles draw their own noise; MultiTask and MORE share one draw, so they rank pairs alike.
    c3 = claims.judge("C3", "b", claims.c3_multitask_ece_above_top(SETTINGS), data, 500, rng_for(0, "C3"))
    assert c3["verdict"] == "holds" and c3["ci_low"] > 0 and c3["n_pairs"] == 600 and c3["n_seeds"] == 1
    assert c3["noise"] == "test pairs only: training noise not measured (one seed)"
    c4 = claims.judge("C4", "b", claims.c4_more_ece_below_multitask(SETTINGS), data, 500, rng_for(0, "C4"))
    assert c4["verdict"] == "fails" and c4["ci_low"] > 0
    assert "accuracy_gap=0.0000 [0.0000, 0.0000]" in c4["numbers"]
    # Temperature scaling undoes a pure scale: MORE and MultiTask are then the same scorer.
    ts = claims.judge("C4-ts", "b", claims.c4_after_temperature_scaling(SETTINGS), data, 200, rng_for(0, "ts"))
    assert abs(ts["effect"]) < 1e-6 and ts["verdict"] == "inconclusive" and ts["n_pairs"] == 600


def test_claims_table_plants_shared_reward_tracking_and_scale():
    """MORE scores the shared reward, MultiTask the source's own: C9's fidelity holds; every claim has
    a row, an interval around its effect and a verdict consistent with the interval."""
    def shared(t, beta, rng, own):
        return beta * t["delta_shared"].to_numpy() + rng.normal(0.0, 0.3, len(t))

    data = [replicate({"single": calibrated, "multitask": calibrated, "more": shared}, seed) for seed in (0, 1)]
    table = claims.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7).set_index("claim")
    assert list(table.index) == ["C1", "C2", "C3", "C4", "C4-ts", "C5", "C6", "C7", "C8", "C9-fidelity",
                                 "C9-calibration"]
    assert table.loc["C9-fidelity", "verdict"] == "holds" and table.loc["C9-fidelity", "n_seeds"] == 2
    assert table.loc["C9-fidelity", "noise"] == "test pairs and 2 training seeds"
    assert table.loc["C7", "verdict"] == "not measured"
    measured = table.drop(index="C7")
    assert (measured["ci_low"] <= measured["effect"] + 1e-12).all() and (measured["effect"] <= measured["ci_high"] + 1e-12).all()
    for row in measured.itertuples():
        assert row.verdict == bootstrap.verdict(row.ci_low, row.ci_high, row.claimed, row.bound), row.Index
    # the same rows again, and the same rows from two worker processes (each claim has its own stream)
    assert claims.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7).equals(table.reset_index())
    assert claims.claims_table("b", data, SOURCES, None, SETTINGS, 200, seed=7, workers=2).equals(table.reset_index())
    assert claims.claims_table("b", data, [], None, SETTINGS, 20, seed=7).set_index("claim").loc[
        "C9-calibration", "verdict"] == "not measured"


def test_c1_reads_the_smallest_drop():
    def own_source_only(t, beta, rng, own):  # a single-source RM that knows nothing of other sources
        return calibrated(t, beta, rng) if own else rng.normal(size=len(t))

    def helpful_everywhere(t, beta, rng, own):  # single-helpful is as good off its source as on it
        return calibrated(t, beta, rng) if own or t is TRUTHS["harmless"] else rng.normal(size=len(t))

    claim = claims.c1_off_source_drop(SETTINGS)
    drops = claims.judge("C1", "b", claim, [replicate({"single": own_source_only, "multitask": calibrated,
                                                       "more": calibrated}, 0)], 300, rng_for(0, "C1"))
    assert drops["verdict"] == "holds" and drops["ci_low"] > 0.15  # chance (0.5) off the source, ~0.75 on it
    one_holds_up = claims.judge("C1", "b", claim, [replicate({"single": helpful_everywhere, "multitask": calibrated,
                                                              "more": calibrated}, 0)], 300, rng_for(0, "C1"))
    assert one_holds_up["verdict"] != "holds" and one_holds_up["ci_low"] < 0 < one_holds_up["ci_high"] + 0.05
    assert "drop_harmless=" in one_holds_up["numbers"]


def test_forest_plot_draws_one_base_and_names_a_missing_one(tmp_path):
    data = [replicate({"single": calibrated, "multitask": calibrated, "more": calibrated}, 0)]
    claims.claims_table("b", data, SOURCES, None, SETTINGS, 50, seed=7).to_csv(tmp_path / "claims.csv", index=False)
    figure = [tmp_path / "forest.png", tmp_path / "forest.pdf"]
    script = [sys.executable, str(REPO / "scripts" / "fig_claims.py"), "--claims", str(tmp_path / "claims.csv")]
    done = subprocess.run([*script, "--base", "b", "--output", *map(str, figure)], check=False, capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert figure[0].read_bytes().startswith(b"\x89PNG") and figure[0].stat().st_size > 10_000
    assert figure[1].read_bytes().startswith(b"%PDF")
    missing = subprocess.run([*script, "--base", "other", "--output", str(tmp_path / "x.png")], check=False,
                             capture_output=True, text=True, cwd=REPO, timeout=300)
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: {tmp_path / 'claims.csv'}: no claim of base other"
