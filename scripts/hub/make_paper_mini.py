"""Write the paper-mini hub: every repository config/paper.yaml names (datasets in the hub's layouts,
tiny pre-trained Pythia and Llama checkpoints), laid out as the local hub server serves it:
ROOT/{datasets|models}/{owner}/{name}/{quoted branch}/<files>. Same seed and threads: same bytes."""

import argparse
import time
from pathlib import Path

import datasets
import transformers
import yaml

from more_lib.core import cli
from more_lib.data import prepare
from more_lib.hub import paper_mini


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="the hub folder to write (its repositories are replaced)")
    parser.add_argument("--config", type=Path, default=Path("config/paper.yaml"), help="names the repositories")
    parser.add_argument("--world", type=Path, default=Path("config/config.yaml"), help="the synthetic world and sources")
    parser.add_argument("--pairs", type=int, default=300, help="training pairs per source")
    parser.add_argument("--test-pairs", type=int, default=100, help="test pairs per source")
    parser.add_argument("--steps", type=int, default=150, help="pre-training steps per model (batch 16)")
    parser.add_argument("--seed", type=int, help="default: the config's seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the bytes depend on it)")
    parser.add_argument("--verify", action="store_true", help="convert every source from ROOT and print the counts")
    args = parser.parse_args()
    paper, synth = (yaml.safe_load(path.read_text(encoding="utf-8")) for path in (args.config, args.world))
    seed = paper["seed"] if args.seed is None else args.seed
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    began = time.perf_counter()
    for folder, files, size in paper_mini.build(args.root, paper, synth, args.pairs, args.test_pairs, seed,
                                                args.steps, args.threads):
        print(f"{folder.relative_to(args.root)}: {files} files, {size:,} bytes")
    print(f"wrote {args.root} in {time.perf_counter() - began:.1f} s")
    if args.verify:
        for name, spec in paper["sources"].items():
            for row in prepare.prepare_source(name, paper_mini.local_spec(args.root, spec), synth["synthetic"], seed)[1]:
                print(f"{name}/{row['split']}: read {row['rows_read']}, kept {row['kept']}, dropped {row['dropped']}")


if __name__ == "__main__":
    cli.run(main)
