"""The paper world as its users run it, at toy size: config/paper.yaml with config/paper-mini.yaml over
it, its hub repositories written by scripts/hub/make_paper_mini.py and served by a local hub
(tests/hub_server.py), the judge kind `openai` against a local OpenAI-compatible server, every job
but the local rules an sbatch job on the real one-node SLURM cluster (tests/slurm_cluster.py).

As on a cluster whose compute nodes are offline: the hub stage runs first on the submitting node
(`snakemake hub`), then the whole DAG is submitted; the hub's request log must not grow after the
hub stage. Then a training job is cancelled with scancel midway and the rerun resumes it from its
checkpoint, ending bit for bit where the uninterrupted run ended.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests import judge_server
from tests.hub_server import hub_server
from tests.test_slurm import local_overrides, slurm_jobs
from tests.workflow_run import PAPER, REPO, snakemake

pytestmark = pytest.mark.cluster

MINI = REPO / "config" / "paper-mini.yaml"
KEY = "sk-paper-mini-test-key-31f0"
CANCELLED_RM = "results/rm/llama-2-7b/more-all"  # ZeRO-3 on two CPU ranks: the distributed checkpoint path
# The four bases' 288 jobs take about 30 minutes through SLURM on 2 cores, over this test's 15-minute
# budget; one Pythia and one Llama base keep every kind of job (docs/paper-world.md).
BASES = ["pythia-1.4b", "llama-2-7b"]
DROPPED = "bases: {pythia-2.8b: null, llama-2-13b: null}\n"
RM_SCHEMES = ["raw", "single-helpful", "single-harmless", "single-oasst1", "single-webgpt", "single-summ",
              "multitask-all", "more-all"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The hub's stand-ins for every repository config/paper.yaml names, and a working directory with
    the repository's config/ (the paper config names its ZeRO and prompt files relative to it)."""
    root = tmp_path_factory.mktemp("paper-mini")
    subprocess.run([sys.executable, str(REPO / "scripts" / "hub" / "make_paper_mini.py"), str(root / "hub-root")],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    shutil.copytree(REPO / "config", root / "work" / "config",
                    ignore=shutil.ignore_patterns("*.lock.json"))
    return root


def run(workdir, env, *args, check=True, background=False, timeout=900):
    configs = ["--configfile", str(PAPER), str(MINI), str(workdir / "local.yaml")]
    if background:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
                   "--directory", str(workdir), "--cores", "2", *args, *configs]
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the jobs' python, as snakemake()'s
        return subprocess.Popen(command, env=dict(os.environ, **env, PATH=path, PYTHONPATH=str(REPO)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return snakemake(workdir, *args, *configs, check=check, env=env, timeout=timeout)


def freeze_at_first_checkpoint(workdir, rm, run, timeout=600):
    """Stop every rank of `rm`'s training (SIGSTOP) as soon as its first checkpoint is complete."""
    latest = workdir / "results" / "checkpoints" / rm.removeprefix("results/") / "latest"
    deadline = time.monotonic() + timeout
    while not latest.exists():
        assert run.poll() is None, run.stdout.read()[-3000:]  # the run ended before its first checkpoint
        assert time.monotonic() < deadline, f"no checkpoint of {rm} after {timeout} s"
        time.sleep(0.02)
    ranks = [p for p in psutil.process_iter(["cmdline"])
             if "train_rm.py" in " ".join(p.info["cmdline"] or []) and rm in " ".join(p.info["cmdline"])]
    for process in ranks:
        process.send_signal(signal.SIGSTOP)
    return ranks


def test_paper_mini_runs_the_paper_dag_through_slurm_offline_and_resumes_after_scancel(world, partition, tmp_path,
                                                                                     capsys):
    workdir = world / "work"
    overrides = local_overrides(tmp_path / "profile", partition, status_seconds=2, mem_mb=1500)
    judge = judge_server.start(judge_server.longer_answer)
    (workdir / "local.yaml").write_text(f"judge: {{base_url: '{judge.url}'}}\n{DROPPED}")
    profile = ["--profile", str(REPO / "slurm"), "--profile", str(overrides)]
    try:
        with hub_server(world / "hub-root", log=tmp_path / "hub-requests.jsonl") as hub:
            env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "OPENAI_API_KEY": KEY}
            started = time.monotonic()
            run(workdir, env, "hub")  # on the submitting node, which has the network
            fetched = len(hub.requests)
            # ~140 sbatch jobs: about 12 minutes on an idle 2-core machine, more when it is shared
            code, output = run(workdir, env, "all", *profile, check=False, timeout=1800)
            elapsed = time.monotonic() - started
            ids = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
            with capsys.disabled():
                print(f"\npaper-mini through SLURM: {elapsed:.0f} s, {len(ids)} sbatch jobs")
            assert code == 0, failures(output)
            assert len(hub.requests) == fetched, hub.requests[fetched:]  # compute jobs never asked the hub

            jobs = slurm_jobs(ids)
            assert {state for state, _ in jobs.values()} == {"COMPLETED"}
            assert not any(rule in comment for _, comment in jobs.values() for rule in ("hub_", "data_report"))
            check_paper_artifacts(workdir, judge)
            assert "Nothing to be done" in run(workdir, env, "all", "-n", *profile)[1]

            # Preemption: scancel the ZeRO-3 training midway; the rerun resumes it from its checkpoint.
            uninterrupted = (workdir / CANCELLED_RM / "model.safetensors").read_bytes()
            shutil.rmtree(workdir / CANCELLED_RM)
            rerun = run(workdir, env, CANCELLED_RM, *profile, background=True)
            ranks = freeze_at_first_checkpoint(workdir, CANCELLED_RM, rerun)
            training = [i for i, (state, comment) in slurm_jobs(all_job_ids()).items()
                        if state == "RUNNING" and comment.startswith("rule_train_rm")]
            assert len(training) == 1 and ranks, (training, ranks)
            subprocess.run(["scancel", training[0]], check=True)
            assert rerun.wait(timeout=300) != 0, rerun.stdout.read()[-3000:]
            assert not (workdir / CANCELLED_RM).exists()
            run(workdir, env, CANCELLED_RM, *profile)
            log = (workdir / "results/logs/train_rm/llama-2-7b/more-all.log").read_text()
            checkpoint_lines = [line for line in log.splitlines() if "checkpoint" in line and "Warning" not in line]
            assert "resumed from the checkpoint at step 10" in checkpoint_lines, (checkpoint_lines, log[-3000:])
            assert (workdir / CANCELLED_RM / "model.safetensors").read_bytes() == uninterrupted
            assert len(hub.requests) == fetched
    finally:
        judge_server.stop(judge)


def failures(output):
    """Each failed job's block and its log, as Snakemake printed them (the run's tail alone may not
    show them)."""
    blocks = re.findall(r"^Error in rule .*?(?=^\[|\Z)", output, re.MULTILINE | re.DOTALL)
    return "\n".join(block[-3000:] for block in blocks) or output[-6000:]


def all_job_ids():
    out = subprocess.run(["squeue", "-t", "all", "-h", "-o", "%i"], check=True, capture_output=True, text=True).stdout
    return out.split()


def check_paper_artifacts(workdir, judge):
    """Every artifact of the paper DAG, with the checks a reader would make first."""
    results = workdir / "results"
    lock = json.loads((workdir / "config" / "paper-mini.lock.json").read_text())["repositories"]
    assert sorted(entry["id"] for entry in lock.values()) == sorted([
        "Anthropic/hh-rlhf", "OpenAssistant/oasst1", "openai/webgpt_comparisons", "openai/summarize_from_feedback",
        "EleutherAI/pythia-1.4b", "meta-llama/Llama-2-7b-hf", "chavinlo/alpaca-native"])
    assert all(re.fullmatch(r"[0-9a-f]{40}", entry["commit"]) and entry["files"] for entry in lock.values())
    report = pd.read_csv(results / "data" / "report.csv")
    assert report["hub_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    bases = BASES
    rms = [results / "rm" / base / scheme for base in bases for scheme in RM_SCHEMES]
    assert all((rm / "model.safetensors").exists() for rm in rms)  # the paper's 4 x 8 grid
    ksweep = [results / "rm" / base / f"{kind}-k{k}" for base in bases for kind in ("more", "multitask")
              for k in (2, 3, 4)]
    assert all((rm / "model.safetensors").exists() for rm in ksweep)
    table2 = pd.read_csv(results / "table2.csv")
    assert sorted(table2["base"].unique()) == sorted(bases) and table2["avg"].between(0, 1).all()
    claims = pd.read_csv(results / "claims.csv")
    assert set(claims["base"]) >= set(bases) and claims["verdict"].notna().all()
    table1 = pd.read_csv(results / "table1.csv")
    assert set(table1["base"]) == {"-", *bases} and (table1.dropna(subset=["judged"])["judged"] > 0).all()
    assert judge.log and {entry["auth"] for entry in judge.log} == {f"Bearer {KEY}"}  # the openai client's calls
    for table in ("outliers", "ksweep", "calibration"):
        assert all((results / table / f"{base}.csv").exists() for base in bases)
    assert (results / "figures" / "fig7_correlation.png").exists()
    assert all((results / "figures" / base / "claims_forest.png").exists() for base in bases)
