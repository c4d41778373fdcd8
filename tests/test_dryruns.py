"""CI checks that need no cluster: the paper's whole DAG dry-runs through the slurm profile as a
user types it from the repository root, and `snakemake --lint` reports nothing unjustified."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.workflow_run import DEFAULT, REPO, job_counts, snakemake

pytestmark = pytest.mark.slow


def from_repo_root(workdir, *args):
    """snakemake run from the repository root, as typed there (`--profile slurm` is the folder
    slurm/), with a scratch working directory so that no results/ of a real run is read. The config
    files the workflow reads from the working directory (ZeRO configs, judge prompts) are copied there."""
    if not (Path(workdir) / "config").exists():
        shutil.copytree(REPO / "config", Path(workdir) / "config")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "snakemake", *args, "--directory", str(workdir)], cwd=REPO,
                            check=False, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def job_blocks(output, rule):
    return re.findall(rf"^rule {rule}:\n((?:    .*\n|Shell command: .*\n)+)", output, re.MULTILINE)


def test_paper_dag_dry_runs_through_the_slurm_profile(tmp_path):
    started = time.monotonic()
    code, output = from_repo_root(tmp_path, "--profile", "slurm", "-n", "--configfile=config/paper.yaml")
    print(f"paper DAG dry run with --profile slurm: {time.monotonic() - started:.1f} s")
    assert code == 0, output[-6000:]
    assert "Using profiles slurm and workflow specific profile" in output
    jobs = job_counts(output)
    print(f"{sum(jobs.values())} jobs: {jobs}")
    # 4 bases x (raw, 5 single, MultiTask and MORE for K = 2..5); K = 2..4 scored on the focus sources alone
    assert jobs["train_rm"] == jobs["score_rm"] + jobs["score_rm_focus"] == 4 * (1 + 5 + 2 * 4)
    assert jobs["score_rm_focus"] == 4 * 2 * 3
    trainings = job_blocks(output, "train_rm")
    assert len(trainings) == jobs["train_rm"]
    for block in trainings:
        # GPUs, memory and time from config/paper.yaml; partition and account still to be edited.
        resources = dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"^    resources: (.*)$", block, re.MULTILINE)[1]))
        assert resources["gpu"] == "8" and int(resources["mem_mb"]) >= 128000 and int(resources["runtime"]) >= 720
        assert resources["slurm_partition"].startswith("EDIT") and resources["cpus_per_gpu"] == "8"
        # torchrun on the allocated GPUs, through the launcher.
        assert re.search(r"^Shell command: python \S+/scripts/launch\.py --cpu-ranks 1 \S+/scripts/reward/train_rm\.py ", block,
                         re.MULTILINE), block
    # Sub-minute CPU jobs run on the submitting node, never in the queue; GPU and training jobs do not.
    local = set(re.search(r"^Local rules \(run by snakemake itself, never submitted to a cluster\): (.*)$", output,
                          re.MULTILINE)[1].split(", "))
    assert local == LOCAL_RULES, sorted(local ^ LOCAL_RULES)
    assert not local & {"train_rm", "score_rm", "score_rm_focus", "rjs_policy", "generate", "judge"}
    # The hub stage fetches each of the 9 repositories the paper names, as local rules; it is part of
    # the DAG (not hidden behind it) and the only part that turns the network back on.
    assert jobs["hub_fetch"] == 9 and jobs["hub_lock"] == 1, jobs
    online = {rule for rule in jobs if any("HF_HUB_OFFLINE=0" in block for block in job_blocks(output, rule))}
    assert online == {"hub_fetch"}, online


# The list of local rules in docs/paper-world.md (Local rules).
LOCAL_RULES = {"hub", "hub_fetch", "hub_lock", "hub_refresh", "data_report", "evaluate_rm", "table2", "table2_seeds", "outliers", "ksweep", "calibration", "truth",
               "claims", "fig_cross_dataset", "fig_schemes", "fig_reward_differences", "fig_ksweep", "fig_reliability",
               "fig_lambda", "fig_length_bias", "fig_truth", "fig_claims", "fig7", "rjs_select", "selection_table",
               "ppl_table", "judge_ledger", "table1", "ablations_table", "fig_ablations"}


# Every lint `snakemake --lint` reports today, and why it stays: {title: rules or files it may name}.
# A lint outside this list fails the test; fix it or add it here with its reason.
ANY = "*"
ACCEPTED_LINTS = {
    # The script a rule runs is one of its inputs (code() in common.smk), so it is tracked like
    # any input; SCRIPTS only says where the repository's scripts/ folder is.
    "Shell command directly uses variable SCRIPTS from outside of the rule": ANY,
    # The source list shapes these rules' inputs (one file per source), so a change to it reruns
    # them through the input trigger already.
    "Shell command directly uses variable SOURCES from outside of the rule": {
        "table2", "table2_seeds", "claims", "fig_schemes", "fig_length_bias"},
    # Input functions sit next to the rules that use them (a stage reads as one file); only the
    # helpers every stage shares live in common.smk.
    "Mixed rules and functions in same snakefile.": {
        "hub.smk", "data.smk", "reward.smk", "ablations.smk", "evaluate.smk", "figures.smk", "align.smk", "judge.smk"},
    # The param is a hub id in the paper world and the policy folder in the synthetic one; that
    # folder is an input too, and the pipeline assumes a shared file system (SLURM included).
    "Param init is a prefix of input or output file but hardcoded": {"sft_policy", "rjs_policy"},
    "Param policy is a prefix of input or output file but hardcoded": {"rjs_sample"},
    # Run on purpose by the user, who reads on the terminal which commit each repository moved to.
    "No log directive defined": {"hub_refresh"},
    # Not asked of the user: the Snakefile sets it, keeping any file the user names, so that docutils
    # fails the report on a caption it warns about (workflow/report/docutils.conf).
    "Environment variable DOCUTILSCONFIG used but not asserted with envvars directive": {"Snakefile"},
}


def lints(output):
    """[(title, rule name or snakefile name)] from --lint's text report."""
    found, where = [], None
    for line in output.splitlines():
        header = re.match(r"Lints for (?:rule (\w+) \(|snakefile (\S+):)", line)
        if header:
            where = header[1] or Path(header[2]).name
        item = re.match(r"    \* (.*?)(?: in line \d+\.)?:?$", line)
        if item and where:
            found.append((item[1], where))
    return found


