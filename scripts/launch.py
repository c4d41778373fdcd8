"""Run a training script on the GPUs this job was given: `python launch.py [--cpu-ranks N] SCRIPT [ARGS...]`.

Without a GPU it runs `python SCRIPT ARGS...` (the plain loop, fp32 on the CPU); with N >= 1 GPUs
it runs `torchrun --standalone --nproc_per_node N SCRIPT ARGS...` (as `python -m
torch.distributed.run`, so the ranks use this interpreter), one DeepSpeed rank per GPU. One GPU
gets DeepSpeed too, not the plain loop: the base's ZeRO config (bf16, ZeRO-3, CPU offload, which a
7B model needs to fit on one GPU) then applies to every GPU job alike, and a 1-GPU run is the same
code path as the 8-GPU one. N is read from the job, never from a constant, so the same rule runs on
a laptop, a 1-GPU node and an 8-GPU SLURM allocation:
  CUDA_VISIBLE_DEVICES (the devices the ranks can actually see; SLURM sets it for GPU jobs),
  else SLURM_GPUS_ON_NODE (what SLURM allocated on this node), else none.
Without a GPU, `--cpu-ranks N` (N > 1; a base's `reward.cpu_ranks`) runs N CPU ranks under torchrun
instead: DeepSpeed with gloo, the distributed path of the GPU ranks on a machine without GPUs.
A job of one CPU process in a local run is a fork of the run's warm server (more_lib.core.warm_start),
which has imported torch and the rest already; the same script, arguments and streams.
"""

import os
import sys

from more_lib.core import warm_start

NO_DEVICES = {"", "-1", "NoDevFiles"}


def gpu_count(env):
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return 0 if visible.strip() in NO_DEVICES else len([d for d in visible.split(",") if d.strip()])
    allocated = env.get("SLURM_GPUS_ON_NODE", "").strip()
    return int(allocated) if allocated.isdigit() else 0


def command(script, args, env, python=sys.executable, cpu_ranks=1):
    """The command line that runs `script args` on the job's GPUs (or its CPU ranks)."""
    n = gpu_count(env) or (cpu_ranks if cpu_ranks > 1 else 0)
    if n == 0:
        return [python, script, *args]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", script, *args]


def main():
    cpu_ranks, rest = (int(sys.argv[2]), sys.argv[3:]) if sys.argv[1:2] == ["--cpu-ranks"] else (1, sys.argv[1:])
    if not rest:
        sys.exit(__doc__)
    args = rest[1:]
    argv = command(rest[0], args, os.environ, cpu_ranks=cpu_ranks)
    if argv[1] == rest[0]:  # one process on the CPU: a fork of the run's warm server, if it has one
        warm_start.run(rest[0], args)
    print("launch:", " ".join(argv[:len(argv) - len(args)]), file=sys.stderr, flush=True)
    # exec, not a child: the job's exit status and signals (scancel, timeouts) reach the script.
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
