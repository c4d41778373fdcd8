"""Real Snakemake runs of the workflow on tiny configs, each in its own working directory."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from more_lib.data import read_records
from tests.hub_fixtures import build_hub_mirror

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config" / "config.yaml"
SMOKE = REPO / "config" / "smoke.yaml"
PAPER = REPO / "config" / "paper.yaml"
SOURCES = ["helpful", "harmless", "oasst1", "webgpt", "summ"]


def snakemake(workdir, *args, check=True):
    """Run snakemake on the repository's workflow with `workdir` as its working directory."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"snakemake failed ({result.returncode}):\n{output[-6000:]}")
    return result.returncode, output


def write_config(path, seed, n, sources):
    """A config for these sources that keeps the default's model and evaluation sections."""
    default = yaml.safe_load(DEFAULT.read_text())
    config = {"seed": seed, "resample": {"n": n}, "sources": sources, "mixes": {"all": list(sources)},
              "calibration": {"heldout": 2},
              "analysis": {**default["analysis"], "focus": list(sources)[:2], "ksweep": list(sources)},
              **{key: default[key] for key in ("bases", "reward", "evaluation", "benchmarks")}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def data_files(workdir):
    root = workdir / "results" / "data"
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The whole DAG once on the smoke config (every target that exists)."""
    workdir = tmp_path_factory.mktemp("smoke")
    _, output = snakemake(workdir, "--configfile", DEFAULT, SMOKE)
    return workdir, output


def test_smoke_config_builds_every_data_artifact(smoke_run):
    workdir, _ = smoke_run
    for source in SOURCES:
        for name in ["train.jsonl", "test.jsonl", "train.40.jsonl", "train.40.json", "prepare.json"]:
            assert (workdir / "results" / "data" / source / name).stat().st_size > 0
        assert len((workdir / "results" / "data" / source / "train.40.jsonl").read_text().splitlines()) == 40
    report = pd.read_csv(workdir / "results" / "data" / "report.csv")
    assert set(report["source"]) == set(SOURCES)
    prepared = report[report["split"].isin(["train", "test"])]
    assert (prepared["rows_read"] == prepared["kept"]).all()  # the synthetic world drops nothing
    resampled = report[report["split"] == "train_resampled"].set_index("source")
    assert (resampled["heldout"] == 10).all()  # calibration.heldout in config/smoke.yaml
    assert resampled.loc["summ", "rows_read"] == 70 and not resampled.loc["summ", "with_replacement"]
    assert resampled.loc["webgpt", "rows_read"] == 15 and resampled.loc["webgpt", "with_replacement"]
    for source in SOURCES:
        heldout = {r["id"] for r in read_records(workdir / "results" / "data" / source / "heldout.jsonl")}
        drawn = {r["meta"]["origin_id"] for r in read_records(workdir / "results" / "data" / source / "train.40.jsonl")}
        assert len(heldout) == 10 and heldout.isdisjoint(drawn)
    assert (workdir / "results" / "tokenizer" / "tokenizer.json").exists()
    assert (workdir / "results" / "logs" / "prepare_source" / "helpful.log").exists()
    assert (workdir / "results" / "benchmarks" / "data_report.tsv").exists()


def test_smoke_config_builds_table2_for_every_base(smoke_run):
    workdir, _ = smoke_run
    table = pd.read_csv(workdir / "results" / "table2.csv")
    assert table.groupby("base")["scheme"].apply(list).to_dict() == {
        base: ["Raw", "Top", "Averaging", "MultiTask", "MORE"] for base in ["tiny-s", "tiny-m"]}
    values = table[[*SOURCES, "avg", "ece"]].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert (workdir / "results" / "table2.md").read_text().startswith("| base")
    metrics = pd.read_csv(workdir / "results" / "metrics" / "tiny-s.csv")
    assert {"ece_5", "ece_10", "ece_20", "ace_10", "mce_10", "brier", "nll", "ties"} <= set(metrics.columns)
    log = pd.read_csv(workdir / "results" / "rm" / "tiny-s" / "more-all" / "train_log.csv")
    assert {f"lambda_{s}" for s in SOURCES} <= set(log.columns)


def test_benchmark_writes_the_overhead_and_scoring_ratios(smoke_run):
    workdir, _ = smoke_run
    snakemake(workdir, "results/benchmarks/more_overhead.csv", "--configfile", DEFAULT, SMOKE)
    overhead = pd.read_csv(workdir / "results" / "benchmarks" / "more_overhead.csv")
    scoring = pd.read_csv(workdir / "results" / "benchmarks" / "scoring.csv")
    assert list(overhead["base"]) == list(scoring["base"]) == ["tiny-s", "tiny-m"]
    assert (overhead[["multitask_step_s", "more_step_s", "ratio"]] > 0).all(axis=None)
    assert (scoring["plain_padding"] >= 1).all() and (scoring["bucketed_pairs_per_s"] > 0).all()
    log = (workdir / "results" / "logs" / "bench_reward.log").read_text()
    assert "tiny-s: MORE / MultiTask step time = " in log


def test_second_run_does_nothing(smoke_run):
    workdir, _ = smoke_run
    _, output = snakemake(workdir, "--configfile", DEFAULT, SMOKE)
    assert "Nothing to be done" in output


def test_same_seed_gives_byte_identical_data(smoke_run, tmp_path):
    workdir, _ = smoke_run
    snakemake(tmp_path, "data", "--configfile", DEFAULT, SMOKE)
    first, second = data_files(workdir), data_files(tmp_path)
    assert first.keys() == second.keys() and len(first) == 5 * 5 + 1
    assert first == second


def test_another_seed_gives_other_data(smoke_run, tmp_path):
    workdir, _ = smoke_run
    snakemake(tmp_path, "data", "--config", "seed=7", "--configfile", DEFAULT, SMOKE)
    name = Path("helpful") / "train.jsonl"
    assert data_files(workdir)[name] != data_files(tmp_path)[name]


def test_paper_config_dry_run_lists_the_paper_grid(tmp_path):
    _, output = snakemake(tmp_path, "-n", f"--configfile={PAPER}", "results/table2.csv")
    jobs = dict(line.split() for line in output.split("Job stats:")[1].split("total")[0].splitlines()[3:] if line.strip())
    assert jobs == {"prepare_source": "5", "resample_source": "5", "train_rm": "32", "score_rm": "32",
                    "evaluate_rm": "4", "table2": "1"}
    for source in SOURCES:
        assert f"results/data/{source}/train.40000.jsonl" in output
    for base in ["pythia-1.4b", "pythia-2.8b", "llama-2-7b", "llama-2-13b"]:
        for scheme in ["raw", "single-summ", "multitask-all", "more-all"]:
            assert f"results/rm/{base}/{scheme}" in output
    assert "build_tokenizer" not in output  # the paper world uses each base model's tokenizer


def test_config_with_a_wrong_type_fails_before_any_job_naming_the_key(tmp_path):
    code, output = snakemake(tmp_path, "--configfile", DEFAULT, "--config", "resample={n: lots}", check=False)
    assert code != 0
    assert "'lots' is not of type 'integer'" in output and "['resample']['n']" in output
    assert not (tmp_path / "results").exists()


def test_malformed_line_fails_naming_file_and_line(tmp_path):
    good = '{"id": "a", "source": "s", "prompt": "p ", "chosen": "yes", "rejected": "no"}'
    (tmp_path / "train.jsonl").write_text(good + "\n" + good.replace('"a"', '"b"')[:-1] + "\n")
    (tmp_path / "test.jsonl").write_text(good + "\n")
    spec = {"kind": "jsonl", "train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")}
    config = write_config(tmp_path / "bad.yaml", seed=1, n=4, sources={"mine": spec, "yours": spec})
    code, output = snakemake(tmp_path, "--configfile", config, check=False)
    assert code != 0
    assert f"error: {tmp_path / 'train.jsonl'}:2: malformed JSON" in output
    assert "Traceback" not in output


def test_hub_sources_from_local_mirrors_build_with_drops_counted(tmp_path):
    mirror = build_hub_mirror(tmp_path / "hub")
    config = write_config(tmp_path / "hub.yaml", seed=3, n=12, sources={
        "helpful": {"kind": "hh", "path": str(mirror / "hh-rlhf"), "data_dir": "helpful-base"},
        "harmless": {"kind": "hh", "path": str(mirror / "hh-rlhf"), "data_dir": "harmless-base"},
        "oasst1": {"kind": "oasst1", "path": str(mirror / "oasst1")},
        "webgpt": {"kind": "webgpt", "path": str(mirror / "webgpt_comparisons"), "data_dir": "default",
                   "test_fraction": 0.3},
        "summ": {"kind": "summ", "path": str(mirror / "summarize_from_feedback"), "data_dir": "comparisons",
                 "test_size": 3}})
    snakemake(tmp_path, "data", "--configfile", config)
    report = pd.read_csv(tmp_path / "results" / "data" / "report.csv").set_index(["source", "split"])
    assert report.loc[("helpful", "train"), "dropped_history_mismatch"] == 1
    assert report.loc[("helpful", "train"), "dropped_empty_response"] >= 1
    assert report.loc[("webgpt", "train"), "dropped_tie"] + report.loc[("webgpt", "test"), "dropped_tie"] >= 1
    assert report.loc[("oasst1", "train"), "dropped_unranked"] >= 1
    assert report.loc[("summ", "test"), "kept"] == 3
    assert (report.xs("train_resampled", level="split")["kept"] == 12).all()
    assert not (tmp_path / "results" / "tokenizer").exists()
    _, output = snakemake(tmp_path, "-n", "data", "--configfile", config)
    assert "Nothing to be done" in output


def test_mix_naming_an_unknown_source_fails_naming_the_key(tmp_path):
    code, output = snakemake(tmp_path, "-n", "--configfile", DEFAULT, "--config", "mixes={all: [helpful, nope]}",
                             check=False)
    assert code != 0 and "config key 'mixes.all' names sources not under 'sources': nope" in output
