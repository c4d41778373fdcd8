"""The repository's slurm profile on a real one-node SLURM cluster (tests/slurm_cluster.py).

Every job of a small part of the default DAG (the smoke world's data and one tiny reward model) goes
through `--profile slurm` as real sbatch jobs. A second profile overrides only what this cluster
needs: its partition, no account, squeue for status (no accounting storage, so no sacct), short
status polls and less memory per job. Skipped, with the reason, where the machine cannot run a
cluster (not root, no apt, a real SLURM installation).
"""

import os
import re
import subprocess
import time

import pytest
import yaml

from tests.slurm_cluster import why_not
from tests.tiny_world import write_tiny_world
from tests.workflow_run import REPO, snakemake

pytestmark = pytest.mark.cluster

KEEP = ["helpful", "harmless"]
TARGETS = [*(f"results/data/{source}/train.jsonl" for source in KEEP), "results/rm/tiny-s/raw", "results/data/report.csv"]
# Status polls: the plugin waits this long after a check that saw a job finish and 10 s more after
# each check that saw none; Snakemake exits one wait after the last job. A job takes 10-16 s here
# (two Snakemake start-ups, then the script), so with 4 s each level of the DAG is seen done at the
# check 18 s after its submission and the run ends 4 s after the last job: ~60 s for the 4 jobs.
STATUS_SECONDS = 4


def local_overrides(folder, partition, status_seconds=STATUS_SECONDS, mem_mb=1000):
    """A profile read after the repository's: its top-level keys replace the shipped ones. The node
    has a few GB, not a cluster's: every rule's memory is capped at `mem_mb` (the rules whose
    memory the config sets, training, ask for what the config says)."""
    shipped = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    resources = {key: value for key, value in shipped["default-resources"].items() if key != "slurm_account"}
    resources.update(slurm_partition=partition, mem_mb=mem_mb)
    per_rule = {rule: {**values, "mem_mb": min(values.get("mem_mb", mem_mb), mem_mb)}
                for rule, values in shipped["set-resources"].items()}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "default-resources": resources,
        "set-resources": per_rule,
        "slurm-status-command": "squeue",
        # The plugin keeps squeue only while MinJobAge (3600 s here) >= 3x this.
        "slurm-init-seconds-before-status-checks": status_seconds,
        "seconds-between-status-checks": status_seconds,
        "latency-wait": 5,
    }))
    return folder


def slurm_jobs(ids):
    """{job id: (state, comment)}; the comment names the rule (squeue keeps finished jobs here)."""
    out = subprocess.run(["squeue", "-t", "all", "-h", "-j", ",".join(ids), "-o", "%i|%T|%k"],
                         check=True, capture_output=True, text=True).stdout
    return {i: (state, comment) for i, state, comment in (line.split("|", 2) for line in out.splitlines())}


def test_slurm_profile_builds_data_and_a_reward_model_as_sbatch_jobs(partition, tmp_path, capsys):
    workdir = tmp_path / "work"
    overrides = local_overrides(tmp_path / "profile", partition)
    started = time.monotonic()
    # The smoke world with two of its sources: four jobs to the first reward model, not seven.
    config = write_tiny_world(tmp_path / "config.yaml", sources=KEEP, bases=["tiny-s"])
    code, output = snakemake(workdir, *TARGETS, "--profile", str(REPO / "slurm"), "--profile", str(overrides),
                             f"--configfile={config}", check=False)
    elapsed = time.monotonic() - started
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    with capsys.disabled():  # into CI's log, passed or not
        print(f"\nsnakemake --profile slurm: {elapsed:.1f} s, sbatch job ids: {' '.join(ids)}")
    assert code == 0, output[-6000:]
    total = int(re.search(r"^total\s+(\d+)", output, re.MULTILINE)[1])
    # 2 sources, their held-out and resampled splits, tokenizer, the base LM, the RM via sbatch; the data
    # report is a local rule: it runs on this node and is never queued.
    assert len(ids) == len(set(ids)) == total - 1 == 9, output[-3000:]
    assert re.search(r"^localrule data_report:", output, re.MULTILINE), output[-3000:]

    jobs = slurm_jobs(ids)
    with capsys.disabled():
        print("\n".join(f"  SLURM job {i}: {state} {comment}" for i, (state, comment) in jobs.items()))
    assert {state for state, _ in jobs.values()} == {"COMPLETED"}
    train = [i for i, (_, comment) in jobs.items() if comment.startswith("rule_train_rm")]
    assert len(train) == 1 and not any("data_report" in comment for _, comment in jobs.values())
    # The rule's own resources reached sbatch: memory and run time of the base (defaults 2000 MB, 60 min).
    details = subprocess.run(["scontrol", "show", "job", train[0]], check=True, capture_output=True,
                             text=True).stdout
    assert f"Partition={partition}" in details and "TimeLimit=01:00:00" in details
    assert re.search(r"(MinMemoryNode|mem)=2000M", details), details

    for target in TARGETS[:2]:
        lines = (workdir / target).read_text().splitlines()
        assert lines and all(line.startswith("{") for line in lines)
    model = workdir / "results" / "rm" / "tiny-s" / "raw"
    assert (model / "config.json").exists() and list(model.glob("*.safetensors"))
    # scripts/launch.py ran the training in the job: no GPU in this allocation, so a plain python.
    log = (workdir / "results" / "logs" / "train_rm" / "tiny-s" / "raw.log").read_text()
    assert re.search(r"^launch: \S*python\S* \S*train_rm\.py", log, re.MULTILINE), log[:500]


def test_harness_says_why_a_machine_cannot_run_the_cluster(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = why_not()
    assert reason and ("root" in reason or "Debian" in reason)
