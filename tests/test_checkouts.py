"""Two checkouts, one environment: each checkout's jobs run that checkout's library.

The environment's editable install points at one checkout (this one); a second checkout whose
library differs must still run its own code in its jobs, since its own code is what the DAG
tracks there."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARK = '''
import os as _os, sys as _sys
if "snakemake" not in _sys.modules and _os.environ.get("MORE_IMPORT_LOG"):
    with open(_os.environ["MORE_IMPORT_LOG"], "a") as _log:
        _log.write(__file__ + "\\n")
'''


def copy_checkout(target):
    anywhere = shutil.ignore_patterns(".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info")

    def ignored(folder, names):  # the hub snapshots at the root, not the hub stage's code
        return set(anywhere(folder, names)) | ({"hub"} & set(names) if Path(folder) == REPO else set())

    shutil.copytree(REPO, target, ignore=ignored)
    with open(target / "more_lib" / "__init__.py", "a") as init:
        init.write(MARK)
    return target


@pytest.mark.slow
def test_a_second_checkout_runs_its_own_library_in_its_jobs(tmp_path):
    other = copy_checkout(tmp_path / "other")
    log = tmp_path / "imports.txt"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(MORE_IMPORT_LOG=str(log), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    # The environment's own more_lib is this checkout's (editable), not the other's.
    installed = subprocess.run([sys.executable, "-c", "import more_lib; print(more_lib.__file__)"], env=env,
                               cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(installed).parent != other / "more_lib"
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/data/helpful/train.jsonl", "--cores", "1",
         "--configfile", "config/config.yaml", "config/smoke.yaml"], check=False, cwd=other, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    imported = log.read_text().splitlines() if log.exists() else []
    print(f"\nthe job imported: {imported}")
    assert imported and all(Path(path).parent == other / "more_lib" for path in imported)
