"""Real Snakemake runs of the workflow on tiny configs, each in its own working directory."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from more_lib.core import names
from more_lib.data.records import read_records
from tests import judge_server
from tests.hub_fixtures import build_hub_mirror
from tests.workflow_run import DEFAULT, PAPER, REPO, SMOKE, SOURCES, job_counts, snakemake

pytestmark = pytest.mark.slow

SMOKE_BASES = ["tiny-s"]  # config/smoke.yaml removes the default's tiny-m


def write_config(path, seed, n, sources):
    """A config for these sources that keeps the default's model and evaluation sections."""
    default = yaml.safe_load(DEFAULT.read_text())
    names = list(sources)
    config = {"seed": seed, "resample": {"n": n}, "sources": sources, "mixes": {"all": names},
              "calibration": {"heldout": 2},
              "analysis": {**default["analysis"], "focus": names[:2], "ksweep": names},
              "policy": default["policy"],
              "alignment": {**default["alignment"], "sources": names[:2]},
              "judge": {**default["judge"], "tasks": {name: name for name in names[:2]}},
              "bases": {base: {**spec, "pretrain": {**spec["pretrain"], "sources": names}}
                        for base, spec in default["bases"].items()},
              "replicates": {"seeds": [], "bases": []},
              **{key: default[key] for key in ("reward", "evaluation", "benchmarks")}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def data_files(workdir):
    root = workdir / "results" / "data"
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_smoke_config_builds_every_data_artifact(smoke_run):
    workdir = smoke_run.workdir
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
    workdir = smoke_run.workdir
    table = pd.read_csv(workdir / "results" / "table2.csv")
    assert table.groupby("base")["scheme"].apply(list).to_dict() == {
        base: ["raw", "top", "averaging", "multitask-all", "more-all"] for base in SMOKE_BASES}
    assert table.groupby("base")["label"].apply(list).to_dict() == {
        base: ["Raw", "Top", "Averaging", "MultiTask", "MORE"] for base in SMOKE_BASES}
    values = table[[*SOURCES, "avg", "ece"]].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert (workdir / "results" / "table2.md").read_text().startswith("| base")
    metrics = pd.read_csv(workdir / "results" / "metrics" / "tiny-s.csv")
    assert {"ece_5", "ece_10", "ece_20", "ace_10", "mce_10", "brier", "nll", "ties"} <= set(metrics.columns)
    log = pd.read_csv(workdir / "results" / "rm" / "tiny-s" / "more-all" / "train_log.csv")
    assert [c for c in log.columns if c.startswith("lambda_")] == ["lambda_helpful", "lambda_harmless", "lambda_oasst1"]


FIGURES = ["fig1_cross_dataset", "fig3_accuracy", "fig4_ece", "fig5_differences", "fig6_ksweep", "fig8_outliers",
           "fig9_rewards", "reliability", "truth", "claims_forest"]
CLAIMS = ["C1", "C2", "C3", "C4", "C4-ts", "C5", "C6", "C7", "C8", "C9-fidelity", "C9-calibration"]


def test_smoke_config_builds_every_figure_and_analysis_table(smoke_run):
    workdir = smoke_run.workdir
    for base in SMOKE_BASES:
        for name in FIGURES:
            png = workdir / "results" / "figures" / base / f"{name}.png"
            assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000, png
            assert (workdir / "results" / "figures" / base / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
        outliers = pd.read_csv(workdir / "results" / "outliers" / f"{base}.csv")
        assert outliers[["test_source", "scheme", "label"]].values.tolist() == [
            [t, s, label] for t in ["helpful", "harmless"]
            for s, label in [("top", "Top"), ("multitask-all", "MultiTask"), ("more-all", "MORE")]]
        ksweep = pd.read_csv(workdir / "results" / "ksweep" / f"{base}.csv")
        assert sorted(ksweep.dropna(subset=["k"])["k"].unique()) == [2, 3]  # analysis.ksweep in smoke.yaml
        calibration = pd.read_csv(workdir / "results" / "calibration" / f"{base}.csv")
        assert (calibration["temperature"] > 0).all() and len(calibration) == 8 * len(SOURCES)
        truth = pd.read_csv(workdir / "results" / "truth" / f"{base}.csv")
        assert set(truth["test_source"]) == set(SOURCES) and truth["note"].isna().all()  # every smoke source has truth
        assert truth["true_ce"].between(0, 1).all() and truth["pearson_shared"].between(-1, 1).all()
    claims = pd.read_csv(workdir / "results" / "claims.csv")
    assert claims.groupby("base")["claim"].apply(list).to_dict() == {base: CLAIMS for base in SMOKE_BASES}
    # C7 included: Fig. 7's two smoke points are below its permutation test's 5
    assert set(claims["verdict"]) <= {"holds", "fails", "inconclusive", "inconclusive (Monte Carlo)", "not testable"}
    assert claims.set_index("claim").loc["C7", "verdict"] == "not testable"
    # Every effect has an interval, except C7 where Fig. 7's two smoke points may give no correlation.
    measured = claims[claims["claim"] != "C7"]
    assert measured[["effect", "ci_low", "ci_high"]].notna().all().all()
    assert (measured["n_seeds"] == 2).all()  # the primary run and config/smoke.yaml's extra seed
    # No verdict whose interval crosses its decision boundary (0, or ±tolerance for C2).
    for row in claims[claims["verdict"].isin(["holds", "fails"])].itertuples():
        edges = [-row.bound, row.bound] if row.claimed == "within" else [row.bound]
        assert all(not row.ci_low <= edge <= row.ci_high for edge in edges), row.claim
    assert measured["numbers"].str.contains(r"=[-0-9.]+ \[", regex=True).all()


# Chromium as root on a machine with no network: no sandbox, no GPU, no background connections.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000"]

# Appended to the report: once it has loaded, open one figure through the report's own app state,
# as a click on the figure's eye button would.
SHOW_FIGURE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find(p => p.endsWith("%s"));
  app.setView({navbarMode: "subcategory", category: "Figures", subcategory: "%s",
               content: "img", contentPath: results[path].data_uri, resultPath: path});
}, 200));
</script>"""


def chromium(page, profile, *args):
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed for the report test: apt-get install chromium (make test does)"
    result = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                            check=True, capture_output=True, text=True, timeout=180)
    return result.stdout, result.stderr


@pytest.mark.browser
def test_report_renders_every_figure_in_headless_chromium(smoke_run, tmp_path):
    workdir, repo = smoke_run.workdir, smoke_run.repo
    report = workdir / "results" / "report.html"
    _, output = snakemake(workdir, "--report", str(report), "--configfile", DEFAULT, SMOKE, repo=repo)
    assert not re.search(r"\((INFO|WARNING|ERROR|SEVERE)/\d\)", output), output[-3000:]  # docutils said nothing
    html = report.read_text()
    for base in SMOKE_BASES:
        figure = workdir / "results" / "figures" / base / "fig1_cross_dataset.png"
        head, body_end, tail = html.rpartition("</body>")
        page = tmp_path / f"{base}.html"
        page.write_text(head + SHOW_FIGURE % (f"{base}/{figure.name}", base) + body_end + tail)
        dom, log = chromium(page, tmp_path / "profile", "--dump-dom")
        assert "Uncaught" not in log, log
        shown = re.findall(r'<img src="data:image/png;charset=utf8;filename=[^;]*;base64,([^"]+)"', dom)
        assert [base64.b64decode(data) for data in shown] == [figure.read_bytes()]
        for name in FIGURES:  # the navbar lists every figure of the base
            assert f"{name}.png" in dom
    _, log = chromium(page, tmp_path / "profile", "--window-size=1400,900", f"--screenshot={tmp_path / 'shot.png'}")
    pixels = matplotlib.image.imread(tmp_path / "shot.png")
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # a drawn figure, not a blank page


def test_benchmark_writes_the_overhead_and_scoring_ratios(smoke_run):
    workdir, repo = smoke_run.workdir, smoke_run.repo
    snakemake(workdir, "results/benchmarks/more_overhead.csv", "--configfile", DEFAULT, SMOKE, repo=repo)
    overhead = pd.read_csv(workdir / "results" / "benchmarks" / "more_overhead.csv")
    scoring = pd.read_csv(workdir / "results" / "benchmarks" / "scoring.csv")
    assert list(overhead["base"]) == list(scoring["base"]) == SMOKE_BASES
    assert (overhead[["multitask_step_s", "more_step_s", "ratio"]] > 0).all(axis=None)
    assert (scoring["plain_padding"] >= 1).all() and (scoring["bucketed_pairs_per_s"] > 0).all()
    log = (workdir / "results" / "logs" / "bench_reward.log").read_text()
    assert "tiny-s: MORE / MultiTask step time = " in log


def test_smoke_config_aligns_a_policy_with_every_rm(smoke_run):
    workdir = smoke_run.workdir
    results = workdir / "results"
    rjs = [names.rjs_policy(base, names.mixed(kind, "all")) for base in SMOKE_BASES for kind in names.MIXED_KINDS]
    rjs += ["rjs-tiny-s-more-k2"]  # alignment.ksweep: MORE's K-sweep RMs of tiny-s (K = 3 is the mix "all")
    policies = ["base", "sft", *rjs]
    ppl = pd.read_csv(results / "ppl.csv")
    assert sorted(ppl["policy"]) == sorted(policies * 2) and (ppl["ppl"] > 1).all() and (ppl["pairs"] == 20).all()
    for policy in policies:
        for task in ["helpful", "harmless"]:
            lines = (results / "generations" / policy / f"{task}.jsonl").read_text().splitlines()
            assert len(lines) == 10 and {"id", "prompt", "response"} == set(json.loads(lines[0]))
    samples = pd.read_parquet(results / "rjs" / "samples.parquet")
    assert len(samples) == 2 * 12 * 4  # 12 prompts per H&H source, S = 4
    selection = pd.read_csv(results / "rjs" / "selection.csv")
    assert len(selection) == 2 * (2 + 1 + 1)  # per source: MultiTask, MORE, MORE k2, and Raw
    assert selection[["oracle_selected", "oracle_all", "oracle_gain"]].notna().all(axis=None)
    selected = pd.read_parquet(results / "rjs" / "by_rm" / "tiny-s" / "more-all" / "selected.parquet")
    assert len(selected) == 24 and selected["id"].is_unique
    model = AutoModelForCausalLM.from_pretrained(results / "policy" / "rjs-tiny-s-more-all")
    tokenizer = AutoTokenizer.from_pretrained(results / "policy" / "rjs-tiny-s-more-all")
    out = model.generate(**tokenizer(["human: how to boil an egg assistant:"], return_tensors="pt"),
                         max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > 7


def test_smoke_config_judges_and_builds_table1_and_fig7(smoke_run):
    workdir = smoke_run.workdir
    results = workdir / "results"
    table1 = pd.read_csv(results / "table1.csv")
    assert table1[["base", "label"]].values.tolist() == [["-", "-"]] + [
        [base, label] for base in SMOKE_BASES for label in ["MultiTask", "MORE"]]
    more = table1[table1["scheme"] == "more-all"]
    assert np.allclose(more[["win", "tie", "lose"]].sum(axis=1), 100) and (more["judged"] > 0).all()
    assert table1[["ppl_helpful", "ppl_harmless"]].notna().all(axis=None)
    judged = [json.loads(line) for line in
              (results / "judgments" / "rjs-tiny-s-more-all_vs_rjs-tiny-s-multitask-all" / "helpful.jsonl").open()]
    assert len(judged) == 10 and {j["winner"] for j in judged} <= {"a", "b", "tie"}
    assert all(len(j["answers"]) == 2 for j in judged)
    correlation = pd.read_csv(results / "fig7_correlation.csv").set_index("statistic")
    assert set(correlation.index) == {"pearson", "spearman"}
    assert (correlation["points"] == 2).all()  # K = 2, 3 (smoke.yaml)
    assert (results / "figures" / "fig7_correlation.png").read_bytes().startswith(b"\x89PNG")
    ledger = pd.read_csv(results / "judge" / "ledger.csv")
    # MORE vs MultiTask, MORE k2 vs SFT, MORE all (K = 3) vs SFT; the oracle asks no one
    assert len(ledger) == 2 * 3 and (ledger["requests"] == 0).all()


def test_changing_mores_setting_reruns_mores_alignment_but_not_the_sampling(smoke_run, tmp_path):
    workdir, repo = smoke_run.workdir, smoke_run.repo
    overlay = tmp_path / "alpha.yaml"
    overlay.write_text(yaml.safe_dump({"reward": {"more": {"alpha": 0.9}}}))
    _, output = snakemake(workdir, "-n", "--configfile", DEFAULT, SMOKE, overlay, repo=repo)
    jobs = job_counts(output)
    # more-all and more-k2, of the primary run and of tiny-s's replicate seed (smoke.yaml); RJS aligns the primary's
    assert jobs["train_rm"] == 4 and jobs["score_rm"] == jobs["score_rm_focus"] == 2
    assert jobs["rjs_score"] == jobs["rjs_select"] == jobs["rjs_policy"] == 2
    assert jobs["generate"] == jobs["perplexity"] == 2 and jobs["table1"] == jobs["fig7"] == 1
    assert jobs["judge"] == 2 * 3  # MORE vs MultiTask, and the two K-sweep policies vs SFT
    for untouched in ["rjs_sample", "pretrain_base", "sft_policy", "prepare_source", "build_tokenizer"]:
        assert untouched not in jobs, untouched
    trained = re.findall(r"rule rjs_policy:\n(?:    .*\n)*?    output: (\S+)", output)
    assert sorted(trained) == [f"results/policy/{names.rjs_policy('tiny-s', names.more(mix))}" for mix in ["all", "k2"]]


def test_judge_rule_runs_through_an_openai_compatible_http_server(smoke_run, tmp_path):
    """The Table 1 judgments again, asked of a real HTTP server through the openai client."""
    workdir, repo = smoke_run.workdir, smoke_run.repo
    shutil.copytree(workdir, tmp_path / "w", symlinks=True)
    key = "sk-test-never-logged-0123456789"
    server = judge_server.start(prefer_longer)
    try:
        overlay = tmp_path / "judge.yaml"
        overlay.write_text(yaml.safe_dump({"judge": {
            "kind": "openai", "prompts": str(REPO / "config" / "judge_prompts.yaml"), "model": "judge-test",
            "base_url": server.url, "api_key_env": "JUDGE_TEST_KEY", "temperature": 0, "max_tokens": 32,
            "concurrency": 2, "timeout": 10, "max_retries": 2, "backoff_initial": 0.01, "backoff_max": 0.05,
            "cache": "results/judge/cache.sqlite"}}))
        _, output = snakemake(tmp_path / "w", "results/table1.csv", "--configfile", DEFAULT, SMOKE, overlay,
                              env={"JUDGE_TEST_KEY": key}, repo=repo)
    finally:
        judge_server.stop(server)
    assert job_counts(output) == {"judge": 2, "table1": 1}  # a new judge reruns the judgments, nothing else
    assert 0 < len(server.log) <= 2 * 10 * 2  # tasks x prompts x both orders
    assert all(entry["auth"] == f"Bearer {key}" for entry in server.log)
    table1_ledger = tmp_path / "w" / "results" / "judge" / "ledger" / "rjs-tiny-s-more-all_vs_rjs-tiny-s-multitask-all"
    ledger = pd.concat(pd.read_csv(table1_ledger / f"{task}.csv") for task in ["helpful", "harmless"])
    assert ledger["requests"].sum() == len(server.log) and (ledger["model"] == "judge-test").all()
    table1 = pd.read_csv(tmp_path / "w" / "results" / "table1.csv")
    assert np.allclose(table1[table1["scheme"] == "more-all"][["win", "tie", "lose"]].sum(axis=1), 100)
    for path in (tmp_path / "w" / "results").rglob("*"):
        if path.is_file() and path.suffix in {".log", ".csv", ".jsonl", ".md", ".sqlite", ".json"}:
            assert key not in path.read_text(errors="ignore"), path
    assert key not in output


def prefer_longer(question):
    """A judge with a rule: the longer response wins (position A on equal length, a position bias)."""
    a, b = re.search(r"^Response A: (.*)\nResponse B: (.*)$", question, re.MULTILINE).groups()
    return f"Comparison: length.\nMore helpful: {'B' if len(b.split()) > len(a.split()) else 'A'}"


def test_second_run_does_nothing(smoke_run):
    workdir, repo = smoke_run.workdir, smoke_run.repo
    _, output = snakemake(workdir, "--configfile", DEFAULT, SMOKE, repo=repo)
    assert "Nothing to be done" in output


def test_same_seed_gives_byte_identical_data(smoke_run, tmp_path):
    workdir = smoke_run.workdir
    snakemake(tmp_path, "data", "--configfile", DEFAULT, SMOKE)
    first, second = data_files(workdir), data_files(tmp_path)
    assert first.keys() == second.keys() and len(first) == 5 * 7 + 1
    assert first == second


def test_another_seed_gives_other_data(smoke_run, tmp_path):
    workdir = smoke_run.workdir
    name = Path("helpful") / "train.jsonl"
    snakemake(tmp_path, f"results/data/{name}", "--config", "seed=7", "--configfile", DEFAULT, SMOKE)
    assert data_files(workdir)[name] != data_files(tmp_path)[name]


def test_paper_config_dry_run_lists_the_analyses_at_paper_scale(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")  # the ZeRO configs, relative to the working directory
    _, output = snakemake(tmp_path, "-n", f"--configfile={PAPER}", "figures", "claims")
    jobs = job_counts(output)
    # 4 bases x (raw, 5 single, MultiTask and MORE for K = 2..5): K = 5 is the mix "all"; the K-sweep's
    # other mixes are scored on the focus sources alone
    assert jobs["train_rm"] == jobs["score_rm"] + jobs["score_rm_focus"] == 4 * (1 + 5 + 2 * 4)
    assert jobs["score_rm_focus"] == 4 * 2 * 3
    assert "results/scores/llama-2-13b/more-k3/harmless.parquet" in output
    assert "results/scores/llama-2-13b/more-k3/summ.parquet" not in output
    for rule in ["ksweep", "fig_cross_dataset", "fig_schemes", "fig_reward_differences", "fig_ksweep", "fig_reliability",
                 "fig_lambda", "fig_length_bias", "fig_truth"]:
        assert jobs[rule] == 4, rule
    assert jobs["claims"] == 1
    assert "results/rm/llama-2-13b/more-k3" in output and "results/figures/pythia-1.4b/fig6_ksweep.pdf" in output


def test_paper_config_dry_run_lists_alignment_and_judging_without_a_key(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")  # the ZeRO configs, relative to the working directory
    env = {"OPENAI_API_KEY": ""}
    _, output = snakemake(tmp_path, "-n", f"--configfile={PAPER}", "table1", "fig7", "align", env=env)
    jobs = job_counts(output)
    # RJS with MultiTask and MORE of 4 bases, plus LLaMA-2-7B's MORE K-sweep (k2, k3, k4; K = 5 is "all")
    assert jobs["rjs_policy"] == 4 * 2 + 3 and jobs["generate"] == jobs["perplexity"] == 2 + 11
    assert jobs["rjs_sample"] == 1 and jobs["sft_policy"] == 1 and "pretrain_policy" not in jobs
    assert jobs["judge"] == 2 * (4 + 4)  # helpful and harmless: MORE vs MultiTask per base, 4 K-sweep vs SFT
    assert "results/judgments/rjs-llama-2-7b-more-k2_vs_sft/harmless.jsonl" in output
    assert "chavinlo/alpaca-native" in output


def test_paper_config_dry_run_lists_the_paper_grid(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")  # the ZeRO configs, relative to the working directory
    _, output = snakemake(tmp_path, "-n", f"--configfile={PAPER}", "results/table2.csv")
    jobs = job_counts(output)
    # the hub stage fetches the four data repositories and the four bases (not the policy: no RJS here)
    assert jobs == {"hub_fetch": 8, "prepare_source": 5, "holdout_source": 5, "resample_source": 5, "train_rm": 32,
                    "score_rm": 32, "evaluate_rm": 4, "table2": 1}
    for source in SOURCES:
        assert f"results/data/{source}/train.40000.jsonl" in output
    for base in ["pythia-1.4b", "pythia-2.8b", "llama-2-7b", "llama-2-13b"]:
        for scheme in ["raw", "single-summ", "multitask-all", "more-all"]:
            assert f"results/rm/{base}/{scheme}" in output
    assert "build_tokenizer" not in output  # the paper world uses each base model's tokenizer


def test_config_with_a_wrong_type_fails_before_any_job_naming_the_key(tmp_path):
    code, output = snakemake(tmp_path, "--configfile", DEFAULT, "--config", "resample={n: lots}", check=False)
    assert code != 0
    assert "config key 'resample.n': 'lots' is not an integer" in output
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
