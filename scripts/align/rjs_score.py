"""Score every RJS sample with one reward model (prompt as in its training pairs + response)."""

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from more_lib.align import policy
from more_lib.core import cli, io
from more_lib.reward import models, scoring


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rm", type=Path, required=True, help="reward-model folder")
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--settings", required=True, help="JSON: the `reward` config block")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    samples = pd.read_parquet(args.samples)
    tokenizer = models.load_tokenizer({"tokenizer": str(args.rm)})
    model = models.load_reward_model(args.rm)
    texts = [policy.rm_text(p, y) for p, y in zip(samples["prompt"], samples["response"])]
    rewards = scoring.score_texts(model, tokenizer, texts, settings["max_length"], settings["score_batch_size"],
                                  packed=settings.get("packed", False))
    with io.atomic_path(args.output) as tmp:
        samples[["id", "sample"]].assign(reward=rewards).to_parquet(tmp, index=False)
    print(f"{len(samples)} samples scored, mean reward {rewards.mean():.4f}")


if __name__ == "__main__":
    cli.run(main)
