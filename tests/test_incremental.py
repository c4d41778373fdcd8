"""Incremental rebuilds: after one change, a dry run schedules exactly the artifacts that depend on it.

The smoke world (tests/conftest.py) is built from a copy of the workflow, scripts and library, so
that a script can be edited without touching the repository. Each case changes one thing (a config
value, a script) and compares the dry run's job list for Table 2 with the artifacts downstream of
the change. (A new judge model is the judge test's case in tests/test_workflow.py.)
"""

import os
import re

import pytest
import yaml

from more_lib.core import names
from tests.tiny_world import tiny_world
from tests.workflow_run import SOURCES, snakemake

BASE = "tiny-s"
# Table 2's reward models (the K-sweep's other mixes feed only Fig. 6 and the alignment)
SCHEMES = ["raw", *names.singles(SOURCES), names.multitask("all"), names.more("all")]
TARGET = "results/table2.csv"


def rm(scheme):
    return f"train_rm {BASE}/{scheme}"


def scores(scheme):
    return f"score_rm {BASE}/{scheme}"


def data(source):
    return {f"prepare_source {source}", f"holdout_source {source}", f"resample_source {source}/40"}


EVALUATION = {f"evaluate_rm {BASE}", "table2"}


def scheduled(output):
    """The jobs a dry run lists, as 'rule wildcard/values' ('train_rm tiny-s/more-all')."""
    jobs = set()
    for rule, block in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", output, re.MULTILINE):
        wildcards = re.search(r"^    wildcards: (.*)$", block, re.MULTILINE)
        # an empty value is the primary run's {rep} prefix: it names nothing
        values = [pair.split("=", 1)[1] for pair in wildcards[1].split(", ")] if wildcards else []
        values = [value for value in values if value]
        jobs.add(" ".join([rule, "/".join(values)]).strip())
    return jobs


# The smoke run's config as one file: config/config.yaml with config/smoke.yaml over it
CONFIG = tiny_world(SOURCES, [BASE])


def dry_run(smoke, config=CONFIG):
    path = smoke.workdir.parent / "changed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    _, output = snakemake(smoke.workdir, "-n", TARGET, f"--configfile={path}", repo=smoke.repo)
    return output


def changed(config, *keys, value):
    """A copy of `config` with the value at the key path `keys` replaced."""
    config = yaml.safe_load(yaml.safe_dump(config))
    node = config
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return config


def test_nothing_changed_nothing_scheduled(smoke_run):
    assert "Nothing to be done" in dry_run(smoke_run)


def test_more_alpha_reruns_only_the_more_reward_model_and_what_reads_it(smoke_run):
    config = changed(CONFIG, "reward", "more", "alpha", value=0.9)
    assert scheduled(dry_run(smoke_run, config)) == {rm("more-all"), scores("more-all"), *EVALUATION}


def test_one_sources_data_setting_reruns_that_source_and_everything_trained_after_it(smoke_run):
    config = changed(CONFIG, "sources", "harmless", "n_train", value=CONFIG["sources"]["harmless"]["n_train"] + 7)
    jobs = scheduled(dry_run(smoke_run, config))
    # The tokenizer and the base LM read every source's corpus, so every reward model retrains;
    # helpful's data stays.
    assert jobs == {*data("harmless"), "build_tokenizer", f"pretrain_base {BASE}", *map(rm, SCHEMES),
                    *map(scores, SCHEMES), *EVALUATION}
    assert not jobs & data("helpful")


def test_a_bases_rm_setting_retrains_its_rms_but_not_the_lm_they_start_from(smoke_run):
    # the base LM is also the default world's policy: retraining it would redo the whole alignment
    config = changed(CONFIG, "bases", BASE, "reward", value={"lr": 5e-4})
    assert scheduled(dry_run(smoke_run, config)) == {*map(rm, SCHEMES), *map(scores, SCHEMES), *EVALUATION}


@pytest.mark.parametrize("script, expected", [
    ("evaluate/make_table2.py", {"table2"}),
    ("evaluate/score_rm.py", {*map(scores, SCHEMES), *EVALUATION}),
])
def test_edited_script_reruns_the_rules_that_run_it_and_what_reads_their_outputs(smoke_run, script, expected):
    path = smoke_run.repo / "scripts" / script
    text, stat = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited\n")
        assert scheduled(dry_run(smoke_run)) == expected
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