def test_lint_reports_only_the_justified_lints(tmp_path):
    code, output = from_repo_root(tmp_path, "--lint", "--configfile=config/config.yaml")
    found = lints(output)
    print(f"snakemake --lint: {len(found)} lints")
    unexpected = [(title, where) for title, where in found
                  if not (ACCEPTED_LINTS.get(title) == ANY or where in ACCEPTED_LINTS.get(title, ()))]
    assert not unexpected, "\n".join(f"{where}: {title}" for title, where in unexpected)
    assert found or code == 0, output[-3000:]  # a lint run that failed before linting is no pass


def test_the_default_policy_is_tiny_s_lm_and_a_policy_of_its_own_is_pretrained_apart(tmp_path):
    """policy.base_lm: SFT starts from the base's LM, which pretrain_base trains once for RMs and policy alike;
    a policy with its own config and pretrain block is trained into results/policy/base instead."""
    config = yaml.safe_load(DEFAULT.read_text())
    own = {**config, "policy": {"tokenizer": "results/tokenizer", "config": config["bases"]["tiny-s"]["config"],
                                "template": "{prompt}", "pretrain": config["bases"]["tiny-s"]["pretrain"]}}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    for configfile, lm_rule, other, init in [(DEFAULT, "pretrain_base", "pretrain_policy", "results/lm/tiny-s"),
                                             (tmp_path / "own.yaml", "pretrain_policy", "pretrain_base",
                                              "results/policy/base")]:
        _, output = snakemake(tmp_path, "-n", f"--configfile={configfile}", "results/policy/sft")
        jobs = job_counts(output)
        assert jobs[lm_rule] == 1 and jobs["sft_policy"] == 1 and other not in jobs, jobs
        assert re.search(rf"^rule {lm_rule}:\n(?:    .*\n)*?    output: {init}$", output, re.MULTILINE), output[-3000:]
        assert re.search(rf"train_policy\.py .* --init {init} ", output), output[-3000:]
