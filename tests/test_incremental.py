"""Incremental rebuilds: after one change, a dry run schedules exactly the artifacts that depend on it.

A tiny default-world DAG (two sources, one base: data, five reward models, scores, metrics, Table 2)
is built once with a copy of the workflow, scripts and library, so that a script can be edited
without touching the repository. Each case then changes one thing (a config value, a script) and
compares the dry run's job list with the artifacts downstream of the change.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_workflow import REPO
from tests.tiny_world import tiny_world

SOURCES = ["helpful", "harmless"]
BASE = "tiny-s"
SCHEMES = ["raw", *(f"single-{s}" for s in SOURCES), "multitask-all", "more-all"]
TARGET = "results/table2.csv"


def rm(scheme):
    return f"train_rm {BASE}/{scheme}"


def scores(scheme):
    return f"score_rm {BASE}/{scheme}"


def data(source):
    return {f"prepare_source {source}", f"holdout_source {source}", f"resample_source {source}/40"}


EVALUATION = {f"evaluate_rm {BASE}", "table2"}


def run(repo, workdir, *args):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(repo))  # the jobs import the copy's more_lib
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def scheduled(output):
    """The jobs a dry run lists, as 'rule wildcard/values' ('train_rm tiny-s/more-all')."""
    jobs = set()
    for rule, block in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", output, re.MULTILINE):
        wildcards = re.search(r"^    wildcards: (.*)$", block, re.MULTILINE)
        values = [pair.split("=", 1)[1] for pair in wildcards[1].split(", ")] if wildcards else []
        jobs.add(" ".join([rule, "/".join(values)]).strip())
    return jobs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    repo = root / "repo"
    for part in ("workflow", "scripts", "more_lib", "config"):
        shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    config = tiny_world(SOURCES, [BASE])
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run(repo, root / "work", TARGET, f"--configfile={root / 'config.yaml'}")
    return repo, root / "work", config


def dry_run(built, config=None):
    repo, workdir, default = built
    path = workdir.parent / "changed.yaml"
    path.write_text(yaml.safe_dump(config or default, sort_keys=False))
    return run(repo, workdir, "-n", TARGET, f"--configfile={path}")


def changed(config, *keys, value):
    """A copy of `config` with the value at the key path `keys` replaced."""
    config = yaml.safe_load(yaml.safe_dump(config))
    node = config
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return config


def test_nothing_changed_nothing_scheduled(built):
    assert "Nothing to be done" in dry_run(built)


def test_more_alpha_reruns_only_the_more_reward_model_and_what_reads_it(built):
    config = changed(built[2], "reward", "more", "alpha", value=0.9)
    assert scheduled(dry_run(built, config)) == {rm("more-all"), scores("more-all"), *EVALUATION}


def test_one_sources_data_setting_reruns_that_source_and_everything_trained_after_it(built):
    config = changed(built[2], "sources", "harmless", "n_train", value=built[2]["sources"]["harmless"]["n_train"] + 7)
    jobs = scheduled(dry_run(built, config))
    # The tokenizer reads every source's corpus, so every reward model retrains; helpful's data stays.
    assert jobs == {*data("harmless"), "build_tokenizer", *map(rm, SCHEMES), *map(scores, SCHEMES), *EVALUATION}
    assert not jobs & data("helpful")


@pytest.mark.parametrize("script, expected", [
    ("make_table2.py", {"table2"}),
    ("score_rm.py", {*map(scores, SCHEMES), *EVALUATION}),
])
def test_edited_script_reruns_the_rules_that_run_it_and_what_reads_their_outputs(built, script, expected):
    path = built[0] / "scripts" / script
    text, stat = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited\n")
        assert scheduled(dry_run(built)) == expected
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
