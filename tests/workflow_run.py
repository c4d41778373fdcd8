"""Real Snakemake runs of the repository's workflow in tests, and the smoke world built once."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from more_lib.core import warm_start
from tests.opened_files import traced

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config" / "config.yaml"
SMOKE = REPO / "config" / "smoke.yaml"
PAPER = REPO / "config" / "paper.yaml"
SOURCES = ["helpful", "harmless", "oasst1", "webgpt", "summ"]


def snakemake(workdir, *args, check=True, env=None, repo=REPO, trace_dir=None, timeout=900):
    """Run snakemake on `repo`'s workflow with `workdir` as its working directory (under strace,
    writing into `trace_dir`, when one is given)."""
    env = dict(os.environ, **(env or {}), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(repo))  # the jobs import that copy's more_lib
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    if trace_dir is not None:
        # A warm-started job descends from the warm-start server, not from its job's shell, which is
        # how the trace tells jobs apart: a traced run starts every job cold (the same scripts).
        env[warm_start.ENV] = "0"
        command = traced(command, trace_dir)
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"snakemake failed ({result.returncode}):\n{output[-6000:]}")
    return result.returncode, output


def job_counts(output):
    """The dry run's job stats table as {rule: count}."""
    lines = output.split("Job stats:")[1].split("total")[0].splitlines()[3:]
    return {rule: int(count) for rule, count in (line.split() for line in lines if line.strip())}


class Smoke(NamedTuple):
    workdir: Path
    repo: Path  # the copy of the workflow, scripts, library and config that built it
    trace: Path  # strace's record of the build: which files each job opened


def build_smoke(root):
    """The whole DAG on the smoke config, run from a copy of the repository's code so that a test can
    edit a script or module (tests/test_incremental.py) without touching the repository, and traced
    so that a test can check what each job opened (tests/test_rule_contracts.py)."""
    repo = root / "repo"
    for part in ("workflow", "scripts", "more_lib", "config"):
        shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    snakemake(root / "work", "--configfile", DEFAULT, SMOKE, repo=repo, trace_dir=root / "trace")
    # the traced build's job records, before other tests run more jobs in the same folder
    shutil.copytree(root / "work" / ".snakemake" / "metadata", root / "trace" / "metadata")
    return Smoke(root / "work", repo, root / "trace")
