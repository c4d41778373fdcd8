"""The contract between rules and scripts, checked on the built smoke world:

- editing any library module reruns exactly the jobs whose scripts import it (directly or through
  other modules) and everything downstream of them — none missing, none extra;
- every job opens, under results/ and in the config folders (prompt templates, ZeRO and model
  configs), only files its rule declares.

The expectations are computed here independently of the workflow's own derivation: a rule's
scripts from the shell commands Snakemake prints, a script's modules with the standard library's
modulefinder (bytecode, not the workflow's ast walk), the downstream jobs from Snakemake's DAG.
"""

import modulefinder
import os
import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from tests.opened_files import traced, undeclared_opens
from tests.workflow_run import DEFAULT, REPO, SMOKE, job_counts, snakemake

pytestmark = pytest.mark.slow

# A module by its dotted name under more_lib ("reward.train"; a package by its own, the top one as
# "__init__"). Of the stage packages' __init__ files only data's is edited: the derivation is the same
# for each, and every edit costs a dry run of the smoke world.
MODULES = sorted({".".join(path.relative_to(REPO / "more_lib").with_suffix("").parts).removesuffix(".__init__")
                  for path in (REPO / "more_lib").rglob("*.py")} - {"core", "hub", "reward", "evaluate",
                                                                    "figures", "align", "judge", "benchmarks",
                                                                    "ablations", "data.converters"})


def smoke_snakemake(smoke, *args):
    """Snakemake on the smoke world with the configs of the code copy that built it."""
    configs = [smoke.repo / "config" / path.name for path in (DEFAULT, SMOKE)]
    return snakemake(smoke.workdir, *args, "--configfile", *configs, repo=smoke.repo)[1]


@pytest.fixture(scope="module")
def dag(smoke_run):
    """(rule of each job, the jobs each job feeds, the scripts each rule runs) of the whole smoke DAG."""
    dot = smoke_snakemake(smoke_run, "--dag", "--forceall")
    rule_of = {int(job): label.split("\\n")[0] for job, label in re.findall(r'^\s*(\d+)\[label = "([^"]*)"', dot, re.MULTILINE)}
    feeds = {job: set() for job in rule_of}
    for source, target in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.MULTILINE):
        feeds[int(source)].add(int(target))
    printed = smoke_snakemake(smoke_run, "-n", "-p", "--forceall")
    scripts = {}
    for rule, command in re.findall(r"^(?:local)?rule (\w+):\n(?:(?:    .*)?\n)*?Shell command: (.*)", printed, re.MULTILINE):
        scripts[rule] = set(re.findall(r"scripts/([\w/]+)\.py", command))
    return rule_of, feeds, scripts


def module_file(repo, module):
    """The file of a module id of MODULES in the checkout `repo`."""
    path = repo.joinpath("more_lib", *module.split(".")) if module != "__init__" else repo / "more_lib"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"


@cache
def modules_reached(script):
    """The more_lib modules a script reaches through imports, by modulefinder (library only)."""
    finder = modulefinder.ModuleFinder(path=[str(REPO)])
    finder.run_script(str(REPO / "scripts" / f"{script}.py"))
    return {name.split(".", 1)[1] for name in finder.modules if name.startswith("more_lib.")} | (
        {"__init__"} if "more_lib" in finder.modules else set())


def expected_jobs(dag, module):
    """Job counts per rule: the jobs of rules whose scripts reach `module`, and all they feed."""
    rule_of, feeds, scripts = dag
    todo = [job for job, rule in rule_of.items() if any(module in modules_reached(s) for s in scripts.get(rule, ()))]
    reached = set()
    while todo:
        job = todo.pop()
        if job not in reached:
            reached.add(job)
            todo += feeds[job]
    return Counter(rule_of[job] for job in reached)


def test_modulefinder_sees_the_imports_the_expectations_rest_on():
    assert {"reward.train", "reward.weighting", "core.seeding", "reward.models", "core.cli"} <= modules_reached(
        "reward/train_rm")
    assert {"evaluate.tables", "evaluate.metrics", "figures.plotting", "core.names"} <= modules_reached(
        "figures/fig_reward_differences")
    assert "judge.api" in modules_reached("judge/judge_pairs")  # imported inside a function of judge/pairs.py
    assert "reward.train" not in modules_reached("evaluate/make_table2")


@pytest.mark.parametrize("module", MODULES)
def test_editing_a_library_module_reruns_exactly_what_reaches_it(smoke_run, dag, module):
    path = module_file(smoke_run.repo, module)
    text, stat = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited\n")
        output = smoke_snakemake(smoke_run, "-n")
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    expected = expected_jobs(dag, module)
    scheduled = Counter(job_counts(output)) if "Job stats:" in output else Counter()
    assert scheduled == expected, f"{module}: scheduled {dict(scheduled)}, expected {dict(expected)}"


def test_every_job_opens_only_files_its_rule_declares(smoke_run):
    violations, unseen = undeclared_opens(smoke_run.trace, smoke_run.workdir, smoke_run.trace / "metadata",
                                          config_dirs=[smoke_run.repo / "config"])
    assert unseen == [], f"jobs the trace does not show: {unseen}"
    assert violations == []


def test_the_audit_finds_a_file_a_rule_does_not_declare(tmp_path):
    """The check above can fail: a rule that reads a file it does not declare is caught, under results/
    and in a config folder, the workdir's own or one outside it (the repository's, as the smoke build's),
    named by a relative or an absolute path."""
    workdir, repo_config = tmp_path / "work", tmp_path / "repo" / "config"
    for folder in (workdir / "results", workdir / "config", repo_config):
        folder.mkdir(parents=True)
        (folder / "declared.txt").write_text("a\n")
        (folder / "secret.txt").write_text("b\n")
    (tmp_path / "Snakefile").write_text(
        'rule leaky:\n'
        f'    input: "results/declared.txt", "{workdir}/config/declared.txt", "{repo_config}/declared.txt"\n'
        '    output: "results/out.txt"\n'
        f'    shell: "cat {{input}} results/secret.txt {workdir}/config/secret.txt {repo_config}/secret.txt"\n'
        '           " > {output}"\n')
    command = traced(["snakemake", "--cores", "1", "--snakefile", str(tmp_path / "Snakefile"),
                      "--directory", str(workdir)], tmp_path / "trace")
    subprocess.run(command, check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    violations, unseen = undeclared_opens(tmp_path / "trace", workdir, config_dirs=[repo_config])
    assert unseen == []
    assert violations == sorted([("leaky", "results/secret.txt"), ("leaky", "config/secret.txt"),
                                 ("leaky", str(repo_config.resolve() / "secret.txt"))])
