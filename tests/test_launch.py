"""scripts/launch.py: the GPU count of the job decides between python and torchrun."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("launch", REPO / "scripts" / "launch.py")
launch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launch)

ARGS = ["--base", '{"a": 1}', "--output", "out"]
TORCHRUN = ["py", "-m", "torch.distributed.run", "--standalone"]


@pytest.mark.parametrize("env, n", [
    ({}, 0),                                                   # a laptop: no GPU named anywhere
    ({"CUDA_VISIBLE_DEVICES": ""}, 0),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, 0),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, 0),               # an older SLURM placeholder for "none"
    ({"CUDA_VISIBLE_DEVICES": "3"}, 1),
    ({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, 4),
    ({"CUDA_VISIBLE_DEVICES": "GPU-8f1a,GPU-77c2"}, 2),        # UUIDs, as some clusters set them
    ({"SLURM_GPUS_ON_NODE": "8"}, 8),                          # SLURM's allocation when no device list is set
    ({"SLURM_GPUS_ON_NODE": "8", "CUDA_VISIBLE_DEVICES": "0,1"}, 2),  # the ranks can only see two
    ({"SLURM_GPUS_ON_NODE": "0"}, 0),
])
def test_gpu_count_comes_from_the_job_environment(env, n):
    assert launch.gpu_count(env) == n


@pytest.mark.parametrize("env", [{}, {"CUDA_VISIBLE_DEVICES": ""}, {"SLURM_GPUS_ON_NODE": "0"}])
def test_no_gpu_runs_the_script_with_python(env):
    assert launch.command("train.py", ARGS, env, python="py") == ["py", "train.py", *ARGS]


@pytest.mark.parametrize("env, n", [({"SLURM_GPUS_ON_NODE": "8"}, 8), ({"CUDA_VISIBLE_DEVICES": "4,5"}, 2),
                                    ({"CUDA_VISIBLE_DEVICES": "0"}, 1), ({"SLURM_GPUS_ON_NODE": "1"}, 1)])
def test_every_gpu_job_runs_one_torchrun_rank_per_gpu(env, n):
    """One GPU too: a 1-GPU job trains through DeepSpeed with one rank, as the 8-GPU job does."""
    assert launch.command("train.py", ARGS, env, python="py") == [*TORCHRUN, f"--nproc_per_node={n}", "train.py",
                                                                  *ARGS]


def test_cpu_ranks_run_torchrun_only_without_a_gpu():
    """A world without GPUs (paper-mini) runs the Llama bases' ZeRO-3 on CPU ranks; a GPU job keeps one rank per GPU."""
    assert launch.command("train.py", ARGS, {}, python="py", cpu_ranks=2) == [*TORCHRUN, "--nproc_per_node=2",
                                                                             "train.py", *ARGS]
    assert launch.command("train.py", ARGS, {}, python="py", cpu_ranks=1) == ["py", "train.py", *ARGS]
    assert launch.command("train.py", ARGS, {"CUDA_VISIBLE_DEVICES": "0"}, python="py", cpu_ranks=2)[4] == \
        "--nproc_per_node=1"


def test_launcher_execs_the_script_with_its_arguments_and_exit_status(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text("import sys\nprint(sys.argv[1:])\nsys.exit(3)\n")
    result = subprocess.run([sys.executable, REPO / "scripts" / "launch.py", script, *ARGS], check=False,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 3
    assert result.stdout.strip() == str(ARGS)
    assert result.stderr.startswith(f"launch: {sys.executable} {script}")
