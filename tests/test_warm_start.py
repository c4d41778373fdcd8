"""The warm-start server (more_lib.core.warm_start) through the real launcher: a job forked from it behaves
as `python SCRIPT` would, and anything that cannot use it falls back to a cold start."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from more_lib.core import warm_start
from tests.workflow_run import DEFAULT, SMOKE, snakemake

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "scripts" / "launch.py"
JOB = '''
import os, sys, signal, time
print("warm" if "torch" in sys.modules else "cold", os.getcwd(), os.environ.get("JOB_VALUE"), sys.argv[1:])
print("stdin:", sys.stdin.read().strip())
print("library:", __import__("more_lib").__file__)
print("to stderr", file=sys.stderr)
if sys.argv[1] == "fail":
    raise ValueError("the job's own error")
if sys.argv[1] == "wait":
    signal.signal(signal.SIGTERM, lambda *_: (open(sys.argv[2], "w").write(str(os.getpid())), sys.exit(7)))
    open(sys.argv[2] + ".pid", "w").write(str(os.getpid()))
    time.sleep(60)
sys.exit(int(sys.argv[1]))
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm")
    path = folder / "socket"
    process = subprocess.Popen([sys.executable, "-P", warm_start.__file__, str(path)], env=launch_env(),
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    yield str(path)
    process.terminate()
    process.wait()


def launch_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in {"SLURM_JOB_ID", warm_start.ENV}}
    return {**env, "PYTHONPATH": str(REPO), "JOB_VALUE": "from the job", **extra}


def launch(tmp_path, *args, socket_path="", stdin="", **popen):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, LAUNCH, script, *args], check=False, cwd=workdir, input=stdin, text=True,
                          capture_output=True, env=launch_env(**{warm_start.ENV: socket_path}), timeout=60, **popen)


def test_a_warm_job_has_the_jobs_arguments_directory_environment_streams_and_exit_code(server, tmp_path):
    warm = launch(tmp_path, "3", socket_path=server, stdin="hello")
    cold = launch(tmp_path, "3", stdin="hello")
    print(f"\nwarm: {warm.stdout!r}\ncold: {cold.stdout!r}")
    assert warm.returncode == cold.returncode == 3
    assert warm.stdout.startswith("warm ") and cold.stdout.startswith("cold ")
    assert warm.stdout.removeprefix("warm ") == cold.stdout.removeprefix("cold ")
    assert f"{tmp_path / 'work'} from the job ['3']" in warm.stdout and "stdin: hello" in warm.stdout
    assert f"library: {REPO / 'more_lib' / '__init__.py'}" in warm.stdout  # imported by the job, afresh
    assert "to stderr" in warm.stderr and "in a fork of the warm-start server" in warm.stderr


def test_a_failing_warm_job_prints_its_traceback_and_exits_1(server, tmp_path):
    result = launch(tmp_path, "fail", socket_path=server)
    assert result.returncode == 1
    assert "ValueError: the job's own error" in result.stderr and 'job.py", line' in result.stderr


def test_sigterm_to_the_launcher_reaches_the_job_and_sigkill_takes_the_job_with_it(server, tmp_path):
    marker = tmp_path / "terminated"
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        marker.unlink(missing_ok=True)
        Path(f"{marker}.pid").unlink(missing_ok=True)
        script = tmp_path / "job.py"
        script.write_text(JOB)
        (tmp_path / "work").mkdir(exist_ok=True)
        process = subprocess.Popen([sys.executable, LAUNCH, script, "wait", marker], cwd=tmp_path / "work",
                                   stdin=subprocess.DEVNULL, env=launch_env(**{warm_start.ENV: server}))
        deadline = time.monotonic() + 30
        while not Path(f"{marker}.pid").exists():
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.1)
        job = int(Path(f"{marker}.pid").read_text())
        assert job != process.pid  # a fork of the server, not the launcher itself
        process.send_signal(signal_number)
        process.wait(timeout=30)
        if signal_number == signal.SIGTERM:
            assert process.returncode == 7 and marker.read_text() == str(job)  # the job's own handler ran
        else:
            deadline = time.monotonic() + 10
            while psutil.pid_exists(job) and psutil.Process(job).status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline, "the job outlived its launcher"
                time.sleep(0.1)


def test_without_a_usable_server_the_job_starts_cold(server, tmp_path):
    missing = launch(tmp_path, "0", socket_path=str(tmp_path / "no-socket"))
    in_slurm = subprocess.run([sys.executable, LAUNCH, tmp_path / "job.py", "0"], check=False, cwd=tmp_path / "work",
                              capture_output=True, text=True, timeout=60, input="",
                              env=launch_env(**{warm_start.ENV: server, "SLURM_JOB_ID": "1"}))
    other_python = tmp_path / "python"
    other_python.symlink_to("/usr/bin/python3")  # another interpreter than the server's
    foreign = subprocess.run([other_python, LAUNCH, tmp_path / "job.py", "0"], check=False, cwd=tmp_path / "work",
                             capture_output=True, text=True, timeout=60, input="",
                             env=launch_env(**{warm_start.ENV: server}))
    online = subprocess.run([sys.executable, LAUNCH, tmp_path / "job.py", "0"], check=False, cwd=tmp_path / "work",
                            capture_output=True, text=True, timeout=60, input="",
                            env=launch_env(**{warm_start.ENV: server, "HF_HUB_OFFLINE": "0"}))  # read at import
    for result in (missing, in_slurm, foreign, online):
        assert result.returncode == 0 and result.stdout.startswith("cold "), result.stdout + result.stderr


@pytest.mark.slow
def test_a_local_run_forks_its_jobs_warm_and_builds_the_same_bytes_as_a_cold_one(tmp_path):
    """The smoke world's pre-trained base, one RM and its scores, built with the warm-start server
    and without it (MORE_WARM_START=0): the same data, weights and scores, byte for byte."""
    target = "results/scores/tiny-s/single-helpful/helpful.parquet"
    built = {}
    for mode in ("warm", "cold"):
        env = {warm_start.ENV: "0"} if mode == "cold" else {}
        snakemake(tmp_path / mode, target, "--configfile", DEFAULT, SMOKE, env=env)
        results = tmp_path / mode / "results"
        logs = [log.read_text() for log in (results / "logs" / "train_rm").rglob("*.log")]
        assert logs and all(("in a fork of the warm-start server" in log) == (mode == "warm") for log in logs), mode
        built[mode] = {str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
                       for pattern in ("data/**/*.jsonl", "lm/**/model.safetensors", "rm/**/model.safetensors",
                                       "scores/**/*.parquet") for path in results.glob(pattern)}
    print(f"\n{len(built['warm'])} files, warm = cold: {built['warm'] == built['cold']}")
    assert built["warm"] and built["warm"] == built["cold"]
