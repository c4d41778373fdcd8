"""What the smoke world's pipeline shows about a run (the λ figure, the length-bias columns) and the
α ablation, `snakemake ablations`, run for real on the smoke world's copy."""

import numpy as np
import pandas as pd
import pytest
import yaml

from more_lib.ablations import momentum as ablations
from more_lib.core import names, progress
from more_lib.data import records as data
from more_lib.evaluate import length_bias
from tests.workflow_run import DEFAULT, SMOKE, job_counts, snakemake

SMOKE_CONFIG = yaml.safe_load(SMOKE.read_text())
ALPHAS = SMOKE_CONFIG["ablations"]["alpha"]
TABLE2_ALPHA = yaml.safe_load(DEFAULT.read_text())["reward"]["more"]["alpha"]
BASE, MORE = "tiny-s", names.more("all")


def test_length_bias_follows_the_word_difference_and_the_labels_true_rewards(tmp_path):
    pairs = [("a b c d", "a", 1.0), ("a b", "a b c", 0.2), ("a b c", "a b c", 0.0), ("a", "a b c d e", -2.0)]
    records = [{"id": str(i), "source": "s", "prompt": "p ", "chosen": y_w, "rejected": y_l,
                "meta": {"reward_chosen": r, "reward_rejected": 0.0, "shared_chosen": 0.0, "shared_rejected": r}}
               for i, (y_w, y_l, r) in enumerate(pairs)]
    data.write_records(records, tmp_path / "test.jsonl")
    lengths = length_bias.pair_lengths(tmp_path / "test.jsonl")
    assert lengths["length_diff"].tolist() == [3, -1, 0, -4]
    scores = pd.DataFrame({"id": ["3", "1", "0", "2"], "r_chosen": [-8.0, -2.0, 6.0, 0.0], "r_rejected": 0.0})
    bias = length_bias.columns(scores, lengths)  # d = 2 x the word difference, in any row order
    assert bias["length_corr"] == pytest.approx(1.0)
    assert bias["length_corr_source"] == pytest.approx(-bias["length_corr_shared"]) != 0
    unlabelled = lengths.assign(source_diff=np.nan, shared_diff=np.nan)  # the paper world: no meta
    assert np.isnan(length_bias.columns(scores, unlabelled)["length_corr_source"])


def test_lambda_stats_measure_spread_and_dropped_steps():
    log = pd.DataFrame({"step": [1, 2, 3, 4], "lambda_a": [0.5, 0.0, 1.0, 0.5], "lambda_b": [0.5, 1.0, 0.0, 0.5]})
    stats = ablations.lambda_stats(log).set_index("source")
    assert stats.loc["a", "mean"] == 0.5 and stats.loc["a", "dropped"] == 0.25
    assert stats.loc["a", "std"] == pytest.approx(np.std([0.5, 0.0, 1.0, 0.5], ddof=1))
    assert names.parse_alpha_variant(names.alpha_variant(0.5)) == 0.5


def test_the_pipeline_draws_the_lambda_figure_and_measures_length_bias(smoke_run):
    results = smoke_run.workdir / "results"
    for name in ("fig_lambda", "fig_length_bias"):
        assert (results / "figures" / BASE / f"{name}.png").stat().st_size > 0
    stats = (results / "logs" / "figures" / BASE / "fig_lambda.log").read_text()
    assert all(source in stats for source in SMOKE_CONFIG["mixes"]["all"])  # one summary line per source
    metrics = pd.read_csv(results / "metrics" / f"{BASE}.csv").set_index(["scheme", "test_source"])
    bias = metrics[["length_corr", "length_corr_source", "length_corr_shared"]]
    assert bias.loc[MORE].notna().all().all() and (bias.abs() <= 1).all().all()
    # Raw's untrained head sees the same pairs: its correlation is its own, not a copy of MORE's
    assert bias.loc[("raw", "summ"), "length_corr"] != bias.loc[(MORE, "summ"), "length_corr"]


def test_snakemake_ablations_trains_each_alpha_once_and_tabulates_them(smoke_run):
    snakemake(smoke_run.workdir, "ablations", "--configfile", DEFAULT, SMOKE, repo=smoke_run.repo)
    results = smoke_run.workdir / "results"
    table = pd.read_csv(results / "ablations" / f"{BASE}.csv")
    assert sorted(table["alpha"]) == sorted(ALPHAS)
    assert {"avg", "ece", "lambda_std", "lambda_dropped"} <= set(table.columns)
    assert (results / "ablations" / f"{BASE}.png").stat().st_size > 0
    # Table 2's α is Table 2's MORE RM, reused; every other α trained its own RM with that α
    table2 = pd.read_csv(results / "table2.csv").set_index(["base", "scheme"])
    reused = table.set_index("alpha").loc[TABLE2_ALPHA]
    assert np.isclose(reused["avg"], table2.loc[(BASE, MORE), "avg"])
    assert not (results / "ablations" / "rm" / BASE / MORE / names.alpha_variant(TABLE2_ALPHA)).exists()
    for alpha in set(ALPHAS) - {TABLE2_ALPHA}:
        folder = results / "ablations" / "rm" / BASE / MORE / names.alpha_variant(alpha)
        assert (folder / "model.safetensors").exists() and (folder / progress.EVENTS).is_dir()
        own = pd.read_csv(folder / progress.LOG).filter(like="lambda_")
        table2_run = pd.read_csv(results / "rm" / BASE / MORE / progress.LOG).filter(like="lambda_")
        # step 1 has no momentum yet, so both runs solve the same batch; from step 2 α weighs in
        np.testing.assert_allclose(own.iloc[0], table2_run.iloc[0], atol=1e-6)
        assert not np.allclose(own.iloc[1:], table2_run.iloc[1:])
    # the target is not part of `all`: a dry run of the default target schedules no ablation job
    _, output = snakemake(smoke_run.workdir, "--configfile", DEFAULT, SMOKE, "-n", repo=smoke_run.repo)
    scheduled = job_counts(output) if "Job stats:" in output else {}
    assert not {"train_rm_ablation", "score_rm_ablation", "ablations_table", "fig_ablations"} & set(scheduled)
