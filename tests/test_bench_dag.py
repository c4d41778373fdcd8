"""The DAG benchmark's count of scored test pairs, on a hand-made results/ tree."""

import pandas as pd

from more_lib.benchmarks import dag


def test_scored_pairs_counts_every_replicates_test_scores_and_nothing_else(tmp_path):
    def scores(path, rows):
        path = tmp_path / path
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id": range(rows), "r_chosen": 0.0, "r_rejected": 0.0}).to_parquet(path)

    scores("results/scores/tiny-s/more-all/helpful.parquet", 3)
    scores("results/seed1/scores/tiny-s/more-all/helpful.parquet", 2)
    scores("results/heldout_scores/tiny-s/more-all/helpful.parquet", 7)  # calibration hold-out, not a test pair
    # a provenance record's folder is named as the output it records
    decision = tmp_path / "results/.provenance/scores/tiny-s/more-all/helpful.parquet/decision.json"
    decision.parent.mkdir(parents=True)
    decision.write_text("{}")
    assert dag.scored_pairs(tmp_path) == 5
