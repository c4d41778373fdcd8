"""Warm start: in a local run, one process imports torch, transformers, pandas... once, and each job
is a fork of it instead of a new interpreter that imports them again (2-4 s of every job here).

`scripts/launch.py` (the command of every job) asks the run's server for a fork through a Unix
socket named by $MORE_WARM_START; without a server (SLURM and other cluster jobs, GPU jobs, a
server not yet ready or gone, MORE_WARM_START=0) it execs `python SCRIPT` as before. What the fork
runs is exactly what that command would: the script as `__main__`, with the job's argv, working
directory, environment and stdin/stdout/stderr (passed over the socket), its exit status or signal
returned to the launcher, which exits the same way. The server never imports `more_lib`: a job
imports the library of its checkout afresh, the code the DAG tracks. Signals the launcher gets
(Snakemake stopping a job) reach the job; a launcher that dies (SIGKILL) takes its job with it.

Only this module's standard-library top is imported by the launcher; the heavy imports are the
server's. Protocol on one connection: the launcher sends a 4-byte length with the job's three file
descriptors, then the JSON request; the server accepts ("A") or refuses ("R": it runs another
interpreter than the launcher's, a container's, say, or the job's environment differs in a variable
a library reads at import, READ_AT_IMPORT); then the launcher sends "S" + a signal number
per signal to forward, and the server answers "E" + the signed 4-byte status (the exit code, or
minus the signal that ended the job).
"""

import json
import os
import signal
import socket
import struct
import sys

ENV = "MORE_WARM_START"
# Everything a job would import before its first line of work, the model classes transformers
# otherwise imports lazily at the first from_pretrained included.
PRELOAD = ("numpy", "pandas", "pyarrow.parquet", "scipy.stats", "yaml", "tqdm", "torch", "tokenizers",
           "safetensors.torch", "transformers", "transformers.models.gpt_neox.modeling_gpt_neox",
           "transformers.models.llama.modeling_llama", "matplotlib.pyplot")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# Libraries read these at import (the hub's endpoint and offline switch, thread pools): a job whose
# values differ from the server's would run with the server's, so it starts cold instead.
READ_AT_IMPORT = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "OPENBLAS_",
                  "GOTO_", "VECLIB_", "NUMEXPR_", "CUDA_", "TOKENIZERS_", "MPLBACKEND", "PYTHON")
# What Snakemake sets for a job of one thread (snakemake/shell.py), the threads of nearly every job:
# the server imports under them, so such jobs match it (a job of more threads starts cold).
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")


# ---- the launcher's side -------------------------------------------------------------------------
def run(script, args, env=os.environ):
    """Run `python script args` as a fork of the run's warm server and end this process as the job
    ended; return only when there is no server to ask (the caller then execs the script itself)."""
    path = env.get(ENV, "")
    if path in ("", "0") or "SLURM_JOB_ID" in env:
        return
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return
    request = json.dumps({"argv": [script, *args], "cwd": os.getcwd(), "env": dict(env),
                          "python": os.path.realpath(sys.executable)}).encode()
    socket.send_fds(connection, [HEADER.pack(len(request))], [0, 1, 2])
    connection.sendall(request)
    if _read(connection, 1) != b"A":  # another interpreter's server (a container's job, say)
        connection.close()
        return
    print(f"launch: {script} in a fork of the warm-start server at {path}", file=sys.stderr, flush=True)
    for number in FORWARDED:
        signal.signal(number, lambda received, _: connection.sendall(b"S" + bytes([received])))
    reply = _read(connection, 1 + STATUS.size)
    if len(reply) < 1 + STATUS.size:
        print(f"launch: the warm-start server at {path} ended before the job did", file=sys.stderr)
        sys.exit(1)
    _end_as(STATUS.unpack(reply[1:])[0])


def _end_as(status):
    if status >= 0:
        sys.exit(status)
    signal.signal(-status, signal.SIG_DFL)
    os.kill(os.getpid(), -status)
    sys.exit(128 - status)  # a signal that does not end a process by default


def _read(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# ---- the server ------------------------------------------------------------------------------------
def start_server():
    """Start a server for this run and name it to the jobs (the environment they inherit). It runs
    this interpreter (-P: the library's folder is not put on its path, so none of our modules is
    imported there) and serves once its imports are done; its socket lives in a short /tmp path (a
    socket path has at most 107 bytes)."""
    import atexit
    import shutil
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="more-warm-")
    path = os.path.join(folder, "socket")
    subprocess.Popen([sys.executable, "-P", os.path.abspath(__file__), path], stdin=subprocess.DEVNULL,
                     env={**os.environ, **ONE_THREAD})
    atexit.register(shutil.rmtree, folder, True)
    os.environ[ENV] = path


def serve(path):
    """Import PRELOAD, then fork a job for every request on the socket `path`, until the parent dies."""
    import ctypes
    import importlib

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: Snakemake gone, so is the server
    started_with = _imported_with(os.environ)  # before torch adds its own (CUDA_MODULE_LOADING)
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)  # the socket exists only once the imports are done: earlier jobs start cold
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the supervisors
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _supervise(connection, started_with)
            finally:
                os._exit(0)
        connection.close()


def _supervise(connection, started_with):
    """One job: fork it, forward the launcher's signals, report how it ended."""
    import select

    header, fds, _, _ = socket.recv_fds(connection, HEADER.size, 3)
    request = json.loads(_read(connection, HEADER.unpack(header)[0]))
    if request["python"] != os.path.realpath(sys.executable) or _imported_with(request["env"]) != started_with:
        return connection.sendall(b"R")
    connection.sendall(b"A")
    job = os.fork()
    if job == 0:
        try:
            connection.close()
            _become(request, fds)
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    ended = os.pidfd_open(job)
    while ended not in select.select([connection, ended], [], [])[0]:
        message = _read(connection, 2)
        if len(message) < 2:  # the launcher is gone (killed): its job goes too
            os.kill(job, signal.SIGKILL)
            break
        os.kill(job, message[1])
    _, status = os.waitpid(job, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        connection.sendall(b"E" + STATUS.pack(code))
    except OSError:
        pass  # nobody is waiting for it


def _imported_with(env):
    return {key: value for key, value in env.items() if key.startswith(READ_AT_IMPORT)}


def _become(request, fds):
    """Turn this fork into `python SCRIPT ARGS` as the launcher would have started it; never returns."""
    import random
    import runpy
    import traceback

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for number in FORWARDED:
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT` does
    random.seed()  # a new process's unseeded streams, not the server's
    sys.modules["numpy"].random.seed()
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001 - the job's own traceback, as the interpreter prints it
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)  # the server's atexit handlers are not the job's


def _exit_code(code):
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1])
