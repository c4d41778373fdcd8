"""Score preference files (every test source and held-out slice) with one reward model: per-pair
r_chosen, r_rejected as parquet."""

import argparse
import json
from pathlib import Path

import torch

from more_lib.core import artifacts, cli
from more_lib.data import records as data
from more_lib.reward import models, scoring


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rm", type=Path, required=True, help="reward-model folder")
    parser.add_argument("--inputs", type=Path, nargs="+", required=True, help="test and held-out files")
    parser.add_argument("--outputs", type=Path, nargs="+", required=True)
    parser.add_argument("--settings", required=True, help="JSON: the `reward` config block")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    tokenizer = models.load_tokenizer({"tokenizer": str(args.rm)})
    model = models.load_reward_model(args.rm)
    for path, output in zip(args.inputs, args.outputs, strict=True):
        records = data.read_records(path)
        scores = scoring.score_pairs(model, tokenizer, records, settings["max_length"],
                                     settings["score_batch_size"], desc=f"{path.parent.name}/{path.stem}",
                                     packed=settings.get("packed", False))
        artifacts.write_table(scores, output, "scores")  # refuses a NaN reward, which every table would count as a loss
        print(f"{path}: {len(scores)} pairs, accuracy {(scores.r_chosen > scores.r_rejected).mean():.3f}")


if __name__ == "__main__":
    cli.run(main)
