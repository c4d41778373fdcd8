"""The README is part of the product: its commands, and the synthetic world it prints, match the repo."""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.workflow_run import snakemake

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def table_rows(first_cells):
    rows = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in first_cells:
            rows[cells[0]] = cells
    return rows


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["make pipeline", "make test"]
    ci_command = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command == "make test"


def test_readme_prints_the_synthetic_sources_as_configured():
    rows = table_rows(CONFIG["sources"])
    assert set(rows) == set(CONFIG["sources"])
    for name, spec in CONFIG["sources"].items():
        _, n_train, n_test, beta, drift = rows[name][:5]
        assert (int(n_train), int(n_test), float(beta)) == (spec["n_train"], spec["n_test"], spec["beta"])
        assert drift == ", ".join(f"{k} {v:+g}" for k, v in spec["drift"].items())


def test_readme_prints_the_shared_reward_as_configured():
    world = CONFIG["synthetic"]
    rows = table_rows([*world["attributes"], "relevance", "length"])
    for name, attribute in world["attributes"].items():
        assert float(rows[name][1]) == attribute["weight"]
        assert rows[name][2] == ", ".join(attribute["words"])
    assert float(rows["relevance"][1]) == world["relevance_weight"]
    assert float(rows["length"][1]) == world["length_weight"]


# a `--config` example: the option, then a KEY=VALUE (a mention of the bare option is no example)
CONFIG_OPTION = re.compile(r"--config\s+\S+=")


def config_examples():
    """Every README command that sets a key with `--config`: inline code and lines of code blocks."""
    blocks = re.findall(r"^```\w*\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```\w*\n.*?^```", "", README, flags=re.MULTILINE | re.DOTALL)
    code = [*re.findall(r"`([^`\n]+)`", prose), *(line for block in blocks for line in block.splitlines())]
    return [text for text in code if CONFIG_OPTION.search(text)]


def split_example(text):
    """An example's environment, snakemake arguments, the same without its `--config` part, and the
    {key: value} it sets, the values read as YAML."""
    words = shlex.split(text, comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[:1] == ["snakemake"], f"README: {text!r} sets --config but is no whole snakemake command"
    start = words.index("--config") + 1
    end = next((i for i in range(start, len(words)) if words[i].startswith("-")), len(words))
    settings = dict(word.split("=", 1) for word in words[start:end])
    without = words[1:start - 1] + words[end:]
    return env, words[1:], without, {key: yaml.safe_load(value) for key, value in settings.items()}


def shown(key, value):
    """What a dry run prints once `--config key=value` took effect (jobs' outputs, shell commands)."""
    if key == "replicates":
        return [f"results/seed{seed}/rm/{base}/" for seed in value["seeds"] for base in value["bases"]]
    if key == "judge":  # the judge rule passes its block as JSON
        return [f'"{name}": {json.dumps(setting)}' for name, setting in value.items()]
    raise AssertionError(f"README's --config {key}=...: add what a dry run shows of it to tests/test_readme.py")


def test_every_config_example_is_found():
    assert len(config_examples()) == len(CONFIG_OPTION.findall(README)) >= 2


@pytest.mark.parametrize("text", config_examples(),
                         ids=lambda text: re.search(r"--config\s+(\S+?)=", text)[1])
def test_a_config_example_runs_as_written_and_takes_effect(text, tmp_path, monkeypatch):
    """Snakemake reads a nested `--config` value's leaves as strings; the workflow reads it as YAML."""
    env, args, without, settings = split_example(text)
    monkeypatch.chdir(REPO)  # the README's commands run in the repository, and read its config/ there
    for run in ("with", "without"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "config").symlink_to(REPO / "config")
    code, output = snakemake(tmp_path / "with", "-n", *args, env=env, check=False)
    assert code == 0, f"{text}\n{output[-3000:]}"
    _, before = snakemake(tmp_path / "without", "-n", *without, env=env)
    for key, value in settings.items():
        for line in shown(key, value):
            assert line in output and line not in before, (text, line)
