"""The fake hub (tests/hub_server.py) against the real huggingface_hub client: snapshot_download,
hf_hub_download and repo_info round-trip; revisions by branch and by sha; the errors the client
raises for a missing repo, revision or file and for a gated repo; cut downloads; the request log."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub import HfApi, constants, errors, file_download, hf_hub_download, snapshot_download
from huggingface_hub.utils import _detect_agent

from tests.hub_server import hub_server

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_fake_hub_token_7c1d9e40"
DATASET, MODEL, GATED = "Anthropic/hh-rlhf", "EleutherAI/pythia-70m", "meta-llama/Llama-2-7b-hf"
WEIGHTS = bytes(range(256)) * 40  # 10 KiB
FILES = {
    f"datasets/{DATASET}/main": {"README.md": b"# hh-rlhf\n", ".gitattributes": b"*.gz filter=lfs\n",
                                 "harmless-base/train.jsonl.gz": b"\x1f\x8b" + WEIGHTS[:500],
                                 "helpful-base/test.jsonl.gz": b"\x1f\x8b" + WEIGHTS[500:900]},
    f"datasets/{DATASET}/refs%2Fconvert%2Fparquet": {"default/train/0000.parquet": b"PAR1 rows PAR1"},
    f"models/{MODEL}/main": {"config.json": b'{"model_type": "gpt_neox"}', "model.safetensors": WEIGHTS},
    f"models/{GATED}/main": {"config.json": b'{"model_type": "llama"}'},
}


def write_repos(root):
    for branch, files in FILES.items():
        for rel, data in files.items():
            (root / branch / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / branch / rel).write_bytes(data)
    return root


def use_hub(monkeypatch, url, tmp_path):
    """Point the client at url as HF_ENDPOINT would (read at import), online, no Xet, no implicit token."""
    for name, value in {
            "ENDPOINT": url, "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_XET": True, "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
            "HF_HUB_DISABLE_TELEMETRY": False, "AGENT_HARNESSES_PATH": str(tmp_path / "harnesses.json"),
            "DOWNLOAD_CHUNK_SIZE": 1024}.items():  # at 10 MiB a cut file under 10 MiB restarts from 0
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(_detect_agent, "_registry", None)  # refetched, from this hub: /api/agent-harnesses
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))  # 1 s per retry


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with hub_server(write_repos(tmp_path / "hub"), log=tmp_path / "hub.log", gated={f"models/{GATED}"},
                    token=TOKEN) as server:
        use_hub(monkeypatch, server.url, tmp_path)
        yield server


def download(server, repo_id, repo_type="model", **kwargs):
    return Path(snapshot_download(repo_id, repo_type=repo_type, endpoint=server.url,
                                  cache_dir=server.root.parent / "cache", **kwargs))


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("repo_type,repo_id", [("dataset", DATASET), ("model", MODEL)])
def test_snapshot_round_trip(hub, repo_type, repo_id):
    key = f"{repo_type}s/{repo_id}"
    path = download(hub, repo_id, repo_type)
    assert path.parent.name == "snapshots" and path.name == hub.commit(key, "main")
    assert tree(path) == FILES[f"{key}/main"]
    assert HfApi(endpoint=hub.url).repo_info(repo_id, repo_type=repo_type).sha == hub.commit(key, "main")
    calls = [(r["method"], r["path"].split("?")[0], r["status"]) for r in hub.requests]
    assert ("GET", "/api/agent-harnesses", 404) in calls  # an unknown route: 404, and the client goes on
    assert ("GET", f"/api/{key}/revision/main", 200) in calls
    resolve = f"/{key.removeprefix('models/')}/resolve/{path.name}/"
    heads = [p[len(resolve):] for m, p, s in calls if m == "HEAD" and s == 200]
    assert sorted(heads) == sorted(FILES[f"{key}/main"])  # one HEAD per file, at the commit


def test_revisions(hub):
    api, key = HfApi(endpoint=hub.url), f"datasets/{DATASET}"
    parquet = download(hub, DATASET, "dataset", revision="refs/convert/parquet")
    assert parquet.name == hub.commit(key, "refs/convert/parquet")
    assert tree(parquet) == FILES[f"{key}/refs%2Fconvert%2Fparquet"]
    assert any("/revision/refs%2Fconvert%2Fparquet" in r["path"] for r in hub.requests)
    sha = hub.commit(key, "main")
    assert download(hub, DATASET, "dataset", revision=sha).name == sha  # a sha: no /revision call
    assert api.repo_info(DATASET, repo_type="dataset", revision=parquet.name).sha == parquet.name
    (hub.root / key / "main/README.md").write_bytes(b"# edited\n")
    assert hub.commit(key, "main") != sha
    assert download(hub, DATASET, "dataset").name == hub.commit(key, "main")
    with pytest.raises(errors.RevisionNotFoundError):  # the old commit is no branch's content any more
        api.repo_info(DATASET, repo_type="dataset", revision=sha)
    with pytest.raises(errors.RevisionNotFoundError):
        download(hub, DATASET, "dataset", revision="no-such-branch")
    with pytest.raises(errors.RepositoryNotFoundError) as missing:
        download(hub, "Anthropic/no-such-repo", "dataset")
    assert type(missing.value) is errors.RepositoryNotFoundError  # not its subclass errors.GatedRepoError
    with pytest.raises(errors.EntryNotFoundError):
        hf_hub_download(DATASET, "no/such/file.json", repo_type="dataset", endpoint=hub.url,
                        cache_dir=hub.root.parent / "cache")


def test_gated(hub, tmp_path):
    assert HfApi(endpoint=hub.url).repo_info(GATED).gated == "manual"  # as on the hub: metadata is public
    with pytest.raises(errors.GatedRepoError):
        download(hub, GATED)
    with pytest.raises(errors.GatedRepoError):
        download(hub, GATED, token="hf_wrong")
    assert tree(download(hub, GATED, token=TOKEN)) == FILES[f"models/{GATED}/main"]
    text = (tmp_path / "hub.log").read_text()
    assert TOKEN not in text and "hf_wrong" not in text
    logged = [json.loads(line) for line in text.splitlines()]
    assert logged == hub.requests
    files = [(r["status"], r["authorization_present"]) for r in logged if "/resolve/" in r["path"]]
    assert files[0] == (401, False) and (401, True) in files and files[-1] == (200, True)
    hub_calls = [r for r in logged if r["path"] != "/api/agent-harnesses"]  # that one is plain httpx2
    assert all("hf_hub/" in r["user_agent"] for r in hub_calls)


def test_cut_download_is_resumed(hub):
    hub.drops["model.safetensors"] = 1
    assert tree(download(hub, MODEL))["model.safetensors"] == WEIGHTS
    gets = [r["status"] for r in hub.requests if r["method"] == "GET" and r["path"].endswith(".safetensors")]
    assert gets == [200, 206]  # the second asks for the rest with Range: bytes=N-
    assert hub.drops["model.safetensors"] == 0


@pytest.mark.parametrize("drops,ok", [(5, True), (6, False)])
def test_cut_download_gives_up_after_five_retries(hub, monkeypatch, drops, ok):
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10 * 1024 * 1024)  # no bytes kept: no progress
    hub.drops["config.json"] = drops
    if ok:
        assert tree(download(hub, MODEL))["config.json"] == FILES[f"models/{MODEL}/main"]["config.json"]
    else:
        with pytest.raises(httpx2.RemoteProtocolError):
            download(hub, MODEL)
        assert not list((hub.root.parent / "cache").rglob("*.incomplete"))
    gets = [r for r in hub.requests if r["method"] == "GET" and r["path"].endswith("/config.json")]
    assert len(gets) == drops + ok


def test_command_line(tmp_path, monkeypatch):
    root, log = write_repos(tmp_path / "hub"), tmp_path / "cli.log"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "tests.hub_server", "--root", str(root), "--log", str(log),
                             "--gated", f"models/{GATED}"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip().removeprefix("url=")
        use_hub(monkeypatch, url, tmp_path)
        server = SimpleNamespace(url=url, root=root)
        with pytest.raises(errors.GatedRepoError):
            download(server, GATED, token=False)
        assert tree(download(server, GATED, token=TOKEN)) == FILES[f"models/{GATED}/main"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert TOKEN not in log.read_text() and '"status": 401' in log.read_text()
