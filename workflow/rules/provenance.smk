# Provenance that follows the data. Snakemake compares a job's params and code with its records only
# for the jobs it looks at: not for an intermediate missing under outputs that are present (an RM
# rebuilt under a new setting, then removed, left Table 2 reading the old RM's scores), and for none
# without .snakemake/ (results copied elsewhere). So every job, the hub stage's aside, has one more
# input: its decision file, results/.provenance/<the first of its outputs by name>/decision.json, the
# record of everything that decides the job -- rule, wildcards, shell command, params and, per input
# file, the fingerprint of the job that builds it (the sha256 of that job's record, so recursively
# everything upstream), the pin of a hub snapshot (the locked commit: the snapshot's files, tens of
# GB, are never hashed), or the digest of any other file (a script, a config file, local data: its
# content up to SMALL_FILE, its size and mtime beyond). Planning rewrites a decision file only when
# its record changes, so Snakemake's own mtime trigger reruns the job, and every job downstream has a
# new record too, whether or not the jobs between are on disk.
#
# The records are computed from Snakemake's rule objects (the producer of a path from the rules'
# outputs, its inputs and params expanded by the rule), memoised per job. Only the run's own process,
# when it executes jobs, writes decision files: a cluster job parses the workflow again and only
# names its file. A dry run, --dag or --summary writes a changed record under PENDING instead and
# names that file: the job shows as one to run, the record can be compared with the one under
# results/.provenance/, and previewing another config reruns nothing later. Results built before
# decision files existed are rebuilt once.
import hashlib
import stat
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

PROVENANCE = "results/.provenance"
PENDING = ".snakemake/provenance"
SMALL_FILE = 1 << 20
# The hub stage keeps its own rules (the lock wins; a snapshot lives outside results/ so that
# cleaning results never fetches again): it has no decision file, and a snapshot counts as its pin.
HUB_RULES = {"hub_fetch", "hub_lock"}

_records = {}
_recording = set()


def decision_file(output):
    # One folder per job: Snakemake caches which files a folder holds once it has listed it, and a
    # decision written into a folder it listed earlier would read as missing.
    return f"{PROVENANCE}/{str(output).removeprefix('results/')}/decision.json"


def job_key(rule_, wildcards):
    return rule_.name, tuple(sorted(wildcards.items()))


def job_record(rule_, wildcards):
    """(record text, fingerprint) of the job of `rule_` with `wildcards` (a dict)."""
    key = job_key(rule_, wildcards)
    if key not in _records:
        _recording.add(key)  # its own decision input names its file and computes nothing
        try:
            inputs = rule_.expand_input(wildcards)[0]
            outputs = rule_.expand_output(wildcards)[0]
            params = rule_.expand_params(wildcards, inputs, outputs, None)[0]
        finally:
            _recording.discard(key)
        record = {
            "rule": rule_.name,
            "wildcards": wildcards,
            "shell": rule_.shellcmd,
            "params": dict(params.items()),
            "inputs": {path: input_fingerprint(path) for path in inputs if not path.startswith(PROVENANCE)},
        }
        text = json.dumps(record, sort_keys=True, indent=1, default=str) + "\n"
        _records[key] = text, hashlib.sha256(text.encode()).hexdigest()
    return _records[key]


@functools.cache
def producer(path):
    """(rule, wildcards) of the job that builds `path`, or None for a file no rule builds."""
    rules = [rule_ for rule_ in workflow.rules if any(output.match(path) for output in rule_.output)]
    if len(rules) > 1:
        raise WorkflowError(f"{path}: more than one rule builds it ({', '.join(r.name for r in rules)})")
    return (rules[0], rules[0].get_wildcards(path)) if rules else None


@functools.cache
def input_fingerprint(path):
    made = producer(path)
    if made is None:
        return file_digest(path)
    rule_, wildcards = made
    if rule_.name == "hub_fetch":
        return f"pin {hub_pin(SimpleNamespace(**wildcards))}"
    return job_record(rule_, wildcards)[1]


def file_digest(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "missing"  # Snakemake names it as a missing input
    if stat.S_ISREG(info.st_mode) and info.st_size <= SMALL_FILE:
        return f"sha256 {hashlib.sha256(Path(path).read_bytes()).hexdigest()}"
    return f"size {info.st_size} mtime_ns {info.st_mtime_ns}"


def decision(rule_):
    """The input function naming the decision file of each job of `rule_`, rewritten when its record changes."""

    def decision_input(wildcards):
        wildcards = dict(wildcards.items())
        path = decision_file(
            min(rule_.expand_output(wildcards)[0])
        )  # not the first listed: the order may change
        if job_key(rule_, wildcards) in _recording or not workflow.is_main_process:
            return path
        text = job_record(rule_, wildcards)[0]
        if os.path.exists(path) and Path(path).read_text() == text:
            return path
        if workflow.executor_plugin is None or workflow.dryrun:
            path = path.replace(PROVENANCE, PENDING, 1)
        # atomic: a concurrent planner writes the same text, and no reader sees half of it
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{path}.{os.getpid()}").write_text(text)
        os.replace(f"{path}.{os.getpid()}", path)
        return path

    return decision_input


for declared in list(workflow.rules):
    if declared.output and declared.name not in HUB_RULES:
        declared.set_input(provenance=decision(declared))
