"""Responses of one policy to the first N test prompts of each alignment source, as JSON lines
{id, prompt, response} (what the judges compare)."""

import argparse
import json
from pathlib import Path

import torch

from more_lib.align import policy, rjs
from more_lib.core import cli, io
from more_lib.data import records as data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="policy folder or hub id")
    parser.add_argument("--template", required=True, help="prompt template with {prompt}")
    parser.add_argument("--tests", type=Path, nargs="+", required=True, help="test preference files")
    parser.add_argument("--outputs", type=Path, nargs="+", required=True)
    parser.add_argument("--settings", required=True, help="JSON: the `alignment.generation` config block")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    model, tokenizer = policy.load_policy(args.policy), policy.load_policy_tokenizer(args.policy)
    for path, output in zip(args.tests, args.outputs, strict=True):
        rows = rjs.unique_prompts(data.read_records(path), settings["prompts"])
        responses = policy.generate(model, tokenizer, [policy.render(args.template, r["prompt"]) for r in rows],
                                    settings, args.seed, desc=path.parent.name)
        with io.atomic_path(output) as tmp:
            tmp.write_text("".join(json.dumps({"id": r["id"], "prompt": r["prompt"], "response": y},
                                              ensure_ascii=False) + "\n" for r, y in zip(rows, responses)))
        print(f"{path}: {len(rows)} responses, {sum(not y for y in responses)} empty")


if __name__ == "__main__":
    cli.run(main)
