"""The paper's claims C1–C8 and C9 (beyond the paper) on every base, each an effect with an
interval over the test pairs and the training seeds (C7: an exact permutation test over Fig. 7's
points): results/claims.csv; what each design could resolve: results/benchmarks/power.csv."""

import argparse
from pathlib import Path

import pandas as pd

from more_lib.core import artifacts, cli, io, names
from more_lib.data import records as data
from more_lib.evaluate import claims, power, tables, truth, verdicts


def by_base_and_replicate(paths):
    """{(base, replicate): {(scheme, source): path}} from {(base, replicate, scheme, source): path}."""
    grouped = {}
    for (base, replicate, scheme, source), path in paths.items():
        grouped.setdefault((base, replicate), {})[(scheme, source)] = path
    return grouped


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scores", nargs="+", required=True,
                        help="BASE:REPLICATE:SCHEME:SOURCE=PATH of every test scores file the claims read")
    parser.add_argument("--heldout", nargs="+", required=True,
                        help="BASE:REPLICATE:SCHEME:SOURCE=PATH of the held-out scores C4-ts fits temperatures on")
    parser.add_argument("--tests", nargs="+", required=True, help="SOURCE=PATH of every test set")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--focus", nargs="+", required=True)
    parser.add_argument("--mix", required=True)
    parser.add_argument("--mix-sources", nargs="+", required=True)
    parser.add_argument("--ksweep", nargs="+", required=True, help="K=MIX of the K-sweep")
    parser.add_argument("--tolerance", type=float, required=True, help="accuracy gap that still counts as close")
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--ece", choices=["mean", "pooled"], required=True, help="Table 2's ECE over test sources")
    parser.add_argument("--tie-credit", type=float, required=True)
    parser.add_argument("--iqr-factor", type=float, required=True)
    parser.add_argument("--points", type=Path, required=True, help="Fig. 7's points (claim C7)")
    parser.add_argument("--aligned-bases", nargs="*", default=[], help="bases whose K-sweep RMs Fig. 7 uses")
    parser.add_argument("--resamples", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--power", type=Path, required=True, help="the pairs and seeds each claim would need")
    parser.add_argument("--threads", type=int, default=1, help="processes judging claims at once")
    args = parser.parse_args()
    settings = claims.Settings(
        sources=args.sources, focus=args.focus, mix=args.mix, mix_sources=args.mix_sources,
        ksweep={int(k): mix for k, mix in (item.split("=") for item in args.ksweep)}, tolerance=args.tolerance,
        ece_bins=args.ece_bins, ece_mode=args.ece, tie_credit=args.tie_credit, iqr_factor=args.iqr_factor)
    records = {source: data.read_records(path) for source, path in names.keyed_paths(args.tests, 1).items()}
    test_ids = {source: [r["id"] for r in rows] for source, rows in records.items()}
    truths = {source: truth.truth_frame(rows) for source, rows in records.items()}
    truth_sources = [s for s in args.sources if truths[s] is not None]
    points = artifacts.read_table(args.points, "fig7_points")
    scores = by_base_and_replicate(names.keyed_paths(args.scores, 4))
    heldout = by_base_and_replicate(names.keyed_paths(args.heldout, 4))
    frames = []
    for base in dict.fromkeys(base for base, _ in scores):
        replicates = [claims.replicate_arrays(tables.read_scores(paths, test_ids), tables.read_scores(heldout[key]),
                                              truths, test_ids, args.sources)
                      for key, paths in scores.items() if key[0] == base]
        frames.append(verdicts.claims_table(base, replicates, truth_sources,
                                          points if base in args.aligned_bases else None, settings,
                                          args.resamples, args.seed, workers=args.threads))
    table = pd.concat(frames, ignore_index=True)
    needs = power.power_table(table)
    for frame, path in ((table, args.output), (needs, args.power)):
        with io.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table[["claim", "base", "effect", "ci_low", "ci_high", "detectable", "resamples", "verdict"]]
              .to_string(index=False))
        print(needs.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
