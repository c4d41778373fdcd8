"""A real one-node SLURM cluster on localhost, for tests of the slurm profile.

`cluster(root)` installs the Debian packages when they are missing, starts munged (unless one
runs already), slurmctld and slurmd with state, spool, pid and log files under `root`, waits
until the node is idle, and on exit stops exactly the daemons it started, by their pids.
`why_not()` says why this machine cannot run one (not root, no apt, a real cluster's config).
The facts behind each setting: ../shared/reference/slurm-local.md (SLURM 22.05, Debian 12).
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = {"slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd", "munged": "/usr/sbin/munged"}
CLIENTS = ["sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun"]
PARTITION = "debug"
# The job step srun runs inside each job reads the default path: the Snakemake job-step plugin drops
# every inherited SLURM_* variable, SLURM_CONF included, so a config elsewhere would not reach it.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# Written by the MORE test harness (tests/slurm_cluster.py); removed when its cluster stops."
MUNGE_RUN = Path("/run/munge")
MUNGE_KEY = Path("/etc/munge/munge.key")

SLURM_CONF = """{marker}
ClusterName=moretest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
NodeName={host} NodeAddr=127.0.0.1 {topology} RealMemory={memory} State=UNKNOWN
# Two jobs may share a core: most of a short job's life is Python starting up and waiting on the
# status polls, so two jobs a core keep the CPUs busy (a real cluster gives each job its own).
PartitionName={partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:2
SlurmUser=root
AuthType=auth/munge
# No cgroups, accounting or mail on a test machine.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it a job that names no --mem takes the whole node.
DefMemPerCPU=256
ReturnToService=2
# Finished jobs stay visible to squeue (no sacct here): Snakemake's status checks need them.
MinJobAge=3600
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
"""


def missing():
    """SLURM/munge programs not installed."""
    found = [*(Path(p).exists() for p in DAEMONS.values()), *(shutil.which(c) is not None for c in CLIENTS)]
    return [name for name, ok in zip([*DAEMONS, *CLIENTS], found) if not ok]


def why_not():
    """Why this machine cannot run the cluster, or None when it can."""
    if not Path("/etc/debian_version").exists():
        return "the harness installs Debian's SLURM packages; this is not a Debian system"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged (and installing them with apt) needs root"
    if missing() and not shutil.which("apt-get"):
        return f"SLURM is not installed ({', '.join(missing())} missing) and there is no apt-get"
    if SYSTEM_CONF.exists() and MARKER not in SYSTEM_CONF.read_text():
        return f"{SYSTEM_CONF} belongs to a real SLURM installation; the harness leaves it alone"
    return None


def install(log):
    """apt-get install the packages when a program is missing (apt-get update only if needed)."""
    if not missing():
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    started = time.monotonic()
    if subprocess.run(command, check=False, env=env, capture_output=True, text=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True, text=True)
        result = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"apt-get install {' '.join(PACKAGES)} failed:\n{result.stdout[-2000:]}"
                               f"{result.stderr[-2000:]}")
    log(f"installed {' '.join(PACKAGES)} in {time.monotonic() - started:.1f} s")


def munge_works():
    return subprocess.run("munge -n | unmunge", shell=True, check=False, capture_output=True).returncode == 0


def start_munge():
    """Start munged as the munge user (as root it refuses the key) unless one answers already.
    Returns the pid of the munged started here, or None."""
    if munge_works():
        return None
    if not MUNGE_KEY.exists():
        subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
    shutil.chown(MUNGE_KEY, "munge", "munge")
    MUNGE_KEY.chmod(0o600)
    MUNGE_RUN.mkdir(exist_ok=True)
    shutil.chown(MUNGE_RUN, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", DAEMONS["munged"]], check=True, capture_output=True)
    wait_for(munge_works, "munged to answer", timeout=10)
    return int((MUNGE_RUN / "munged.pid").read_text())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line():
    """(host, topology fields, usable memory in MB) as slurmd sees this machine."""
    probe = subprocess.run([DAEMONS["slurmd"], "-C"], check=True, capture_output=True, text=True).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", probe.splitlines()[0]))
    topology = " ".join(f"{k}={fields[k]}" for k in
                        ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore") if k in fields)
    available = int(re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text())[1]) // 1024
    # Configured above what slurmd finds, the node would be drained for low memory.
    memory = int(0.8 * min(available, int(fields.get("RealMemory", available))))
    return socket.gethostname().split(".")[0], topology, memory


def write_conf(root):
    host, topology, memory = node_line()
    for name in ("state", "spool"):
        (root / name).mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.write_text(SLURM_CONF.format(
        marker=MARKER, host=host, topology=topology, memory=memory, partition=PARTITION, root=root,
        ctld_port=free_port(), slurmd_port=free_port()))
    return host


def wait_for(ready, what, timeout):
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.2)


def node_state():
    return subprocess.run(["sinfo", "-h", "-o", "%T"], check=False, capture_output=True, text=True).stdout.strip()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(pids):
    """SIGTERM the daemons this harness started (all at once: each takes ~2 s); SIGKILL stragglers."""
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not any(alive(pid) for pid in pids), "the daemons to exit", timeout=10)
        return
    for pid in filter(alive, pids):
        os.kill(pid, signal.SIGKILL)


def read_pid(path, timeout=10):
    """The daemon creates its pid file before it writes the number: wait for the whole line."""
    wait_for(lambda: path.exists() and path.read_text().endswith("\n"), f"a pid in {path}", timeout)
    return int(path.read_text())


@contextlib.contextmanager
def cluster(root, log=print):
    """A running cluster; yields the partition name. Stops what it started, even on failure."""
    root = Path(root)
    install(log)
    started = time.monotonic()
    pids = []
    try:
        munged = start_munge()
        pids += [munged] if munged else []
        host = write_conf(root)
        subprocess.run([DAEMONS["slurmctld"]], check=True, capture_output=True)
        pids.append(read_pid(root / "slurmctld.pid"))
        subprocess.run([DAEMONS["slurmd"], "-N", host], check=True, capture_output=True)
        pids.append(read_pid(root / "slurmd.pid"))
        wait_for(lambda: node_state() == "idle", "the node to be idle", timeout=30)
        log(f"SLURM cluster up in {time.monotonic() - started:.1f} s (node {host}, partition {PARTITION})")
        yield PARTITION
    finally:
        # Jobs left by a failed test would outlive slurmd (slurmstepd is its own process).
        with contextlib.suppress(subprocess.TimeoutExpired):
            jobs = subprocess.run(["squeue", "-h", "-o", "%i"], check=False, capture_output=True, text=True,
                                  timeout=15).stdout
            if jobs.split():
                subprocess.run(["scancel", *jobs.split()], check=False, capture_output=True, timeout=15)
        stop(pids)
        if SYSTEM_CONF.exists() and MARKER in SYSTEM_CONF.read_text():
            SYSTEM_CONF.unlink()
