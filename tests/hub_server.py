"""A fake Hugging Face hub for download tests: real HTTP on 127.0.0.1 (a free port) speaking the part
of the hub API that `huggingface_hub` uses in snapshot_download, hf_hub_download and repo_info
(point it here with `endpoint=server.url` or HF_ENDPOINT, and HF_HUB_DISABLE_XET=1).

Repositories are folders: root/{datasets|models}/{owner}/{name}/{branch}/<files>, the branch quoted
with quote(branch, safe="") (`main`, `refs%2Fconvert%2Fparquet`). A branch's commit is a sha1 over
its sorted (path, sha256 of content) pairs, recomputed on every request, so editing a file makes a
new commit. A revision is a branch name or the current sha of any branch. Files are plain git
blobs (ETag = git blob sha1, no LFS, no Xet, no redirects).

`gated` repos ("models/owner/name") serve their files (and auth-check) only to
`Authorization: Bearer <token>`, else 401 GatedRepo; as on the hub, their metadata stays public.
`drops` {path suffix: n}: the first n GETs of a matching file ("{repo}/{path}" ends with it) get the
full Content-Length but half the body, then the connection closes, to test resumed downloads.
Every request is kept in `server.requests` and appended to `log` as one JSON line (never the token).
"""

import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

COMMIT = re.compile(r"[0-9a-f]{40}")
RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def safe(parts):
    """Path segments that stay inside their folder (no way out through `..`)."""
    return bool(parts) and all(p not in ("", ".", "..") and "/" not in p and "\\" not in p for p in parts)


