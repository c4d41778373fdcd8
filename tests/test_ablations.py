"""What the smoke world's pipeline shows about a run (the λ figure, the length-bias columns) and the
α ablation, `snakemake ablations`, run for real on the smoke world's copy."""

import numpy as np
import pandas as pd
import yaml

from more_lib import names, progress
from tests.workflow_run import DEFAULT, SMOKE, snakemake

SMOKE_CONFIG = yaml.safe_load(SMOKE.read_text())
ALPHAS = SMOKE_CONFIG["ablations"]["alpha"]
TABLE2_ALPHA = yaml.safe_load(DEFAULT.read_text())["reward"]["more"]["alpha"]
BASE, MORE = "tiny-s", names.more("all")


def test_the_pipeline_draws_the_lambda_figure_and_measures_length_bias(smoke_run):
    results = smoke_run.workdir / "results"
    for name in ("fig_lambda", "fig_length_bias"):
        assert (results / "figures" / BASE / f"{name}.png").stat().st_size > 0
    stats = (results / "logs" / "figures" / BASE / "fig_lambda.log").read_text()
    assert all(source in stats for source in SMOKE_CONFIG["mixes"]["all"])  # one summary line per source
    metrics = pd.read_csv(results / "metrics" / f"{BASE}.csv").set_index(["scheme", "test_source"])
    bias = metrics[["length_corr", "length_corr_source", "length_corr_shared"]]
    assert bias.loc[MORE].notna().all().all() and (bias.abs() <= 1).all().all()
    # the synthetic labels carry each source's length drift: summ's annotators (drift -0.5) penalise
    # length, oasst1's (+0.25) reward it, whatever any RM learnt
    assert bias.loc[(MORE, "summ"), "length_corr_source"] < 0 < bias.loc[(MORE, "oasst1"), "length_corr_source"]
    # Raw's untrained head sees the same pairs: its correlation is its own, not a copy of MORE's
    assert bias.loc[("raw", "summ"), "length_corr"] != bias.loc[(MORE, "summ"), "length_corr"]


def test_snakemake_ablations_trains_each_alpha_once_and_tabulates_them(smoke_run):
    snakemake(smoke_run.workdir, "--configfile", DEFAULT, SMOKE, "ablations", repo=smoke_run.repo)
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
    assert "train_rm_ablation" not in output and "ablations_table" not in output
