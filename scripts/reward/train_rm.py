"""Train one reward model (raw, single-source, MultiTask or MORE) into a Hugging Face folder.

`python scripts/reward/train_rm.py ...` trains in one process; `torchrun --nproc_per_node N
scripts/reward/train_rm.py ...` runs the same loop through DeepSpeed (ZeRO config in the settings)."""

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import torch

from more_lib.core import cli, io, progress
from more_lib.data import records as data
from more_lib.reward import checkpoint, models, train, trainers


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="JSON: the base model's config entry")
    parser.add_argument("--init", help="a pre-trained LM folder to start from (its head is new)")
    parser.add_argument("--scheme", required=True, choices=["raw", "single", "multitask", "more"])
    parser.add_argument("--train", type=Path, nargs="*", default=[], help="resampled files, one per source")
    parser.add_argument("--settings", required=True, help="JSON: the `reward` config block")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="stop early (benchmarks and tests)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    tokenizer = models.load_tokenizer(json.loads(args.base))
    model = models.build_reward_model(json.loads(args.base), tokenizer, args.seed, args.init)
    log = []
    if args.scheme != "raw":
        records = [data.read_records(path) for path in args.train]
        trainer, log, _ = train.train_reward_model(
            model, tokenizer, records, args.scheme, settings, args.seed, args.checkpoint_dir, args.max_steps,
            fingerprint=checkpoint.of_arguments(args), live_dir=args.output)
        state_dict = trainer.state_dict_for_export()
    else:
        state_dict = model.state_dict()
    if trainers.rank_and_world()[0] == 0:
        model.load_state_dict({k: v.float() for k, v in state_dict.items()})
        models.save_pretrained(model, tokenizer, args.output, keep=progress.FILES)  # the TensorBoard files
        with io.atomic_path(args.output / progress.LOG) as tmp:
            pd.DataFrame(log, columns=list(log[0]) if log else ["step"]).to_csv(tmp, index=False)
        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
        print(f"{args.scheme}: {len(log)} steps, final loss {log[-1]['loss']:.4f}" if log else "raw: untrained")


if __name__ == "__main__":
    cli.run(main)
