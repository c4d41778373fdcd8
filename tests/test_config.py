"""Config validation (more_lib.core.config_check): strict integers, validated overrides, world feature
names, names that cannot reach a path or a shell command, one short line per problem, naming the key."""

import copy
import re
import string
import time

import pytest
import yaml

from more_lib.core import config_check
from more_lib.core.errors import ConfigError
from tests.tiny_world import merged
from tests.workflow_run import DEFAULT, PAPER, REPO, SMOKE, snakemake

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = yaml.safe_load(DEFAULT.read_text())
HOSTILE = ["`touch pwned`", "../../../x", "two words"]
IDENTIFIER = "a letter, then letters, digits or underscores; 48 characters at most"


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
     f"config key 'sources': the name 'tiny-s' is not allowed ({IDENTIFIER})"),
    # YAML's .nan and .inf are floats that pass the schema's `number`, anywhere in the tree
    (lambda c: c["reward"]["more"].update(alpha=float("nan")), "config key 'reward.more.alpha': nan is not a finite number"),
    (lambda c: c["reward"].update(lr=float("inf")), "config key 'reward.lr': inf is not a finite number"),
    (lambda c: c["alignment"]["sft"].update(lr=float("nan")), "config key 'alignment.sft.lr': nan is not a finite number"),
    (lambda c: c["sources"]["helpful"]["drift"].update(safe=float("-inf")),
     "config key 'sources.helpful.drift.safe': -inf is not a finite number"),
    (lambda c: c["bases"]["tiny-s"]["config"].update(initializer_range=float("nan")),
     "config key 'bases.tiny-s.config.initializer_range': nan is not a finite number"),
    (lambda c: c["mixes"].update(all=yaml.safe_load("&all [helpful, *all]")),
     "config key 'mixes.all.1': a YAML alias of a value that contains it"),
    # the whole name (Python's `$` also matched before a final newline), 48 characters at most
    (lambda c: c["sources"].update({"helpful\n": c["sources"]["helpful"]}),
     f"config key 'sources': the name 'helpful\\n' is not allowed ({IDENTIFIER})"),
    (lambda c: c["bases"].update({"tiny-s\n": c["bases"]["tiny-s"]}), "config key 'bases': the name 'tiny-s\\n' is not allowed"),
    (lambda c: c["mixes"].update({"m" * 300: ["helpful"]}),
     f"config key 'mixes': the name '{'m' * 27}...{'m' * 28}' is not allowed ({IDENTIFIER})"),
    (lambda c: c["bases"].update({"b" * 49: c["bases"]["tiny-s"]}),
     (f"config key 'bases': the name '{'b' * 49}' is not allowed (a letter, then letters, digits, '_', '-' and single "
      "dots between them, as in pythia-1.4b; 48 characters at most)")),
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


def laughs(levels, width):
    """A "billion laughs": `levels` nested lists, each `width` times the same list; yaml.safe_dump writes
    every repeat as an alias, so the file stays a few kB."""
    node = "lol"
    for _ in range(levels):
        node = [node] * width
    return node


def test_a_yaml_alias_bomb_is_refused_at_once_on_one_line(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(yaml.safe_dump(changed(lambda c: c["mixes"].update(all=laughs(9, 9)))))
    message = "config key 'mixes.all': 435,848,050 values once its YAML aliases are expanded (at most 100,000 in a config)"
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        checked(yaml.safe_load(path.read_text()))
    assert str(error.value) == message and time.monotonic() - started < 2
    # Snakemake loads a --configfile without expanding aliases in lists: the workflow's check sees the same tree
    code, output = snakemake(tmp_path / "work", "-n", "--configfile", path, check=False)
    assert code != 0 and message in output and len(output.splitlines()) < 15, output[-3000:]


def renamed(node, names):
    """`node` with every key and string value that `names` maps replaced by its new name."""
    if isinstance(node, dict):
        return {names.get(key, key): renamed(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [renamed(value, names) for value in node]
    return names.get(node, node) if isinstance(node, str) else node


def test_names_of_48_characters_fit_in_every_path_and_a_longer_one_is_refused(tmp_path):
    def name(first, length):  # not a repeated letter: Snakemake refuses a periodic wildcard value
        return (first + string.ascii_letters)[:length]

    with pytest.raises(ConfigError, match="^config key 'mixes': the name .* 48 characters at most"):
        checked(renamed(CONFIG, {"all": name("m", 49)}))
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(renamed(CONFIG, {"helpful": name("h", 48), "tiny-s": name("b", 48),
                                                    "all": name("m", 48)})))
    _, output = snakemake(tmp_path / "work", "-n", "--configfile", path)
    paths = [p for line in re.findall(r"^ +(?:output|log|benchmark): (.+)$", output, re.MULTILINE)
             for p in line.split(", ")]
    longest = max((part for p in paths for part in p.split("/")), key=len)
    # the longest is Table 1's comparison folder; io.atomic_path writes a file as .{name}.XXXXXXXX.tmp first
    assert "_vs_" in longest and len(longest.encode()) + len("..XXXXXXXX.tmp") <= 255, longest
