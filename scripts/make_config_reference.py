"""config/README.md, the config reference: every key of the config schema with its type, default, meaning
and what a change to it rebuilds (derived from the workflow's decision records, more_lib.core.config_reference).

    python scripts/make_config_reference.py            # writes config/README.md
    python scripts/make_config_reference.py --check    # exits 1 naming the first key that drifted
"""

import argparse
import sys
from pathlib import Path

from more_lib.core import cli, config_reference, io


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    parser.add_argument("--output", type=Path, default=config_reference.README)
    parser.add_argument("--processes", type=int, default=2, help="workflow parses at once (default 2)")
    args = parser.parse_args()
    if args.check:
        drifted = config_reference.check(args.output, args.processes)
        if drifted:
            print(drifted, file=sys.stderr)
            sys.exit(1)
        return
    text = config_reference.generate(args.processes)
    with io.atomic_path(args.output) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    cli.run(main)
