"""The GPU check as a stock CUDA node runs it (docs/gpu-check.md), as far as this machine can
recreate one: `make wheelhouse` here, then a fresh virtual environment with this machine's torch, the
oldest transformers pyproject.toml allows and only the stock image's other packages (no DeepSpeed,
hjson or pydantic), no package registry, and scripts/benchmarks/gpu_node.sh running the check with --tiny.

What differs from a real node: Python 3.11 here (torch has no Python 3.12 CPU wheel on this machine,
so 3.12 is checked for installing the wheelhouse only) and torch 2.13.0 (2.11, the node's, cannot
be installed here), on the CPU."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
# A stock CUDA image's packages beside torch and transformers (issue 23); huggingface_hub at its version.
STOCK = ["huggingface_hub==1.33.0", "pandas", "pyarrow", "scipy", "matplotlib", "tensorboard", "tqdm", "pyyaml",
         "safetensors", "tokenizers", "sentencepiece"]
# What such an image lacks (some of it comes here with transformers' own dependencies: removed again).
LACKS = ["deepspeed", "hjson", "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "py-cpuinfo",
         "einops", "msgpack", "ninja", "psutil"]
MAX_WHEELHOUSE_MIB = 60

pytestmark = pytest.mark.slow


def oldest_transformers():
    """The lower bound of pyproject.toml's transformers requirement."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return re.fullmatch(r"transformers>=([\d.]+)", next(d for d in dependencies if d.startswith("transformers")))[1]


def run(command, env=None, **kwargs):
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def node_env(python, **extra):
    """A node's environment: no package registry (no pip configuration), nothing of this project's
    virtual environment on the path."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    path = [p for p in keep.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)]
    return {**keep, "PATH": os.pathsep.join([str(Path(python).parent), *path]), "PIP_CONFIG_FILE": os.devnull,
            "PYTHON": str(python), **extra}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("node") / "wheelhouse"
    run(["make", "-s", "wheelhouse", f"WHEELHOUSE={folder}"], cwd=REPO, timeout=600)
    return folder


@pytest.fixture(scope="module")
def stock_python(tmp_path_factory):
    """A fresh virtual environment like a stock CUDA image's Python: this machine's torch (pinned, so
    that pip never picks another build), the oldest transformers allowed, the stock packages."""
    venv = tmp_path_factory.mktemp("stock") / "venv"
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--no-compile", "torch==2.13.0",
         f"transformers=={oldest_transformers()}", *STOCK], timeout=900)
    run([python, "-m", "pip", "uninstall", "-y", "-q", *LACKS])
    return python


def freeze(python):
    return run([python, "-m", "pip", "freeze", "--all"]).stdout


def test_the_wheelhouse_is_small_and_serves_python_3_11_and_3_12(wheelhouse):
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert sum(p.stat().st_size for p in wheelhouse.iterdir()) <= MAX_WHEELHOUSE_MIB * 2**20
    assert any(re.fullmatch(r"deepspeed-[\d.]+-py3-none-any\.whl", w) for w in wheels)
    for binary in ("pydantic_core", "msgpack"):
        for tag in ("cp311", "cp312"):
            assert any(w.startswith(f"{binary}-") and f"-{tag}-{tag}-" in w for w in wheels), (binary, tag)
    pins = (wheelhouse / "requirements.txt").read_text().split()
    assert {re.split("==", p)[0] for p in pins} == set(LACKS) | {"typing-extensions"}


def test_a_stock_node_runs_the_gpu_check_from_the_wheelhouse(wheelhouse, stock_python, tmp_path):
    target, output = tmp_path / "gpu-node", tmp_path / "gpu.csv"
    env = node_env(stock_python, WHEELHOUSE=str(wheelhouse), GPU_NODE_DIR=str(target))
    code = "import importlib.util as u; print([m for m in ('deepspeed', 'hjson', 'pydantic', 'more_lib') if u.find_spec(m)])"
    lacking = run([stock_python, "-c", code], env=env, cwd=tmp_path)
    assert lacking.stdout.strip() == "[]"
    before = freeze(stock_python)
    result = run([REPO / "scripts" / "benchmarks" / "gpu_node.sh", "--tiny", "--threads", "1", "--output", output],
                 env=env, cwd=tmp_path, timeout=900)
    versions = result.stdout.splitlines()[0]
    assert f"transformers {oldest_transformers()}," in versions and f"({target})" in versions, versions
    frame = pd.read_csv(output)
    assert frame.groupby("measure").size().to_dict() == {
        "rm_training": 6, "more_overhead": 3, "speedup_over_paper": 2, "scoring": 3, "scoring_speedup": 1,
        "rjs_sampling": 1}
    assert not frame.note.fillna("").str.contains("did not fit").any()
    assert (frame[frame.measure == "rm_training"].tokens_per_s > 0).all()
    assert freeze(stock_python) == before  # the node's own environment is left as it was


def _python_3_12():
    candidates = [shutil.which("python3.12"),
                  *glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], check=False, capture_output=True).returncode == 0:
            return candidate
    return None


def test_the_wheelhouse_installs_on_python_3_12(wheelhouse, tmp_path):
    """No torch for Python 3.12 here: its wheels install the same way and import (DeepSpeed needs torch)."""
    python312 = _python_3_12()
    if python312 is None:
        pytest.skip("no Python 3.12 on this machine")
    run([python312, "-m", "venv", tmp_path / "venv"])
    python = tmp_path / "venv" / "bin" / "python"
    env = node_env(python, WHEELHOUSE=str(wheelhouse), GPU_NODE_DIR=str(tmp_path / "gpu-node"))
    target = run([REPO / "scripts" / "benchmarks" / "gpu_node.sh", "--install-only"], env=env, cwd=tmp_path).stdout.strip()
    code = ("import sys, hjson, pydantic, pydantic_core, msgpack, psutil, cpuinfo, einops, typing_inspection; "
            "assert sys.version_info[:2] == (3, 12); print(pydantic_core._pydantic_core.__file__)")
    imported = run([python, "-c", code], env={**env, "PYTHONPATH": target}, cwd=tmp_path).stdout
    assert imported.startswith(target) and "cpython-312" in imported
