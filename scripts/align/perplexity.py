"""Perplexity of one policy on the chosen responses of each alignment source's test set (prompt
masked; lower is better): Table 1's PPL columns."""

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from more_lib.align import policy
from more_lib.core import cli, io
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="policy folder or hub id")
    parser.add_argument("--name", required=True, help="the policy's name in the table")
    parser.add_argument("--template", required=True, help="prompt template with {prompt}")
    parser.add_argument("--tests", type=Path, nargs="+", required=True, help="test preference files")
    parser.add_argument("--settings", required=True, help="JSON: the `alignment.perplexity` config block")
    parser.add_argument("--max-length", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    model, tokenizer = policy.load_policy(args.policy), policy.load_policy_tokenizer(args.policy)
    rows = []
    for path in args.tests:
        records = data.read_records(path)[:settings["pairs"]]
        examples = [policy.example_ids(tokenizer, policy.render(args.template, r["prompt"]), r["chosen"],
                                       args.max_length) for r in records]
        ppl, tokens = policy.perplexity(model, tokenizer, examples, settings["batch_size"])
        rows.append({"policy": args.name, "source": records[0]["source"], "pairs": len(records),
                     "tokens": tokens, "ppl": ppl})
    with io.atomic_path(args.output) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
