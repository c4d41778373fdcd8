"""Set a seeded slice of one source's training split aside for post-hoc calibration; the rest is
what resampling draws from, so no reward model ever trains on the held-out pairs."""

import argparse
from pathlib import Path

from more_lib.core import cli
from more_lib.core.seeding import rng_for
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rest", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    args = parser.parse_args()
    records = data.read_records(args.input)
    source = args.input.parent.name
    rest, heldout = data.split_heldout(records, args.n, rng_for(args.seed, "heldout", source))
    data.write_records(rest, args.rest)
    data.write_records(heldout, args.heldout)
    print(f"{source}: held out {len(heldout)} of {len(records)}; {len(rest)} left to resample from")


if __name__ == "__main__":
    cli.run(main)
