"""The GPU check (scripts/benchmarks/bench_gpu.py) at tiny dimensions on the CPU: its whole code path runs
(DeepSpeed ZeRO-2 and ZeRO-3 with offload on one gloo rank, the batch search, bucketed scoring,
sampling) and its CSV has the columns and rows the GPU command of docs/gpu-check.md reports."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from more_lib.align import policy
from more_lib.benchmarks import gpu_setup
from more_lib.reward import models, scoring

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["device", "peak_tflops", "measure", "settings", "layout", "scheme", "precision", "zero", "pairs_per_source",
           "sequences", "step_s", "tokens_per_s", "mfu", "mfu_padded", "peak_memory_gib", "ratio", "target",
           "meets_target", "note"]
NOTHING_RAN_OUT = "did not fit"


@pytest.fixture(scope="module")
def gpu_csv(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "gpu.csv"
    # no inherited torchrun variables: the script sets up its own one-rank world
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"}}
    result = subprocess.run([sys.executable, REPO / "scripts" / "benchmarks" / "bench_gpu.py", "--tiny", "--threads", "1", "--output",
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
        "rm_training": 6, "more_overhead": 3, "speedup_over_paper": 2, "scoring": 3, "scoring_speedup": 1,
        "rjs_sampling": 1}


def test_training_rows_compare_our_settings_with_the_papers_on_both_schemes(gpu_csv):
    training = rows(gpu_csv, "rm_training")
    assert set(zip(training.settings, training.layout, training.scheme)) == {
        (s, layout, k) for s, layouts in (("ours", ("padded", "packed")), ("paper", ("padded",)))
        for layout in layouts for k in ("multitask", "more")}
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


def test_nothing_runs_out_of_memory_on_the_cpu(gpu_csv):
    assert not gpu_csv.note.fillna("").str.contains(NOTHING_RAN_OUT).any()


def test_scoring_and_sampling_report_their_throughput(gpu_csv):
    scoring = rows(gpu_csv, "scoring")
    assert set(scoring.settings) == {"bucketed", "plain", "packed"} and (scoring.tokens_per_s > 0).all()
    sampling = rows(gpu_csv, "rjs_sampling").iloc[0]
    assert sampling.tokens_per_s > 0 and sampling.precision == "fp32" and sampling.sequences == 4 * 4
    assert not math.isnan(sampling.step_s)


# The check's parts, without running it.

@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.5),
    ("NVIDIA H200", 989.0), ("NVIDIA H200 NVL", 835.5), ("NVIDIA H800", 989.0), ("NVIDIA H800 PCIe", 756.0),
    ("NVIDIA GH200 480GB", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A800 80GB PCIe", 312.0)])
def test_each_device_gets_its_own_data_sheet_peak(name, peak):
    assert gpu_setup.peak_tflops(name) == peak


def test_an_unknown_device_gets_no_peak():
    assert math.isnan(gpu_setup.peak_tflops("NVIDIA L4")) and math.isnan(gpu_setup.peak_tflops("cpu"))


def test_the_csv_holds_each_row_as_soon_as_it_is_appended(tmp_path):
    log = gpu_setup.CsvLog(tmp_path / "out" / "gpu.csv")
    assert list(pd.read_csv(log.path).columns) == COLUMNS and pd.read_csv(log.path).empty
    log.append({"device": "cpu", "measure": "scoring", "tokens_per_s": 5.0})
    on_disk = pd.read_csv(log.path)
    assert len(on_disk) == 1 and on_disk.measure[0] == "scoring" and on_disk.tokens_per_s[0] == 5.0
    with pytest.raises(ValueError, match="not a column"):
        log.append({"measure": "scoring", "tokens": 3})


def test_running_out_of_memory_ends_the_phase_with_did_not_fit_rows_and_the_check_goes_on(tmp_path):
    log = gpu_setup.CsvLog(tmp_path / "gpu.csv")

    def phase(attempt):
        attempt["batch"] = 10
        yield {"measure": "rm_training", "settings": "ours", "scheme": "multitask", "tokens_per_s": 1.0}
        attempt["batch"] = 20
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def placeholders(attempt):
        return [{"measure": "rm_training", "settings": "ours", "scheme": s} for s in ("multitask", "more")]

    assert not gpu_setup.run_phase(log, phase, placeholders)
    assert gpu_setup.run_phase(log, lambda attempt: iter([{"measure": "scoring", "settings": "plain"}]),
                               lambda attempt: [])
    frame = pd.read_csv(log.path)
    assert list(zip(frame.measure, frame.scheme.fillna(""), frame.note.fillna(""))) == [
        ("rm_training", "multitask", ""), ("rm_training", "more", "did not fit at batch 20"), ("scoring", "", "")]


def test_a_library_allocation_failure_counts_as_out_of_memory_and_other_errors_propagate(tmp_path):
    log = gpu_setup.CsvLog(tmp_path / "gpu.csv")

    def failing(message):
        def phase(attempt):
            attempt["batch"] = 4
            raise RuntimeError(message)
            yield

        return phase

    assert not gpu_setup.run_phase(log, failing("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"),
                                   lambda attempt: [{"measure": "rjs_sampling"}])
    assert pd.read_csv(log.path).note.tolist() == ["did not fit at batch 4"]
    with pytest.raises(RuntimeError, match="shapes"):
        gpu_setup.run_phase(log, failing("shapes cannot be multiplied"), lambda attempt: [])


@pytest.mark.parametrize("fixed, per_pair, budget, most, expected", [
    (10.0, 3.0, 50.0, 64, 13),    # doubling to 8 predicts 16 over the budget; the line allows 13
    (10.0, 3.0, 500.0, 64, 64),   # everything fits: the cap
    (10.0, 3.0, 13.5, 64, 1),     # 2 pairs would not fit
    (10.0, 3.0, 12.0, 64, 1),     # even 1 pair leaves no headroom, but it ran
])
def test_the_batch_search_takes_the_largest_batch_the_memory_line_allows(fixed, per_pair, budget, most, expected):
    probed = []

    def fits(n):
        probed.append(n)
        used = fixed + per_pair * n
        return None if used > budget * 1.1 else used  # past the budget's headroom the device runs out

    assert gpu_setup.largest_fit(fits, budget, most) == expected
    assert probed[0] == 1


def test_the_batch_search_on_a_device_that_runs_out_keeps_the_last_batch_that_ran():
    assert gpu_setup.largest_fit(lambda n: None if n > 4 else 1.0 * n, math.inf, 64) == 4
    assert gpu_setup.largest_fit(lambda n: None, 80.0, 64) is None


def test_on_the_cpu_unknown_memory_never_stops_the_doubling():
    assert math.isnan(gpu_setup.memory_gib())
    assert gpu_setup.largest_fit(lambda n: math.nan, math.nan, 8) == 8


def test_gradient_checkpointing_goes_through_the_api_this_transformers_has():
    config, _ = gpu_setup.architecture("tiny-gpt-neox")
    model = models.build_reward_model({"config": config}, gpu_setup.word_tokenizer(512), 0)
    assert any(getattr(m, "gradient_checkpointing", False) for m in gpu_setup.enable_checkpointing(model).modules())

    class Transformers517(torch.nn.Module):  # no activation_checkpointing_enable, as in transformers 5.17
        def gradient_checkpointing_enable(self):
            self.enabled = True

    assert gpu_setup.enable_checkpointing(Transformers517()).enabled


def _forward_kwargs(model):
    calls = []
    model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    return calls


def test_real_tokens_of_a_packed_batch_are_those_of_the_padded_one():
    """MFU counts real tokens in both layouts: a padded batch's mask and a packed batch's ends agree."""
    from more_lib.benchmarks import gpu_check

    tokenizer = gpu_setup.word_tokenizer(512)
    texts = ["w1 w2 w3 w4 w5", "w4", "w7 w8"]
    padded, packed = (models.encode_texts(tokenizer, texts, 16, packed) for packed in (False, True))
    assert gpu_check.text_lengths(padded) == gpu_check.text_lengths(packed) == [5, 1, 2]
    assert padded["input_ids"].numel() == 15 and packed["input_ids"].numel() == 8


def test_training_and_scoring_forwards_build_no_kv_cache_and_sampling_keeps_it():
    for path in (REPO / "config" / "models").glob("*.json"):
        assert json.loads(path.read_text()).get("use_cache", False) is False, path.name
    tokenizer = gpu_setup.word_tokenizer(512)
    config, _ = gpu_setup.architecture("tiny-gpt-neox")
    reward_model = models.build_reward_model({"config": config}, tokenizer, 0)
    calls = _forward_kwargs(reward_model)
    batch = models.encode_texts(tokenizer, ["w1 w2 w3", "w4"], 16)
    models.rewards_and_features(reward_model, batch)
    scoring.score_texts(reward_model, tokenizer, ["w1 w2", "w3"], 16, 2)
    config, _ = gpu_setup.architecture("tiny-llama")
    causal = policy.build_policy({"config": config}, tokenizer, 0)
    policy_calls = _forward_kwargs(causal)
    policy.token_losses(causal, *policy.collate(tokenizer, [([5, 6, 7], [-100, 6, 7])]))
    assert len(calls) == 2 and len(policy_calls) == 1
    assert all(kwargs.get("use_cache") is False for kwargs in calls + policy_calls)
    policy.generate(causal, tokenizer, ["w1 w2"], {"do_sample": False, "max_new_tokens": 3, "batch_size": 1}, 0)
    assert policy_calls[1].get("use_cache") is True


OUT_OF_MEMORY_WHILE_MEASURING = """
import sys
import numpy as np
import torch
from more_lib.benchmarks import gpu_check, gpu_setup