class Hub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root, log=None, gated=(), token=None, drops=None, port=0):
        super().__init__(("127.0.0.1", port), Handler)
        self.root, self.log, self.gated, self.token = Path(root), log, set(gated), token
        self.drops, self.requests, self.lock, self.hashes = dict(drops or {}), [], threading.Lock(), {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def digest(self, path):
        """(sha256, git blob sha1) of a file. Cached by (path, mtime, size) only once the file is 2 s old,
        as git does: a same-size rewrite within one tick of the filesystem's clock would go unseen."""
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key in self.hashes:
            return self.hashes[key]
        data = path.read_bytes()
        value = hashlib.sha256(data).hexdigest(), hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if time.time() - st.st_mtime > 2:
            self.hashes[key] = value
        return value

    @staticmethod
    def files(branch_dir):
        return {p.relative_to(branch_dir).as_posix(): p for p in branch_dir.rglob("*") if p.is_file()}

    def sha(self, branch_dir):
        h = hashlib.sha1()
        for rel, path in sorted(self.files(branch_dir).items()):
            h.update(f"{rel}\0{self.digest(path)[0]}\n".encode())
        return h.hexdigest()

    def commit(self, repo, branch):
        """The sha a branch of repo ("datasets/owner/name") resolves to now."""
        branch_dir = self.root / repo / quote(branch, safe="")
        if not branch_dir.is_dir():
            raise KeyError(f"{repo}@{branch}")
        return self.sha(branch_dir)

    def resolve(self, repo_dir, rev):
        """(branch folder, commit sha) for a branch name or a current commit sha, else None."""
        name = quote(rev, safe="")
        if safe([name]) and (repo_dir / name).is_dir():
            return repo_dir / name, self.sha(repo_dir / name)
        if COMMIT.fullmatch(rev):
            for branch_dir in sorted(repo_dir.iterdir()):
                if branch_dir.is_dir() and self.sha(branch_dir) == rev:
                    return branch_dir, rev
        return None

    def tree(self, files, sha, prefix, recursive):
        """Files and folders under prefix, all the way down or one level, as /api/.../tree lists them."""
        base, entries = prefix + "/" if prefix else "", {}
        for rel, path in files.items():
            if not rel.startswith(base):
                continue
            parts = rel[len(base):].split("/")
            keep = len(parts) if recursive else 1
            for i in range(1, min(keep, len(parts) - 1) + 1):  # the folders on the way
                folder = base + "/".join(parts[:i])
                entries[folder] = {"type": "directory", "path": folder,
                                   "oid": hashlib.sha1(f"{sha}:{folder}".encode()).hexdigest()}
            if keep >= len(parts):
                entries[rel] = {"type": "file", "path": rel, "size": path.stat().st_size,
                                "oid": self.digest(path)[1]}
        return [entries[k] for k in sorted(entries)]

    def handle_error(self, request, client_address):  # a client hanging up mid-answer is no server error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def take_drop(self, key):
        with self.lock:
            for suffix, left in self.drops.items():
                if left > 0 and key.endswith(suffix):
                    self.drops[suffix] = left - 1
                    return True
        return False

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.log:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub: the client pools connections

    def log_message(self, *args):  # keep pytest output clean; `log_request` records instead
        pass

    def log_request(self, code="-", size="-"):
        headers = getattr(self, "headers", None) or {}
        self.server.record({"method": self.command, "path": self.path, "status": int(code),
                            "user_agent": headers.get("User-Agent"),
                            "authorization_present": "Authorization" in headers})

    def reply(self, status, body=b"", headers=(), content_type="application/json", cut=False):
        """Send an answer; `cut`: the full Content-Length, half the body, then close (a dropped download)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in dict(headers).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[:len(data) // 2] if cut else data)
        self.close_connection = self.close_connection or cut

    def error(self, status, code, message, headers=None):
        """An error as the hub sends it: the client picks its exception by the X-Error-Code header."""
        ascii_message = message.encode("ascii", "replace").decode()  # headers are latin-1; revisions not
        self.reply(status, {"error": message},
                   {"X-Error-Code": code, "X-Error-Message": ascii_message, **(headers or {})})

    def do_POST(self):  # no write API here: read the body (keep-alive) and refuse
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.reply(404, {"error": f"no route {self.path}"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_HEAD(self):
        url = urlsplit(self.path)
        segs = url.path.split("/")[1:]
        if segs[:1] == ["api"] and len(segs) >= 4 and segs[1] in ("models", "datasets"):
            return self.api(segs[1], segs[2], segs[3], [unquote(s) for s in segs[4:]], parse_qs(url.query))
        kind, segs = ("datasets", segs[1:]) if segs[:1] == ["datasets"] else ("models", segs)
        if len(segs) >= 5 and segs[2] == "resolve":
            return self.file(kind, segs[0], segs[1], unquote(segs[3]), "/".join(unquote(s) for s in segs[4:]))
        return self.reply(404, {"error": f"no route {self.path}"})

    do_GET = do_HEAD

    def repo(self, kind, owner, name):
        repo_dir = self.server.root / kind / owner / name
        if safe([owner, name]) and repo_dir.is_dir():
            return f"{kind}/{owner}/{name}", repo_dir
        self.error(404, "RepoNotFound", f"Repository {owner}/{name} not found")
        return None, None

    def api(self, kind, owner, name, rest, query):
        repo, repo_dir = self.repo(kind, owner, name)
        if repo is None:
            return None
        if rest == ["auth-check"]:
            return self.gate(repo) and self.reply(200, {})
        if rest and rest[0] not in ("revision", "tree") or rest[:1] == ["tree"] and len(rest) < 2:
            return self.reply(404, {"error": f"no route {self.path}"})
        rev = "/".join(rest[1:]) if rest[:1] == ["revision"] else rest[1] if rest else "main"
        found = self.server.resolve(repo_dir, rev)
        if found is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        branch_dir, sha = found
        files = self.server.files(branch_dir)
        if rest[:1] != ["tree"]:
            mtime = time.gmtime(max((p.stat().st_mtime for p in files.values()), default=0))
            return self.reply(200, {
                "id": f"{owner}/{name}", "author": owner, "sha": sha, "private": False, "disabled": False,
                "gated": "manual" if repo in self.server.gated else False, "tags": [], "downloads": 0,
                "likes": 0, "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", mtime),
                "siblings": [{"rfilename": r} for r in sorted(files)]})
        prefix = "/".join(rest[2:]).strip("/")
        recursive = query.get("recursive", [""])[0].lower() in ("true", "1")  # the client sends true/false
        listing = self.server.tree(files, sha, prefix, recursive)
        if prefix and not listing:
            return self.error(404, "EntryNotFound", f"{prefix} not on {rev}", {"X-Repo-Commit": sha})
        return self.reply(200, listing)  # one page: no Link header, so the client asks no further

    def gate(self, repo):
        token = self.server.token
        if repo not in self.server.gated or token and self.headers.get("Authorization") == f"Bearer {token}":
            return True
        self.error(401, "GatedRepo", f"Access to {repo} is restricted. You must have access to it and be "
                                     "authenticated to access it. Please log in.")
        return False

    def file(self, kind, owner, name, rev, rel):
        repo, repo_dir = self.repo(kind, owner, name)
        if repo is None or not self.gate(repo):
            return None
        found = self.server.resolve(repo_dir, rev)
        if found is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        branch_dir, sha = found
        path = branch_dir / rel
        if not safe(rel.split("/")) or not path.is_file():
            return self.error(404, "EntryNotFound", f"{rel} not on {rev}", {"X-Repo-Commit": sha})
        data = path.read_bytes()
        headers = {"ETag": f'"{self.server.digest(path)[1]}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        status, ranged, size = 200, RANGE.fullmatch(self.headers.get("Range", "").strip()), len(data)
        if ranged and any(ranged.groups()):  # bytes=N-, bytes=N-M or bytes=-K
            first, last = ranged.groups()
            start = int(first) if first else max(size - int(last), 0)
            end = min(int(last), size - 1) if first and last else size - 1
            if start >= size:
                return self.reply(416, b"", {"Content-Range": f"bytes */{size}"}, "text/plain")
            status, data, headers["Content-Range"] = 206, data[start:end + 1], f"bytes {start}-{end}/{size}"
        cut = self.command == "GET" and self.server.take_drop(f"{repo}/{rel}")
        return self.reply(status, data, headers, "application/octet-stream", cut=cut)


@contextmanager
def hub_server(root, log=None, gated=(), token=None, drops=None, port=0):
    """The hub serving `root`, on a free port (or `port`), for the length of the `with`."""
    server = Hub(root, log=log, gated=gated, token=token, drops=drops, port=port)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--log")
    parser.add_argument("--gated", nargs="+", action="extend", default=[], metavar="KEY")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    # The token only from the environment: a command line is visible to every user of the machine.
    with hub_server(args.root, log=args.log, gated=args.gated, token=os.environ.get("HF_TOKEN"),
                    port=args.port) as server:
        print(f"url={server.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
