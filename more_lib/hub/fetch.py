"""Fetch one hub repository at one revision into its snapshot folder, verify every file and describe it
in a manifest; resolve revisions for the lock. The only network code of the project, run by the hub
stage's local rules (the submitting node has the network; compute nodes may not).

The real `huggingface_hub` client does the work: it honours `HF_ENDPOINT` and `HF_TOKEN` (read from
the environment by the client, never passed or written here). A connection cut mid-file is retried
by the client (5 times without progress; beyond 10 MiB from where it was cut); a job killed midway
leaves no manifest, so its rerun fetches again, keeping the files the folder's `.cache/` metadata
shows complete at that commit. A manifest is written only after every file of the commit is on
disk with the size and, for LFS files, the sha256 the hub lists.
"""

import hashlib
import os
from pathlib import Path

import httpx2  # the HTTP client of huggingface_hub >= 2 (a fork of httpx; its errors are its own)
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from more_lib.core.errors import DataError

AGENT = "more-hub-stage"  # in every request's User-Agent: the hub stage's requests are recognisable
CLIENT_METADATA = ".cache"  # the client's own bookkeeping inside a snapshot folder


def _where(entry, revision):
    return f"config key '{entry['keys'][0]}': {entry['type']} {entry['id']!r} at {revision!r}"


def _failure(entry, revision, err):
    """One line naming the config key and the repository, whatever the client raised."""
    where = _where(entry, revision)
    if isinstance(err, GatedRepoError):
        why = ("is gated: accept its licence on the hub, then set HF_TOKEN in the environment" if not
               os.environ.get("HF_TOKEN") else "is gated and HF_TOKEN does not grant access to it")
    elif isinstance(err, RepositoryNotFoundError):
        why = "does not exist (or is private: set HF_TOKEN)"
    elif isinstance(err, RevisionNotFoundError):
        why = "has no such revision"
    elif isinstance(err, (httpx2.HTTPError, LocalEntryNotFoundError, OSError)):
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        why = f"could not be downloaded ({type(err).__name__}: {reason}); rerun to resume"
    else:
        raise err
    return DataError(f"{where} {why}")


def resolve(entry, revision):
    """The 40-hex commit a revision names now."""
    try:
        return HfApi(library_name=AGENT).repo_info(entry["id"], repo_type=entry["type"], revision=revision).sha
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as err:
        raise _failure(entry, revision, err) from None


def _digests(path):
    """(sha256, git blob sha1) of a file, read once."""
    sha256, blob = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha256.update(block)
            blob.update(block)
    return sha256.hexdigest(), blob.hexdigest()


def _listing(entry, commit):
    """{path: (size, what its content must hash to)} of the commit's files as the hub lists them: the
    sha256 of an LFS file, the git blob sha1 of any other."""
    api = HfApi(library_name=AGENT)
    return {item.path: (item.size, ("sha256", item.lfs.sha256) if item.lfs else ("blob", item.blob_id))
            for item in api.list_repo_tree(entry["id"], repo_type=entry["type"], revision=commit, recursive=True)
            if hasattr(item, "size")}


def fetch(entry, pin, folder):
    """Download the commit `pin` resolves to into `folder` and return its manifest."""
    commit = resolve(entry, pin)
    try:
        snapshot_download(entry["id"], repo_type=entry["type"], revision=commit, local_dir=folder,
                          library_name=AGENT)
        listing = _listing(entry, commit)
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as err:
        raise _failure(entry, pin, err) from None
    files = {}
    for relative, (size, (kind, expected)) in sorted(listing.items()):
        path = Path(folder) / relative
        sha256, blob = _digests(path) if path.is_file() else (None, None)
        if sha256 is None or path.stat().st_size != size or {"sha256": sha256, "blob": blob}[kind] != expected:
            _forget(folder, relative)
            raise DataError(f"{_where(entry, pin)}: {path} is incomplete or differs from commit {commit} of the hub "
                            "(removed); rerun to fetch it again")
        files[relative] = {"size": size, "sha256": sha256}
    _remove_stale(folder, listing)
    return {"type": entry["type"], "id": entry["id"], "requested": entry["requested"], "pin": pin,
            "commit": commit, "keys": entry["keys"], "folder": str(folder), "files": files}


def _forget(folder, relative):
    """Remove a file and the client's record of it, so that the next fetch downloads it anew."""
    for path in (Path(folder) / relative, Path(folder) / CLIENT_METADATA / "huggingface" / "download" /
                 f"{relative}.metadata"):
        path.unlink(missing_ok=True)


def _remove_stale(folder, listing):
    """Files of an earlier commit that this one no longer has: a snapshot holds one commit."""
    for path in sorted(Path(folder).rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative not in listing and not relative.startswith(f"{CLIENT_METADATA}/"):
            path.unlink()
