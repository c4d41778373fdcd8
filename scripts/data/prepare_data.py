"""Build the canonical train/test splits of one preference source and its report rows."""

import argparse
import json
from pathlib import Path

from more_lib.core import cli, io
from more_lib.data import prepare
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="source name (a key of `sources`)")
    parser.add_argument("--spec", required=True, help="JSON: the source's config entry")
    parser.add_argument("--world", required=True, help="JSON: the `synthetic` config block")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--train", type=Path, required=True, help="the train split's JSON-lines file")
    parser.add_argument("--test", type=Path, required=True, help="the test split's JSON-lines file")
    parser.add_argument("--report", type=Path, required=True, help="the report rows (JSON)")
    args = parser.parse_args()
    splits, report = prepare.prepare_source(
        args.source, json.loads(args.spec), json.loads(args.world), args.seed
    )
    for split, records in splits.items():
        data.write_records(records, getattr(args, split))
    io.write_json(report, args.report)
    for row in report:
        print(f"{row['source']}/{row['split']}: read {row['rows_read']}, kept {row['kept']} "
              f"({row['kept_one_empty']} with one empty reply), dropped {row['dropped']}")


if __name__ == "__main__":
    cli.run(main)
