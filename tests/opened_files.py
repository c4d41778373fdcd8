"""Which files under results/ or a config folder each job of a Snakemake run opened, read from an
strace of the run, and what its rule declared, read from Snakemake's own records (.snakemake/metadata).

strace sees every open of every process (Python, and the C++ and Rust readers of parquet and
safetensors alike); a process belongs to the job whose `bash -c <shell command>` it descends from.
"""

import base64
import json
import os
import re
from collections import defaultdict
from pathlib import Path

# One trace file per process (-ff), so no call is split across lines by another process's.
STRACE = ["strace", "-f", "-ff", "-qq", "--seccomp-bpf", "-s", "1000000",
          "-e", "trace=execve,openat,clone,clone3,fork,vfork"]
CALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+)")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f", b'"': b'"', b"\\": b"\\"}


def traced(command, trace_dir):
    """`command` run under strace, writing trace_dir/trace.<pid>."""
    trace_dir.mkdir(parents=True, exist_ok=True)
    return [*STRACE, "-o", str(trace_dir / "trace"), *command]


def _unescape(text):
    def one(match):
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        return ESCAPES.get(code, code)

    return ESCAPE.sub(one, text.encode("latin-1", "backslashreplace")).decode("utf-8", "replace")


def _strings(args):
    return [_unescape(s) for s in STRING.findall(args)]


def read_trace(trace_dir):
    """(parent by pid, shell commands by pid, {pid: {(path, is directory)}}) of every traced process."""
    parent, shells, opened = {}, defaultdict(list), defaultdict(set)
    for path in trace_dir.glob("trace.*"):
        pid = int(path.suffix[1:])
        for line in path.read_text(encoding="latin-1").splitlines():
            match = CALL.match(line)
            if not match or int(match[3]) < 0:
                continue
            name, args, result = match.groups()
            if name in ("clone", "clone3", "fork", "vfork"):
                parent[int(result)] = pid
            elif name == "execve":
                argv = _strings(args)[1:]
                if len(argv) >= 3 and Path(argv[0]).name == "bash" and argv[1] == "-c":
                    shells[pid].append(argv[2])
            elif name == "openat":
                strings = _strings(args)
                if strings:
                    opened[pid].add((strings[0], "O_DIRECTORY" in args))
    return parent, shells, opened


def declared_jobs(root):
    """{shell command: {"rule", "inputs", "outputs", "logs"}} from Snakemake's metadata records
    (a workdir's .snakemake/metadata, or a copy of it)."""
    jobs = {}
    for record in (path for path in root.rglob("*") if path.is_file()):
        meta = json.loads(record.read_text())
        # a long record name is split into folders: the base64 of the output path, in pieces
        output = base64.urlsafe_b64decode("".join(record.relative_to(root).parts)).decode()
        job = jobs.setdefault(meta["shellcmd"], {"rule": meta["rule"], "inputs": set(meta["input"]),
                                                 "outputs": set(), "logs": set(meta["log"])})
        job["outputs"].add(output)
    return jobs


def _shown(path, workdir):
    """`path` (absolute, or relative to the working directory) relative inside the working directory,
    absolute outside it: as the audit compares and reports it."""
    path = os.path.normpath(os.path.join(workdir, path))
    return os.path.relpath(path, workdir) if path.startswith(str(workdir) + os.sep) else path


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def allowed(path, is_dir, job, shellcmd):
    """Whether a job may open `path`: what its rule declares, the temporary names its atomic writes
    use beside an output, a directory above a declared path, and the checkpoint folder its command names."""
    declared = job["inputs"] | job["outputs"] | job["logs"]
    if any(_under(path, d) for d in declared):
        return True
    if is_dir and any(_under(d, path) for d in declared):
        return True
    for output in job["outputs"]:
        head, name = os.path.split(output)
        temporary = os.path.join(head, f".{name}.")
        if path.startswith(temporary):
            return True
    return any(_under(path, token) for token in shellcmd.split() if token.startswith("results/checkpoints/"))


def undeclared_opens(trace_dir, workdir, metadata=None, config_dirs=()):
    """[(rule, path)] for every file under results/ or a config folder (the workdir's config/ and
    `config_dirs`) a job opened that its rule does not declare, and the rules of the jobs whose
    processes the trace does not show. `metadata`: the records of the traced run (default: the
    workdir's own)."""
    workdir = Path(workdir).resolve()
    parent, shells, opened = read_trace(trace_dir)
    jobs = declared_jobs(metadata or workdir / ".snakemake" / "metadata")
    for job in jobs.values():
        job["inputs"] = {_shown(path, workdir) for path in job["inputs"]}
    audited = ["results", "config", *(_shown(Path(folder).resolve(), workdir) for folder in config_dirs)]

    def job_of(pid):
        while pid is not None:
            for command in shells.get(pid, []):
                match = [cmd for cmd in jobs if cmd in command]
                if match:
                    return max(match, key=len)
            pid = parent.get(pid)
        return None

    violations, seen = set(), set()
    for pid, paths in opened.items():
        shellcmd = job_of(pid)
        if shellcmd is None:
            continue  # snakemake itself, or a process of no job
        seen.add(shellcmd)
        for path, is_dir in paths:
            shown = _shown(path, workdir)
            if any(_under(shown, root) for root in audited) and not allowed(shown, is_dir, jobs[shellcmd], shellcmd):
                violations.add((jobs[shellcmd]["rule"], shown))
    return sorted(violations), sorted(job["rule"] for command, job in jobs.items() if command not in seen)
