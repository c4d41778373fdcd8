"""Measures of the workflow itself (scripts/benchmarks/bench_dag.py): Snakemake's own overhead, a torch job's
start-up cold and warm (more_lib.core.warm_start), and the default pipeline end to end, for this
checkout or side by side with another commit on the same machine, one right after the other."""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from more_lib.core import device, warm_start

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"noop_default": 3.0, "dryrun_paper": 5.0, "e2e_default": 900.0, "startup_warm": 1.5,
           "e2e_ratio": 1.3, "scored_pairs_ratio": 4.0}
# A torch job's start-up: what every scoring or training job does before its first batch.
STARTUP_PROBE = """
import sys
from more_lib.reward import models, scoring  # noqa: F401 - torch, transformers, pandas, as every torch job
models.load_reward_model(sys.argv[1])
"""


def snakemake(workdir, *args, repo=REPO):
    """(seconds, output) of one snakemake run of `repo`'s workflow from `repo` (so `--profile slurm`
    and the local profile resolve as a user's command does) in working directory `workdir`."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(repo))
    env.pop(warm_start.ENV, None)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
                             *args, "--directory", str(workdir)], cwd=repo, check=False, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {workdir}:\n{output[-3000:]}")
    return seconds, output


def total_jobs(output):
    """The `total` of snakemake's job stats table (0 when there is nothing to do)."""
    found = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(found[1]) if found else 0


def row(measure, values, jobs=None, unit="s", commit="", note="", lower_is_better=True):
    """One CSV row: the median of `values` against the measure's target (if it has one)."""
    value = statistics.median(values) if values else None
    target = TARGETS.get(measure)
    meets = None if value is None or target is None else (value <= target if lower_is_better else value >= target)
    shown = "not measured" if value is None else f"{value:.3f} {unit}"
    print(f"{measure}{' @ ' + commit if commit else ''}: {shown}" + (f" (target {target:g}: {meets})" if target else "")
          + (f", {jobs} jobs" if jobs is not None else "") + (f" - {note}" if note else ""))
    return {"measure": measure, "commit": commit, "jobs": jobs, "value": None if value is None else round(value, 3),
            "unit": unit, "target": target, "meets_target": meets, "repeats": len(values), "cores": 2, "note": note}


def noop(workdir, repeats, config):
    default = ("--cores", "2", f"--configfile={config}")
    jobs = total_jobs(snakemake(workdir, *default, "-n", "--forceall")[1])
    pending = total_jobs(snakemake(workdir, *default, "-n")[1])
    if pending:  # a "no-op" run would build them: leave that to the user
        return row("noop_default", [], jobs, note=f"not built in {workdir}: {pending} jobs pending")
    times = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, *default)
        assert "Nothing to be done" in output, output[-2000:]
        times.append(seconds)
    return row("noop_default", times, jobs, note=f"in {workdir}")


def dryrun_paper(repeats):
    times, jobs = [], 0
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as scratch:  # no results/ of a real run is read
        shutil.copytree(REPO / "config", Path(scratch) / "config")  # what the paper config names, as in the repository
        for _ in range(repeats):
            seconds, output = snakemake(scratch, "--profile", "slurm", "-n", "--configfile=config/paper.yaml")
            times.append(seconds)
            jobs = total_jobs(output)
    return row("dryrun_paper", times, jobs)


def startup(repeats):
    """Wall time of the probe job through scripts/launch.py, cold (a new interpreter) and warm (a
    fork of a warm-start server), on a tiny reward model."""
    import torch  # noqa: F401 - only the measuring process builds the model
    from transformers import AutoConfig, AutoModelForSequenceClassification

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        scratch = Path(scratch)
        config = AutoConfig.for_model("gpt_neox", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=256, vocab_size=512, num_labels=1)
        device.build(AutoModelForSequenceClassification, config, training=False).save_pretrained(scratch / "rm")
        (scratch / "probe.py").write_text(STARTUP_PROBE)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop(warm_start.ENV, None)
        command = [sys.executable, str(REPO / "scripts" / "launch.py"), str(scratch / "probe.py"), str(scratch / "rm")]
        cold = [_timed(command, env) for _ in range(repeats)]
        server = subprocess.Popen([sys.executable, "-P", warm_start.__file__, str(scratch / "socket")], env=env,
                                  stdin=subprocess.DEVNULL)
        try:
            while not (scratch / "socket").exists():
                time.sleep(0.1)
            warm = [_timed(command, {**env, warm_start.ENV: str(scratch / "socket")}) for _ in range(repeats)]
        finally:
            server.terminate()
            server.wait()
    return [row("startup_cold", cold, note="a new interpreter: imports, then the model"),
            row("startup_warm", warm, note="a fork of the warm-start server"),
            row("startup_ratio", [statistics.median(warm) / statistics.median(cold)], unit="x", note="warm / cold")]


def _timed(command, env):
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def scored_pairs(workdir):
    """Rows of every test score file of a built default DAG (all replicates; not the folders of the
    provenance records, results/.provenance/<output>/, named as the outputs are)."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in Path(workdir, "results").rglob("*.parquet")
               if "scores" in path.relative_to(workdir).parts[1:3] and path.is_file())


def end_to_end(repo, commit=""):
    """The default pipeline of `repo` from an empty results/ on 2 cores: (row, scored test pairs)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    seconds, output = snakemake(workdir, "--cores", "2", f"--configfile={repo / 'config' / 'config.yaml'}", repo=repo)
    pairs = scored_pairs(workdir)
    return row("e2e_default", [seconds], total_jobs(output), commit=commit,
               note=f"{pairs} scored test pairs; in {workdir}"), pairs, workdir


def side_by_side(baseline):
    """This checkout's default pipeline and `baseline`'s (a commit, in a git worktree, the same
    environment), one right after the other, and the ratios of their times and scored pairs."""
    old = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "repo"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), baseline], check=True,
                   capture_output=True)
    try:
        base_row, base_pairs, _ = end_to_end(old, commit=baseline)
        this_row, this_pairs, workdir = end_to_end(REPO, commit="this checkout")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    return [base_row, this_row,
            row("e2e_ratio", [this_row["value"] / base_row["value"]], unit="x", note=f"this checkout / {baseline}"),
            row("scored_pairs_ratio", [this_pairs / base_pairs], unit="x", lower_is_better=False,
                note=f"{this_pairs} / {base_pairs}")], workdir
