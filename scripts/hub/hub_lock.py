"""Write the hub lock: every repository's resolved commit and its files, from the snapshots'
manifests; with --refresh, resolve every configured revision anew instead (on purpose)."""

import argparse
import json

from more_lib.core import cli, io
from more_lib.hub import fetch as hub_fetch
from more_lib.hub import plan as hub


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifests", nargs="*", default=[])
    parser.add_argument("--refresh", help="JSON: the plan ({key: entry}) whose revisions to resolve anew")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.refresh:
        old = hub.read_lock(args.output)
        repositories = {}
        for key, entry in json.loads(args.refresh).items():
            commit = hub_fetch.resolve(entry, entry["requested"] or hub.DEFAULT_REVISION)
            kept = old.get(key, {})
            files = kept.get("files", {}) if kept.get("commit") == commit else {}
            repositories[key] = {**{f: entry[f] for f in ("type", "id", "requested", "keys")},
                                 "commit": commit, "files": files}
            print(f"{key}: {kept.get('commit', 'unlocked')} -> {commit}")
    else:
        manifests = [io.read_json(path) for path in args.manifests]
        repositories = {hub.key(m["type"], m["id"]): hub.lock_entry(m) for m in manifests}
    io.write_json({"repositories": repositories}, args.output)


if __name__ == "__main__":
    cli.run(main)
