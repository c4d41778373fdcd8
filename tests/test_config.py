"""Config validation (more_lib.config_check): strict integers, validated overrides, world feature
names, names that cannot reach a path or a shell command, one short line per problem, naming the key."""

import copy

import pytest
import yaml

from more_lib import config_check
from more_lib.errors import ConfigError
from tests.tiny_world import merged
from tests.workflow_run import DEFAULT, PAPER, REPO, SMOKE, snakemake

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = yaml.safe_load(DEFAULT.read_text())
HOSTILE = ["`touch pwned`", "../../../x", "two words"]


def checked(config):
    config_check.check(config, SCHEMA)
    return config


def changed(change):
    config = copy.deepcopy(CONFIG)
    change(config)
    return config


def test_the_shipped_configs_pass_and_keep_their_names():
    smoke = merged(copy.deepcopy(CONFIG), yaml.safe_load(SMOKE.read_text()))
    for config in [copy.deepcopy(CONFIG), yaml.safe_load(PAPER.read_text()), smoke]:
        assert checked(config)["bases"] and config["sources"]
    assert list(checked(yaml.safe_load(PAPER.read_text()))["bases"]) == [
        "pythia-1.4b", "pythia-2.8b", "llama-2-7b", "llama-2-13b"]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["resample"].update(n=40.0), "config key 'resample.n': 40.0 is not an integer"),
    (lambda c: c["reward"].update(pairs_per_source=16.0), "config key 'reward.pairs_per_source': 16.0 is not an integer"),
    (lambda c: c["resample"].update(n=True), "config key 'resample.n': True is not an integer"),
    (lambda c: c["bases"]["tiny-s"].update(reward={"lrr": 5e-4}),
     "config key 'bases.tiny-s.reward.lrr': unknown key (expected one of: checkpoint_every, cpu_ranks, deepspeed, "),
    (lambda c: c["bases"]["tiny-s"].update(reward={"checkpoint_every": -3}),
     "config key 'bases.tiny-s.reward.checkpoint_every': -3 is less than the minimum of 1"),
    (lambda c: c["sources"]["helpful"]["drift"].update(informativ=0.5),
     ("config key 'sources.helpful.drift': 'informativ' is no feature of the synthetic world (expected one of: "
      "informative, safe, harmful, cited, polite, relevance, length)")),
    (lambda c: c["sources"]["summ"]["style"]["marker_rates"].update(rude=1.0),
     "config key 'sources.summ.style.marker_rates': 'rude' is no attribute of the synthetic world"),
    (lambda c: c.update(reward_lr=1e-3), "config key 'reward_lr': unknown key (expected one of: "),
    (lambda c: c["bases"]["tiny-s"].pop("tokenizer"),
     "config key 'bases.tiny-s': needs exactly one of: pretrained or config + tokenizer"),
    (lambda c: c["judge"].update(kind="gpt"), "config key 'judge.kind': 'gpt' is not one of oracle, openai"),
    (lambda c: c["policy"].update(base_lm="tiny-l"), "config key 'policy.base_lm' names bases not under 'bases': tiny-l"),
    (lambda c: c["bases"]["tiny-s"].pop("pretrain"),
     "config key 'policy.base_lm': base 'tiny-s' has no `pretrain` block, so the workflow trains no LM for it"),
    (lambda c: c["policy"].update(pretrained="chavinlo/alpaca-native"),
     "config key 'policy': needs exactly one of: pretrained or base_lm or tokenizer + config + pretrain"),
    (lambda c: c["sources"].update({"tiny-s": c["sources"]["helpful"]}),
     "config key 'sources': the name 'tiny-s' is not allowed (a letter, then letters, digits or underscores)"),
    (lambda c: c["mixes"].update({"all.5": ["helpful"]}), "config key 'mixes': the name 'all.5' is not allowed"),
    (lambda c: c["bases"].update({"a..b": c["bases"]["tiny-s"]}), "config key 'bases': the name 'a..b' is not allowed"),
    (lambda c: c["bases"].update({"(a|b)": c["bases"]["tiny-s"]}), "config key 'bases': the name '(a|b)' is not allowed"),
    (lambda c: c["judge"]["tasks"].update({"a/b": "helpful"}), "config key 'judge.tasks': the name 'a/b' is not allowed"),
])
def test_a_bad_config_fails_on_one_line_naming_the_key(change, message):
    with pytest.raises(ConfigError) as error:
        checked(changed(change))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_hostile_names_are_rejected_before_any_job_and_nothing_is_written_outside_the_workdir(tmp_path):
    workdir = tmp_path / "a" / "b" / "c" / "work"
    for name in HOSTILE:
        config = copy.deepcopy(CONFIG)
        config["sources"][name] = config["sources"]["helpful"]
        config["mixes"]["all"].append(name)
        path = tmp_path / "hostile.yaml"
        path.write_text(yaml.safe_dump(config))
        code, output = snakemake(workdir, "data", "--configfile", path, check=False)
        assert code != 0 and f"config key 'sources': the name {name!r} is not allowed" in output
        assert "rule prepare_source" not in output and "Job stats" not in output
        assert len(output.splitlines()) < 15
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if workdir not in [p, *p.parents])
    assert [str(p) for p in written] == ["a", "a/b", "a/b/c", "hostile.yaml"]
    assert not (workdir / "results").exists() and not (workdir / "pwned").exists()


def test_an_unknown_top_level_key_is_a_short_error_before_any_job(tmp_path):
    code, output = snakemake(tmp_path, "-n", "--configfile", DEFAULT, "--config", "reward_lr=0.001", check=False)
    assert code != 0 and "config key 'reward_lr': unknown key (expected one of: " in output and "reward, seed" in output
    assert len(output.splitlines()) < 15, output
