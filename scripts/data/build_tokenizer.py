"""Train the word-level tokenizer of the synthetic world on the training corpus (HF folder)."""

import argparse
from pathlib import Path

from more_lib.core import cli, io
from more_lib.data import records as data
from more_lib.reward import models


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=Path, nargs="+", required=True)
    parser.add_argument("--min-frequency", type=int, default=1)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args()
    texts = [
        text
        for path in args.inputs
        for r in data.read_records(path)
        for text in (r["prompt"], r["chosen"], r["rejected"])
    ]
    tokenizer = models.train_word_tokenizer(texts, args.min_frequency)
    with io.atomic_dir(args.output_dir) as tmp:
        tokenizer.save_pretrained(tmp)
    print(f"vocabulary: {len(tokenizer)} tokens")


if __name__ == "__main__":
    cli.run(main)
