"""Train a policy language model: pre-train the synthetic world's stand-in for Alpaca from scratch,
SFT on chosen responses, or RJS on best-of-S samples, into a Hugging Face folder.

`python scripts/align/train_policy.py ...` trains in one process; under `torchrun` the same loop runs
through DeepSpeed (ZeRO config in the settings; ZeRO-3 for a 7B policy)."""

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import torch

from more_lib.align import policy
from more_lib.core import cli, io, progress
from more_lib.core.errors import DataError
from more_lib.data import records as data
from more_lib.reward import checkpoint, models, train, trainers


def examples_from(args, tokenizer, template, max_length):
    pairs = []
    for path in args.pairs:
        for record in data.read_records(path):
            pairs += [(record["prompt"], record[side]) for side in args.responses]
    for path in args.examples:
        pairs += [(row.prompt, row.response) for row in pd.read_parquet(path).itertuples()]
    return [policy.example_ids(tokenizer, policy.render(template, p), y, max_length) for p, y in pairs]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="JSON: the `policy` config block")
    parser.add_argument("--init", help="policy folder or hub id to start from (default: the policy block's model)")
    parser.add_argument("--pairs", type=Path, nargs="*", default=[], help="preference files to learn responses of")
    parser.add_argument("--responses", nargs="+", default=["chosen"], choices=["chosen", "rejected"])
    parser.add_argument("--examples", type=Path, nargs="*", default=[], help="parquet of prompt, response (RJS)")
    parser.add_argument("--settings", required=True, help="JSON: lr, batch_size, epochs, max_length, ...")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="stop early (tests)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec, settings = json.loads(args.policy), json.loads(args.settings)
    start = args.init or spec.get("pretrained")
    tokenizer = policy.load_policy_tokenizer(start or spec["tokenizer"])
    model = policy.load_policy(start, training=True) if start else policy.build_policy(spec, tokenizer, args.seed)
    examples = examples_from(args, tokenizer, spec["template"], settings["max_length"])
    if not examples:
        raise DataError(f"no training examples in {[str(p) for p in args.pairs + args.examples]}")
    trainer, log = train.train_policy(model, tokenizer, examples, settings, args.seed, args.checkpoint_dir,
                                      args.max_steps, fingerprint=checkpoint.of_arguments(args), live_dir=args.output)
    state_dict = trainer.state_dict_for_export()  # every rank: ZeRO-3 gathers the shards collectively
    if trainers.rank_and_world()[0] == 0:
        model.load_state_dict({k: v.to(model.dtype) for k, v in state_dict.items()})
        models.save_pretrained(model, tokenizer, args.output, keep=progress.FILES)  # the TensorBoard files
        with io.atomic_path(args.output / progress.LOG) as tmp:
            pd.DataFrame(log).to_csv(tmp, index=False)
        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
        print(f"{len(examples)} examples, {len(log)} steps, final loss {log[-1]['loss']:.4f}")


if __name__ == "__main__":
    cli.run(main)
