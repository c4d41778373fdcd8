"""Sample S responses per training prompt from a policy (the first step of rejection sampling)."""

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from more_lib.align import policy, rjs
from more_lib.core import cli, io
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="policy folder or hub id")
    parser.add_argument("--template", required=True, help="prompt template with {prompt}")
    parser.add_argument("--prompts", type=Path, nargs="+", required=True, help="preference files (training splits)")
    parser.add_argument("--settings", required=True, help="JSON: the `alignment.rjs` config block")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    rows = [row for path in args.prompts for row in rjs.unique_prompts(data.read_records(path), settings["prompts"])]
    model, tokenizer = policy.load_policy(args.policy), policy.load_policy_tokenizer(args.policy)
    samples = settings["samples"]
    responses = policy.generate(model, tokenizer, [policy.render(args.template, r["prompt"]) for r in rows],
                                settings["sampling"], args.seed, samples=samples, desc="sampling")
    frame = pd.DataFrame([{**row, "sample": s} for row in rows for s in range(samples)]).assign(response=responses)
    with io.atomic_path(args.output) as tmp:
        frame.to_parquet(tmp, index=False)
    print(f"{len(rows)} prompts x {samples} samples; empty responses: {(frame.response == '').sum()}")


if __name__ == "__main__":
    cli.run(main)
