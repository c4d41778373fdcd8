"""The GPU check (scripts/bench_gpu.py) at tiny dimensions on the CPU: its whole code path runs
(DeepSpeed ZeRO-2 and ZeRO-3 with offload on one gloo rank, the batch search, bucketed scoring,
sampling) and its CSV has the columns and rows the README's GPU command reports."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["device", "peak_tflops", "measure", "settings", "scheme", "precision", "zero", "pairs_per_source",
           "sequences", "step_s", "tokens_per_s", "mfu", "mfu_padded", "peak_memory_gib", "ratio", "target",
           "meets_target", "note"]


@pytest.fixture(scope="module")
def gpu_csv(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "gpu.csv"
    # no inherited torchrun variables: the script sets up its own one-rank world
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"}}
    result = subprocess.run([sys.executable, REPO / "scripts" / "bench_gpu.py", "--tiny", "--threads", "1", "--output",
                             output],
                            check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return pd.read_csv(output)


def rows(frame, measure, **match):
    selected = frame[frame.measure == measure]
    for column, value in match.items():
        selected = selected[selected[column] == value]
    return selected


def test_the_csv_has_the_documented_columns_and_one_row_per_measure(gpu_csv):
    assert list(gpu_csv.columns) == COLUMNS
    assert gpu_csv.groupby("measure").size().to_dict() == {
        "rm_training": 4, "more_overhead": 2, "speedup_over_paper": 2, "scoring": 2, "scoring_speedup": 1,
        "rjs_sampling": 1}


def test_training_rows_compare_our_settings_with_the_papers_on_both_schemes(gpu_csv):
    training = rows(gpu_csv, "rm_training")
    assert set(zip(training.settings, training.scheme)) == {(s, k) for s in ("ours", "paper")
                                                            for k in ("multitask", "more")}
    assert (training.tokens_per_s > 0).all() and (training.step_s > 0).all()
    assert (training.sequences == 2 * 5 * training.pairs_per_source).all()
    paper = rows(gpu_csv, "rm_training", settings="paper")
    assert (paper.pairs_per_source == 1).all() and (paper.precision == "fp32").all()
    assert paper.zero.str.startswith("3 + offload").all()
    ours = rows(gpu_csv, "rm_training", settings="ours")
    assert (ours.zero == "2").all()
    assert (ours.pairs_per_source == 2).all()  # the search's cap at --tiny: nothing runs out of memory on a CPU
    assert (ours.target == 0.45).all()


def test_ratios_are_positive_and_judged_against_their_targets(gpu_csv):
    targets = {"more_overhead": 1.02, "speedup_over_paper": 3.0, "scoring_speedup": 2.0}
    for measure, target in targets.items():
        selected = rows(gpu_csv, measure)
        assert (selected.ratio > 0).all() and (selected.target == target).all(), measure
        passed = selected.ratio >= target if measure != "more_overhead" else selected.ratio <= target
        assert (selected.meets_target == passed).all(), measure


def test_on_the_cpu_mfu_and_gpu_memory_are_not_invented(gpu_csv):
    assert (gpu_csv.device == "cpu").all() and gpu_csv.peak_tflops.isna().all()
    training = rows(gpu_csv, "rm_training")
    assert training.mfu.isna().all() and training.peak_memory_gib.isna().all()
    assert training.meets_target.isna().all()


def test_scoring_and_sampling_report_their_throughput(gpu_csv):
    scoring = rows(gpu_csv, "scoring")
    assert set(scoring.settings) == {"bucketed", "plain"} and (scoring.tokens_per_s > 0).all()
    sampling = rows(gpu_csv, "rjs_sampling").iloc[0]
    assert sampling.tokens_per_s > 0 and sampling.precision == "fp32" and sampling.sequences == 4 * 4
    assert not math.isnan(sampling.step_s)
