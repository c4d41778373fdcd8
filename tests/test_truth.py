"""Ground-truth metrics on records of the real synthetic world, scored by planted scorers."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from more_lib.core.errors import DataError
from more_lib.data import synthetic
from more_lib.data.records import write_records
from more_lib.evaluate import truth

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def records(source, n=400, seed=3):
    spec = dict(CONFIG["sources"][source], n_test=n)
    return synthetic.generate_split(source, spec, CONFIG["synthetic"], seed, "test")


def scores(ids, d, seed=0):
    """A scores file's frame with differences `d`, rows shuffled (the join must use the ids)."""
    r_rejected = np.random.default_rng(seed).normal(size=len(d))
    frame = pd.DataFrame({"id": ids, "r_chosen": r_rejected + d, "r_rejected": r_rejected})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_truth_frame_reads_the_worlds_meta_and_none_without_it():
    rows = records("harmless", n=50)
    frame = truth.truth_frame(rows)
    beta = CONFIG["sources"]["harmless"]["beta"]
    np.testing.assert_allclose(frame["p_true"], expit(beta * frame["delta_source"]), atol=1e-12)
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert truth.truth_frame([{**r, "meta": {"tie": False}} for r in rows]) is None  # a hub source


def test_scorer_of_the_source_reward_is_calibrated_and_absorbs_all_its_drift():
    for source in ("helpful", "webgpt"):
        frame = truth.truth_frame(records(source))
        beta = CONFIG["sources"][source]["beta"]
        d = beta * frame["delta_source"].to_numpy()
        got = truth.truth_metrics(d, frame, 10)
        assert got["true_ce"] < 1e-12 and got["true_ce_rms"] < 1e-12 and got["true_ece_10"] < 1e-12
        assert got["pearson_source"] == pytest.approx(1.0)
        assert got["drift_a"] == pytest.approx(beta) and got["drift_b_over_a"] == pytest.approx(1.0)
        # Expected Brier under p_true is then the label noise alone, which the sampled-label Brier estimates.
        p = frame["p_true"].to_numpy()
        assert got["brier_true"] == pytest.approx(np.mean(p * (1 - p)))
        assert got["brier_label"] == pytest.approx(got["brier_true"], abs=0.03)


def test_constant_scorer_is_off_by_the_distance_of_p_true_from_a_half():
    frame = truth.truth_frame(records("oasst1"))
    got = truth.truth_metrics(np.zeros(len(frame)), frame, 10)
    assert got["true_ce"] == pytest.approx(np.mean(np.abs(0.5 - frame["p_true"])), abs=1e-12)
    assert np.isnan(got["pearson_shared"]) and np.isnan(got["spearman_source"])  # no correlation of a constant
    assert got["drift_a"] == 0 and got["drift_b"] == 0 and np.isnan(got["drift_b_over_a"])


def test_scorer_of_the_shared_reward_absorbs_no_drift():
    frame = truth.truth_frame(records("summ"))
    got = truth.truth_metrics(2.0 * frame["delta_shared"].to_numpy(), frame, 10)
    assert got["pearson_shared"] == pytest.approx(1.0) and got["spearman_shared"] == pytest.approx(1.0)
    assert got["drift_a"] == pytest.approx(2.0) and got["drift_b"] == pytest.approx(0.0, abs=1e-9)
    assert got["pearson_source"] < 0.99  # summ's drift (length, relevance) moves its own reward away
    assert got["true_ce"] > 0.01


def test_truth_table_joins_scores_by_id_and_notes_a_source_without_truth():
    rows = records("helpful", n=120)
    frame = truth.truth_frame(rows)
    beta = CONFIG["sources"]["helpful"]["beta"]
    exact = beta * frame["delta_source"].to_numpy()
    table = truth.truth_table("b", {("more-all", "helpful"): scores(frame["id"], exact),
                                    ("more-all", "webgpt"): scores(frame["id"], exact)},
                              {"helpful": frame, "webgpt": None}, 10)
    assert table["test_source"].tolist() == ["helpful", "webgpt"]
    scored, skipped = table.iloc[0], table.iloc[1]
    assert scored["label"] == "MORE" and scored["n_pairs"] == 120 and scored["true_ce"] < 1e-12  # shuffled rows joined
    assert skipped["note"].startswith("skipped") and np.isnan(skipped["true_ce"])
    assert list(table.columns) == ["base", "scheme", "label", "test_source", *truth.metric_names(10), "note"]
    assert [*truth.truth_metrics(exact, frame, 10)] == truth.metric_names(10)
    # The paper world: no source has the truth, every column is still there (fig_truth reads them).
    paper = truth.truth_table("b", {}, {"helpful": None, "webgpt": None}, 10)
    assert list(paper.columns) == list(table.columns) and paper["true_ce"].isna().all()
    with pytest.raises(DataError, match="more-all on helpful"):
        truth.truth_table("b", {("more-all", "helpful"): scores(frame["id"], exact).iloc[1:]}, {"helpful": frame}, 10)


def run_script(name, *args):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / name), *map(str, args)], check=False,
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_truth_scripts_write_the_table_and_the_figure_as_the_workflow_runs_them(tmp_path):
    """make_truth.py on a source with truth and one without (its meta stripped, like a hub
    source's), then fig_truth.py on the table it wrote."""
    rows = {"helpful": records("helpful", n=80), "webgpt": [{**r, "meta": {}} for r in records("webgpt", n=40)]}
    tests, score_args = [], []
    for source, part in rows.items():
        write_records(part, tmp_path / f"{source}.jsonl")
        tests.append(f"{source}={tmp_path / f'{source}.jsonl'}")
        for k, scheme in enumerate(["single-helpful", "single-webgpt", "multitask-all", "more-all"]):
            path = tmp_path / f"{scheme}-{source}.parquet"
            scores([r["id"] for r in part], np.random.default_rng(k).normal(size=len(part)), k).to_parquet(path)
            score_args.append(f"{scheme}:{source}={path}")
    out = tmp_path / "truth.csv"
    run_script("evaluate/make_truth.py", "--base", "b", "--scores", *score_args, "--tests", *tests, "--bins", 10, "--output", out)
    table = pd.read_csv(out)
    measured = table[table["test_source"] == "helpful"]
    assert set(measured["scheme"]) == {"single-helpful", "single-webgpt", "multitask-all", "more-all", "top",
                                       "averaging"}
    assert (measured["n_pairs"] == 80).all()
    assert table[table["test_source"] == "webgpt"]["note"].str.startswith("skipped").tolist() == [True]
    figure = [tmp_path / "truth.png", tmp_path / "truth.pdf"]
    run_script("figures/fig_truth.py", "--truth", out, "--mix", "all", "--output", *figure)
    assert figure[0].read_bytes().startswith(b"\x89PNG") and figure[0].stat().st_size > 10_000
    assert figure[1].read_bytes().startswith(b"%PDF")
