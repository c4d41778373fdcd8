"""Judge policy a against policy b on one task (each prompt asked in both orders): judgment lines
and a one-row ledger CSV (requests, cache hits, tokens, invalid answers), derived from the judge
cache's request records, so it counts the requests of earlier killed or failed runs too."""

import argparse
import json
from pathlib import Path

from more_lib.core import cli
from more_lib.core.errors import ConfigError
from more_lib.judge import pairs as judge


def parse_json(text, option):
    try:
        return None if text is None else json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{option}: malformed JSON ({err.msg})") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="generations of policy a (JSON lines)")
    parser.add_argument("--b", type=Path, required=True, help="generations of policy b, same ids")
    parser.add_argument("--names", nargs=2, metavar=("A", "B"), help="policy names for the ledger "
                        "(default: the files' parent folder names)")
    parser.add_argument("--task", required=True, help="a task of judge.tasks (helpful, harmless)")
    parser.add_argument("--judge", required=True, help="JSON: the `judge` config block")
    parser.add_argument("--world", help="JSON: the `synthetic` world (oracle judge)")
    parser.add_argument("--drift", help="JSON: drift of the source judge.tasks[task] names (oracle judge)")
    parser.add_argument("--output", type=Path, required=True, help="judgment file (JSON lines)")
    parser.add_argument("--ledger", type=Path, required=True, help="one-row ledger CSV")
    args = parser.parse_args()
    cfg, world, drift = (parse_json(x, o) for x, o in [(args.judge, "--judge"), (args.world, "--world"),
                                                        (args.drift, "--drift")])
    judge.check_config(cfg, args.task)
    pairs = judge.pair_up(judge.read_generations(args.a), judge.read_generations(args.b), args.a, args.b)
    names = args.names or [args.a.parent.name, args.b.parent.name]
    # the ledger account: a killed or failed run of this comparison and its rerun share it
    account = f"{names[0]} vs {names[1]} ({args.task})"
    rows, counts = judge.judge_pairs(pairs, args.task, cfg, world, drift, account)
    judge.write_judgments(rows, args.output)
    judge.write_ledger({"a": names[0], "b": names[1], "task": args.task, "judge": cfg["kind"],
                        "model": cfg["model"] if cfg["kind"] == "openai" else "oracle", **counts}, args.ledger)
    s = judge.summarise(rows)
    print(f"{args.task} {names[0]} vs {names[1]}: win {s['win']:.1f}% tie {s['tie']:.1f}% lose "
          f"{s['lose']:.1f}% of {s['n']}, {s['invalid']} invalid; {counts['requests']} requests, "
          f"{counts['cache_hits']} cache hits")


if __name__ == "__main__":
    cli.run(main)
