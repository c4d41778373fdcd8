"""Pretrained tiny bases and seed replicates, on the smoke build (config/smoke.yaml: tiny-s is
pre-trained for one epoch and trained under one extra seed)."""

import pandas as pd
import torch
from safetensors.torch import load_file

from more_lib.core import names
from tests.workflow_run import SOURCES

BASE = "tiny-s"


def weights(folder):
    return load_file(next(folder.glob("*.safetensors")))


def test_every_rm_starts_from_the_pretrained_lm_and_raw_is_it_with_a_new_head(smoke_run):
    results = smoke_run.workdir / "results"
    lm, raw = weights(results / "lm" / BASE), weights(results / "rm" / BASE / "raw")
    backbone = [key for key in raw if key.startswith("gpt_neox.")]
    assert backbone and all(torch.equal(raw[key], lm[key]) for key in backbone)
    assert "score.weight" in raw and "score.weight" not in lm  # the head is the RM's own
    trained = weights(results / "rm" / BASE / names.more("all"))
    assert not torch.equal(trained["gpt_neox.embed_in.weight"], lm["gpt_neox.embed_in.weight"])  # then trained


def test_a_replicate_changes_the_head_and_the_batch_order_never_the_data(smoke_run):
    results = smoke_run.workdir / "results"
    primary, replicate = results / "rm" / BASE, results / "seed1" / "rm" / BASE
    assert not torch.equal(weights(primary / "raw")["score.weight"], weights(replicate / "raw")["score.weight"])
    for scheme in [*names.singles(SOURCES), names.multitask("all"), names.more("all"), names.more("k2")]:
        assert (replicate / scheme / "config.json").exists(), scheme
        assert (results / "seed1" / "scores" / BASE / scheme / "helpful.parquet").exists(), scheme
    # the same pairs, in another order: the first step's loss differs, the number of steps does not
    first, second = (pd.read_csv(folder / names.more("all") / "train_log.csv") for folder in (primary, replicate))
    assert len(first) == len(second) and first["loss"].iloc[0] != second["loss"].iloc[0]
    # the data stage ran once: the replicates read the primary run's resampled files
    assert not (results / "seed1" / "data").exists()


def test_table2_across_seeds_has_the_mean_and_spread_of_every_column(smoke_run):
    results = smoke_run.workdir / "results"
    table = pd.read_csv(results / "table2_seeds.csv")
    primary = pd.read_csv(results / "table2.csv")
    seed1 = pd.read_csv(results / "seed1" / "metrics" / f"{BASE}.csv")
    assert table["scheme"].tolist() == primary["scheme"].tolist() and (table["n_seeds"] == 2).all()
    for column in [*SOURCES, "avg", "ece"]:
        assert {f"{column}_mean", f"{column}_std"} <= set(table.columns)
    # the mean of two seeds lies between them; a trained row's seeds differ
    more = names.more("all")
    run_a = primary.set_index("scheme").loc[more, "avg"]
    run_b = seed1[(seed1["scheme"] == more) & seed1["test_source"].isin(SOURCES)]["accuracy"].mean()
    row = table.set_index("scheme").loc[more]
    assert abs(row["avg_mean"] - (run_a + run_b) / 2) < 1e-9
    assert row["avg_std"] > 0
