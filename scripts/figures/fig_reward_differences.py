"""Reward differences d = r(chosen) - r(rejected) on the test pairs. Figure 5: histograms of d
of Top (the single-source RM of the test source), MultiTask and MORE on each focus test source
(helpful and harmless in the paper); d > 0 is a correctly ranked pair. Figure 8: on each focus
test source, box plots of the positive (filled) and of the negative (hollow) differences of the
same three RMs. Figure 9: histograms of d of the raw RM and of each single-source RM over the
pairs of every test source, with their mean and standard deviation."""

import argparse
from pathlib import Path

from more_lib.core import cli, names
from more_lib.evaluate import tables
from more_lib.figures import differences as fig_differences
from more_lib.figures import plotting


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scores", nargs="+", required=True,
                        help="SCHEME:SOURCE=PATH: the raw, single-source, MultiTask and MORE RMs on every source")
    parser.add_argument("--mix", required=True, help="the mix of the MultiTask and MORE RMs")
    parser.add_argument("--focus", nargs="+", default=["helpful", "harmless"],
                        help="test sources of Figures 5 and 8")
    parser.add_argument("--iqr-factor", type=float, default=1.5,
                        help="whisker length of Fig. 8 in IQRs: the outlier tables' box-plot rule")
    for figure in ("fig5", "fig8", "fig9"):
        parser.add_argument(f"--{figure}-output", type=Path, nargs="+", required=True, help=".png and .pdf files")
    args = parser.parse_args()
    paths = names.keyed_paths(args.scores, 2)
    sources = tables.keyed_sources(paths)
    unknown = [s for s in args.focus if s not in sources]
    if unknown:
        parser.error(f"--focus {' '.join(unknown)} not among the scored test sources")
    scores = plotting.load_scores(paths, derived=True)
    plotting.save(fig_differences.fig5(scores, sources, args.focus, args.mix), args.fig5_output)
    plotting.save(fig_differences.fig8(scores, sources, args.focus, args.mix, args.iqr_factor), args.fig8_output)
    plotting.save(fig_differences.fig9(scores, sources), args.fig9_output)


if __name__ == "__main__":
    cli.run(main)
