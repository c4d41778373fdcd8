"""The hub stage through real Snakemake against a local hub (tests/hub_server.py) and the real
`huggingface_hub` client: fetch and lock, the rest of the DAG offline, the lock winning over the
config and refreshed on purpose, and one line naming the config key for a missing repository, a
gated one without a token and a connection dropped on every try."""

import gzip
import json
import os
import re
import shutil

import pytest
import yaml

from tests.hub_server import hub_server
from tests.tiny_world import tiny_world
from tests.workflow_run import REPO, snakemake

pytestmark = pytest.mark.slow

FIXTURES = REPO / "tests" / "fixtures" / "hub" / "hh-rlhf"
REPO_KEY = "datasets/Anthropic/hh-rlhf"
TOKEN = "hf_local_test_token_5b2e"
DATA = ["results/data/helpful/train.jsonl", "results/data/harmless/test.jsonl", "results/data/report.csv"]


def hub_root(root):
    shutil.copytree(FIXTURES, root / REPO_KEY / "main")
    return root


def write_config(workdir, **spec):
    """The smoke world's data stage with helpful and harmless read from the hub's Anthropic/hh-rlhf
    (`spec` overrides both)."""
    config = tiny_world(["helpful", "harmless"], ["tiny-s"])
    config["sources"] = {name: {"kind": "hh", "path": "Anthropic/hh-rlhf", "data_dir": f"{name}-base", **spec}
                         for name in ("helpful", "harmless")}
    config.update(hub={"dir": "hub", "lock": "config/hub.lock.json"}, resample={"n": 6}, calibration={"heldout": 1})
    path = workdir / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(workdir, server, *targets, token=None, check=True, config=None):
    env = {"HF_ENDPOINT": server.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    if token:
        env["HF_TOKEN"] = token
    return snakemake(workdir, *targets, f"--configfile={config or workdir / 'config.yaml'}", check=check, env=env)


def job_error(workdir, repo):
    """The one error line the hub stage's job wrote for `repo` (beside the client's progress bars and
    retry warnings), with no traceback."""
    log = (workdir / "results" / "logs" / "hub_fetch" / f"{repo}.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in log, log
    return errors[0]


def test_hub_stage_fetches_and_locks_the_rest_runs_offline_and_the_lock_wins(tmp_path):
    workdir = tmp_path / "work"
    write_config(workdir)
    with hub_server(hub_root(tmp_path / "served"), log=tmp_path / "requests.jsonl") as server:
        commit = server.commit(REPO_KEY, "main")
        run(workdir, server, "hub")
        lock = json.loads((workdir / "config" / "hub.lock.json").read_text())["repositories"]
        assert list(lock) == [REPO_KEY] and lock[REPO_KEY]["commit"] == commit
        assert lock[REPO_KEY]["keys"] == ["sources.helpful.path", "sources.harmless.path"]
        assert lock[REPO_KEY]["requested"] is None
        served = {p.relative_to(FIXTURES).as_posix(): p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file()}
        assert {path: f["size"] for path, f in lock[REPO_KEY]["files"].items()} == served
        fetched = len(server.requests)
        assert fetched and all("more-hub-stage" in r["user_agent"] or r["path"] == "/api/agent-harnesses"
                               for r in server.requests), server.requests

        # Every other job runs offline from the snapshot: not one request more.
        run(workdir, server, *DATA)
        assert len(server.requests) == fetched
        report = (workdir / DATA[2]).read_text()
        assert f"Anthropic/hh-rlhf,{commit}" in report, report
        kept = sum(1 for _ in (workdir / DATA[0]).open())
        assert kept == json.loads((workdir / "results/data/helpful/prepare.json").read_text())[0]["kept"] > 0
        assert "Nothing to be done" in run(workdir, server, *DATA, "-n")[1]

        # The hub moves on: the lock still wins (nothing to do, nothing fetched) until refreshed on purpose.
        moved = tmp_path / "served" / REPO_KEY / "main" / "helpful-base" / "train.jsonl.gz"
        rows = gzip.decompress(moved.read_bytes()).decode().splitlines()
        moved.write_bytes(gzip.compress("\n".join(rows[:5]).encode() + b"\n", mtime=0))
        assert server.commit(REPO_KEY, "main") != commit
        assert "Nothing to be done" in run(workdir, server, *DATA, "-n")[1]
        run(workdir, server, "hub_refresh")
        relocked = json.loads((workdir / "config" / "hub.lock.json").read_text())["repositories"][REPO_KEY]
        assert relocked["commit"] == server.commit(REPO_KEY, "main")
        output = run(workdir, server, *DATA)[1]
        assert re.search(r"^localrule hub_fetch:", output, re.MULTILINE), output[-3000:]
        assert sum(1 for _ in (workdir / DATA[0]).open()) < kept
        final = json.loads((workdir / "config" / "hub.lock.json").read_text())["repositories"][REPO_KEY]
        assert final["commit"] == relocked["commit"] and final["files"]["helpful-base/train.jsonl.gz"]["size"] == \
            moved.stat().st_size

    # A configured revision that contradicts the lock stops the run before any job, naming both.
    code, output = snakemake(workdir, "-n", f"--configfile={write_config(workdir, revision='v2')}", check=False)
    assert code != 0
    assert re.search(r"config key 'sources.helpful.revision' \(Anthropic/hh-rlhf\): 'v2' contradicts the lock "
                     rf"config/hub.lock.json \(locked at None = {relocked['commit']}\)", output), output[-2000:]
    assert "Traceback" not in output


@pytest.mark.parametrize("case", ["missing", "gated", "dropped", "tampered"])
def test_hub_errors_are_one_line_naming_the_key_and_the_repository(tmp_path, case):
    workdir = tmp_path / "work"
    gated = {REPO_KEY} if case == "gated" else set()
    drops = {"helpful-base/train.jsonl.gz": 99} if case == "dropped" else {}
    with hub_server(hub_root(tmp_path / "served"), gated=gated, token=TOKEN, drops=drops) as server:
        if case == "missing":
            write_config(workdir, path="nobody/missing")
            code, _ = run(workdir, server, "hub", check=False)
            assert code != 0
            assert job_error(workdir, "datasets/nobody/missing") == (
                "error: config key 'sources.helpful.path': dataset 'nobody/missing' at 'main' does not exist "
                "(or is private: set HF_TOKEN)")
            return
        write_config(workdir)
        snapshot = workdir / "hub" / REPO_KEY / "helpful-base" / "train.jsonl.gz"
        if case == "tampered":  # a snapshot file changed after a fetch the client recorded as complete
            run(workdir, server, "hub")
            stat = snapshot.stat()  # the client trusts a file no newer than its record: only our hashes can tell
            snapshot.write_bytes(bytes(b ^ 1 for b in snapshot.read_bytes()))
            os.utime(snapshot, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            (workdir / "hub" / f"{REPO_KEY}.manifest.json").unlink()
        code, _ = run(workdir, server, "hub", check=False)
        assert code != 0
        line = job_error(workdir, REPO_KEY)
        pinned = server.commit(REPO_KEY, "main") if case == "tampered" else "main"  # locked by the first fetch
        assert line.startswith(f"error: config key 'sources.helpful.path': dataset 'Anthropic/hh-rlhf' at '{pinned}'")
        if case == "gated":
            assert line.endswith("is gated: accept its licence on the hub, then set HF_TOKEN in the environment")
            run(workdir, server, "hub", token=TOKEN)  # with the token from the environment it goes through
            assert not [p for p in workdir.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
        elif case == "tampered":
            assert line.endswith(f": {snapshot.relative_to(workdir)} is incomplete or differs from commit {pinned} of "
                                 "the hub (removed); rerun to fetch it again")
            run(workdir, server, "hub")
        else:
            assert "could not be downloaded (RemoteProtocolError" in line and line.endswith("rerun to resume")
            assert not (workdir / "hub" / f"{REPO_KEY}.manifest.json").exists()  # never accepted as complete
            server.drops.clear()
            run(workdir, server, "hub")
        assert snapshot.read_bytes() == (FIXTURES / "helpful-base" / "train.jsonl.gz").read_bytes()