def out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB (simulated)")

gpu_setup.one_rank_world()
gpu_check.measure_training = out_of_memory
size, common = gpu_setup.scale(tiny=True), {"device": "cpu", "peak_tflops": float("nan")}
world = gpu_setup.make_world(size, np.random.default_rng(0))
log = gpu_setup.CsvLog(sys.argv[1])
for label in ("ours", "paper"):
    gpu_setup.run_phase(log, gpu_check.training(label, world, size, common),
                        lambda attempt, label=label: gpu_check.training_placeholders(label, common, attempt))
for row in gpu_check.speedups(log.rows, common):
    log.append(row)
"""


def test_a_training_setting_that_runs_out_of_memory_reports_its_batch_and_the_next_one_still_runs(tmp_path):
    """The real phases on one gloo rank, the measurement made to run out of memory: our settings'
    rows say at which batch (2 pairs per source: 20 sequences), the paper's setting still runs (and
    runs out at 10), and the speed-up has no verdict."""
    output = tmp_path / "gpu.csv"
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"}}
    result = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY_WHILE_MEASURING, output], check=False,
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = pd.read_csv(output)
    training = frame[frame.measure.isin(["rm_training", "more_overhead"])]
    assert len(training) == 9 and training.tokens_per_s.isna().all()
    for label, batch in (("ours", 20), ("paper", 10)):
        rows = training[training.settings == label]
        assert (rows.note == f"did not fit at batch {batch}").all() and (rows.sequences == batch).all(), label
    speedup = frame[frame.measure == "speedup_over_paper"]
    assert len(speedup) == 2 and speedup.ratio.isna().all() and speedup.meets_target.isna().all()
