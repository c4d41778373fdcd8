"""Artifacts checked on read: a score or metric file that breaks its producer's promise (more_lib.core.artifacts.ARTIFACTS:
one row per test pair, unique ids, its columns and their kinds, finite rewards) stops the reader with one
line naming the file, and scoring refuses to write a non-finite reward."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from more_lib.core import names
from more_lib.core.errors import DataError
from more_lib.data import records as data
from more_lib.evaluate import tables
from more_lib.reward import models
from tests.test_reward import REPO

SOURCES = ["helpful", "harmless"]
SCHEMES = [*names.singles(SOURCES), names.more("all")]
N_PAIRS = 20


def pairs_of(source):
    return [{"id": f"{source}-test-{i:06d}", "source": source, "prompt": "human: say ", "chosen": "yes " * (i % 5 + 1),
             "rejected": "no"} for i in range(N_PAIRS)]


def scores_frame(source, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": [r["id"] for r in pairs_of(source)], "r_chosen": rng.normal(1.0, 1.0, N_PAIRS),
                         "r_rejected": rng.normal(0.0, 1.0, N_PAIRS)})


@pytest.fixture
def scored(tmp_path):
    """Test sets and the score files of every scheme on them, as score_rm writes them."""
    paths = {}
    for k, scheme in enumerate(SCHEMES):
        for source in SOURCES:
            paths[(scheme, source)] = tmp_path / "scores" / scheme / f"{source}.parquet"
            paths[(scheme, source)].parent.mkdir(parents=True, exist_ok=True)
            scores_frame(source, k).to_parquet(paths[(scheme, source)], index=False)
    for source in SOURCES:
        data.write_records(pairs_of(source), tmp_path / f"{source}.jsonl")
    return paths


def cut_bytes(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def rewrite(change):
    def damage(path):
        change(pd.read_parquet(path)).to_parquet(path, index=False)
    return damage


DAMAGES = {
    "NaN reward": (rewrite(lambda f: f.assign(r_chosen=f["r_chosen"].mask(f.index == 3))),
                   r"1 non-finite r_chosen value\(s\), the first nan in row 4 \(id='helpful-test-000003'\)"),
    "infinite reward": (rewrite(lambda f: f.assign(r_rejected=f["r_rejected"].mask(f.index == 0, np.inf))),
                        r"1 non-finite r_rejected value\(s\), the first inf in row 1 \(id='helpful-test-000000'\)"),
    "duplicate id": (rewrite(lambda f: f.assign(id=f["id"].mask(f.index == 1, f["id"][0]))),
                     r"1 duplicate row\(s\), the first id='helpful-test-000000'"),
    "missing column": (rewrite(lambda f: f.drop(columns="r_rejected")),
                       r"not a scores table: no column\(s\) \['r_rejected'\]"),
    "ids as numbers": (rewrite(lambda f: f.assign(id=range(len(f)))), r"column 'id' must hold texts, it holds int"),
    "cut bytes": (cut_bytes, r"unreadable scores table \(Could not open Parquet input source .*magic bytes not found"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_broken_score_file_fails_naming_it(scored, damage):
    change, message = DAMAGES[damage]
    broken = scored[(names.more("all"), "helpful")]
    change(broken)
    with pytest.raises(DataError, match=rf"^{re.escape(str(broken))}: {message}"):
        tables.read_scores(scored)


def test_a_score_file_cut_short_fails_against_the_other_files_on_its_test_set(scored):
    """Without the test set (the outlier, K-sweep and calibration tables), the first file read on a test
    source is the reference."""
    broken = scored[(names.more("all"), "harmless")]
    rewrite(lambda f: f.head(N_PAIRS // 2))(broken)
    reference = scored[(names.single("helpful"), "harmless")]
    with pytest.raises(DataError, match=rf"^{re.escape(str(broken))}: 10 rows, {re.escape(str(reference))} has 20 pairs$"):
        tables.read_scores(scored)


def run_script(name, *args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *map(str, args)], check=False,
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def evaluate(scored, tmp_path):
    return run_script("evaluate/evaluate_rm.py", "--base", "b", "--bins", 10, "--output", tmp_path / "metrics.csv",
                      "--scores", *[f"{names.key(*key)}={path}" for key, path in scored.items()],
                      "--tests", *[f"{source}={tmp_path / f'{source}.jsonl'}" for source in SOURCES])


@pytest.mark.parametrize("pairs", [N_PAIRS // 2, N_PAIRS], ids=["cut to half", "another test set"])
def test_every_score_file_holds_one_row_per_pair_of_its_test_set(scored, tmp_path, pairs):
    """Cut to half its rows alike (so the files agree with each other), or scored on other pairs: the
    evaluation reads the test set and says so in one line naming the file."""
    for scheme in SCHEMES:
        frame = scores_frame("helpful", 0).head(pairs)
        if pairs == N_PAIRS:
            frame["id"] = frame["id"].str.replace("test", "old")
        frame.to_parquet(scored[(scheme, "helpful")], index=False)
    result = evaluate(scored, tmp_path)
    first = scored[(names.single("helpful"), "helpful")]
    message = ("10 rows, the helpful test set has 20 pairs" if pairs < N_PAIRS
               else "row 1 is pair 'helpful-old-000000', which the helpful test set lacks")
    assert (result.returncode, result.stderr.splitlines()) == (1, [f"error: {first}: {message}"])
    assert not (tmp_path / "metrics.csv").exists()


def metrics_file(scored, tmp_path):
    assert evaluate(scored, tmp_path).returncode == 0
    return tmp_path / "metrics.csv"


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.assign(accuracy=f["accuracy"].mask(f.index == 2)),
     r"1 non-finite accuracy value\(s\), the first nan in row 3 \(scheme='single-helpful', test_source='all'\)"),
    (lambda f: pd.concat([f, f.head(1)]), r"1 duplicate row\(s\), the first scheme='single-helpful', test_source='helpful'"),
    (lambda f: f.drop(columns="test_source"), r"not a metrics table: no column\(s\) \['test_source'\]"),
], ids=["NaN accuracy", "duplicate row", "missing column"])
def test_table2_refuses_a_broken_metrics_file_in_one_line(scored, tmp_path, damage, message):
    path = metrics_file(scored, tmp_path)
    damage(pd.read_csv(path)).to_csv(path, index=False)
    result = run_script("evaluate/make_table2.py", "--metrics", path, "--sources", *SOURCES, "--mix", "all", "--ece-bins", 10,
                        "--ece", "mean", "--output", tmp_path / "table2.csv", "--markdown", tmp_path / "table2.md")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr[-2000:]
    assert re.match(rf"error: {re.escape(str(path))}: {message}$", result.stderr)


def test_scoring_refuses_to_write_a_non_finite_reward(tmp_path):
    """A reward model whose head went NaN (a diverged run) scores every pair NaN: score_rm stops with one
    line naming the file it would have written, and writes nothing."""
    texts = [t for r in pairs_of("helpful") for t in (r["prompt"], r["chosen"], r["rejected"])]
    tokenizer = models.train_word_tokenizer(texts)
    model = models.build_reward_model({"config": {"model_type": "gpt_neox", "hidden_size": 16, "num_hidden_layers": 1,
                                                  "num_attention_heads": 2, "intermediate_size": 32,
                                                  "max_position_embeddings": 64}}, tokenizer, seed=1)
    with torch.no_grad():
        model.score.weight.fill_(float("nan"))
    models.save_pretrained(model, tokenizer, tmp_path / "rm")
    data.write_records(pairs_of("helpful"), tmp_path / "helpful.jsonl")
    output = tmp_path / "scores" / "helpful.parquet"
    result = run_script("evaluate/score_rm.py", "--rm", tmp_path / "rm", "--inputs", tmp_path / "helpful.jsonl",
                        "--outputs", output, "--settings", '{"max_length": 32, "score_batch_size": 8}')
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == (f"error: {output}: not written: 20 non-finite r_chosen value(s), the "
                                              "first nan in row 1 (id='helpful-test-000000')")
    assert not output.parent.exists() or not any(output.parent.iterdir())
