"""Draw exactly N pairs from one source's training pairs (with replacement when there are fewer)."""

import argparse
from pathlib import Path

from more_lib.core import cli, io
from more_lib.core.seeding import rng_for
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, help="the slice held out before resampling (counted in the summary)")
    args = parser.parse_args()
    records = data.read_records(args.input)
    heldout = len(data.read_records(args.heldout)) if args.heldout else 0
    source = records[0]["source"] if records else args.input.parent.name
    drawn, summary = data.resample(records, args.n, rng_for(args.seed, "resample", source))
    data.write_records(drawn, args.output)
    io.write_json({"source": source, **summary, "heldout": heldout}, args.summary)
    print(f"{source}: drew {args.n} from {summary['originals']} ({summary['unique_originals_drawn']} distinct)")


if __name__ == "__main__":
    cli.run(main)
