"""The hub stage's plan: which hub repositories a config names, where their snapshots live, and the
lock of resolved commits.

Only the hub stage (local rules, scripts/hub/hub_fetch.py) touches the network. Every other job reads
the snapshot folder `{hub.dir}/{key}` that `localize` puts in the config in place of the hub id,
where `key` is `{datasets|models}/{owner}/{name}` (one commit a repository). A snapshot's manifest
(`{hub.dir}/{key}.manifest.json`) lists the commit and every file with its size and sha256; the
lock (`hub.lock`, committed by the user) gathers the manifests and wins over the config: a config
revision that contradicts it is an error, and a snapshot that differs from it is fetched anew.
"""

import json
import re
from pathlib import Path

from more_lib.core.errors import ConfigError

DEFAULT_REVISION = "main"  # what an unpinned revision resolves from: the hub's default branch
COMMIT = re.compile(r"^[0-9a-f]{40}$")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
HUB_KINDS = ("hh", "oasst1", "webgpt", "summ")


def is_hub_id(value):
    """A hub repository id, not a folder on disk nor an artifact the workflow builds."""
    return not value.startswith("results/") and not Path(value).exists() and bool(HUB_ID.match(value))


def key(repo_type, repo_id):
    return f"{repo_type}s/{repo_id}"


def same_revision(a, b):
    return (a or DEFAULT_REVISION) == (b or DEFAULT_REVISION)


def references(config):
    """(path of the config key naming a hub id, repo type, repo id, revision) of every hub repository
    the config names: data sources, bases and their tokenizers, the policy. The revision sits beside
    the id; paths are tuples, since a base name may hold dots."""
    blocks = [(("sources", name), spec, "dataset", ["path"])
              for name, spec in config["sources"].items() if spec["kind"] in HUB_KINDS]
    blocks += [(("bases", name), block, "model", ["pretrained", "tokenizer"]) for name, block in config["bases"].items()]
    blocks.append((("policy",), config["policy"], "model", ["pretrained", "tokenizer"]))
    return [((*where, field), repo_type, block[field], block.get("revision"))
            for where, block, repo_type, fields in blocks for field in fields
            if field in block and is_hub_id(block[field])]


def plan(config):
    """{key: {type, id, requested, keys}}: each repository once, with the config keys that name it
    (keys[i] is the key of the id; the revision is set beside it)."""
    repos = {}
    for path, repo_type, repo_id, revision in references(config):
        entry = repos.setdefault(key(repo_type, repo_id),
                                 {"type": repo_type, "id": repo_id, "requested": revision, "keys": []})
        if not same_revision(entry["requested"], revision):
            raise ConfigError(f"config key '{revision_key(path)}': {revision!r}, but '{revision_key(entry['keys'][0])}' "
                              f"asks {entry['requested']!r} of the same repository {repo_id}: one snapshot a repository")
        entry["keys"].append(".".join(path))
    return repos


def revision_key(path):
    """The config key of the revision that goes with the hub id at `path` (a tuple or a dotted key
    whose last part is the field)."""
    parts = path if isinstance(path, tuple) else tuple(path.split("."))
    return ".".join([*parts[:-1], "revision"])


def read_lock(path):
    """The lock's repositories ({} when there is no lock yet); a damaged lock is one line naming it."""
    if not path or not Path(path).exists():
        return {}
    try:
        repositories = json.loads(Path(path).read_text())["repositories"]
        for entry in repositories.values():
            if not COMMIT.match(entry["commit"]):
                raise ValueError(f"commit {entry['commit']!r} is not 40 hex digits")
        return repositories
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"hub lock {path}: unreadable ({type(err).__name__}: {err}); restore it from git "
                          "or delete it to resolve every revision anew") from None


def check_lock(repos, lock, lock_path):
    """A configured revision must be the one the lock resolved (or the locked commit itself)."""
    for repo_key, entry in repos.items():
        locked = lock.get(repo_key)
        if locked and not (same_revision(entry["requested"], locked["requested"])
                           or entry["requested"] == locked["commit"]):
            raise ConfigError(
                f"config key '{revision_key(entry['keys'][0])}' ({entry['id']}): {entry['requested']!r} contradicts "
                f"the lock {lock_path} (locked at {locked['requested']!r} = {locked['commit']}); "
                "run `snakemake hub_refresh` to re-resolve on purpose")


def read_manifest(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def pin(entry, locked, manifest):
    """What the fetch is asked for: the locked commit, else the configured revision. A snapshot that
    already holds the locked commit keeps the pin it was fetched with, so that locking a revision
    the first fetch resolved changes nothing and refetches nothing."""
    wanted = locked["commit"] if locked else (entry["requested"] or DEFAULT_REVISION)
    if manifest and locked and manifest.get("commit") == locked["commit"]:
        return manifest["pin"]
    return wanted


def localize(config, hub_dir):
    """Replace, in `config`, every hub id by its snapshot folder and drop the revision beside it (a
    snapshot is one commit). Returns {snapshot folder: key} for the rules' inputs."""
    folders = {}
    for (*where, field), repo_type, repo_id, revision in references(config):
        block = config
        for part in where:
            block = block[part]
        folder = f"{hub_dir}/{key(repo_type, repo_id)}"
        folders[folder] = key(repo_type, repo_id)
        block[field] = folder
        block.pop("revision", None)
    return folders


def lock_entry(manifest):
    return {field: manifest[field] for field in ("type", "id", "requested", "commit", "keys", "files")}
