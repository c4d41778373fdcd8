"""Fetch one hub repository into its snapshot folder and write its manifest (the hub stage's job)."""

import argparse
import json

from more_lib.core import cli, io
from more_lib.hub import fetch as hub_fetch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", required=True, help="JSON: the plan's entry (type, id, requested, keys)")
    parser.add_argument("--pin", required=True, help="the locked commit, else the configured revision")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--manifest", required=True)
    args = parser.parse_args()
    manifest = hub_fetch.fetch(json.loads(args.repo), args.pin, args.folder)
    io.write_json(manifest, args.manifest)
    print(f"{manifest['type']} {manifest['id']}: commit {manifest['commit']}, {len(manifest['files'])} files, "
          f"{sum(f['size'] for f in manifest['files'].values())} bytes in {args.folder}")


if __name__ == "__main__":
    cli.run(main)
