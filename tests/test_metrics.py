import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit
from torchmetrics.classification import BinaryCalibrationError

from more_lib.evaluate.metrics import (
    accuracy,
    both_orientations,
    calibration_errors,
    pair_metrics,
    reliability_table,
    smooth_ece,
)

# Confidences on bin edges: 0.0, 0.1 and 0.5 go to the LOWER bin with M = 10 (right-closed bins).
EDGE_CONF = [0.0, 0.05, 0.1, 0.15, 0.5, 0.55, 1.0]
EDGE_LABEL = [0, 0, 1, 0, 1, 0, 1]


def test_bin_edges_go_to_the_lower_bin():
    table = reliability_table(EDGE_CONF, EDGE_LABEL, 10)
    assert table["count"].tolist() == [3, 1, 0, 0, 1, 1, 0, 0, 0, 1]
    assert table["lower"].tolist()[:2] == [0.0, 0.1] and table["upper"].tolist()[-1] == 1.0
    assert table.loc[2, ["confidence", "accuracy"]].isna().all()


def test_calibration_errors_hand_computed_m10():
    # bin 0 (0, 0.1] + 0.0: {0.0:0, 0.05:0, 0.1:1} |0.15 - 1| = 0.85, per bin 0.85/3
    # bin 1 (0.1, 0.2]:     {0.15:0}                |0.15 - 0| = 0.15
    # bin 4 (0.4, 0.5]:     {0.5:1}                 |0.5 - 1|  = 0.5
    # bin 5 (0.5, 0.6]:     {0.55:0}                |0.55 - 0| = 0.55
    # bin 9 (0.9, 1.0]:     {1.0:1}                 0
    # ECE = (0.85 + 0.15 + 0.5 + 0.55 + 0) / 7; ACE = (0.85/3 + 0.15 + 0.5 + 0.55 + 0) / 5; MCE = 0.55.
    # (Left-closed bins would give bin 0 {0.0, 0.05}: 0.05, bin 1 {0.1, 0.15}: 0.75, bin 5 {0.5, 0.55}: 0.05.)
    got = calibration_errors(EDGE_CONF, EDGE_LABEL, 10)
    assert got["ece"] == pytest.approx(2.05 / 7, abs=1e-12)
    assert got["ace"] == pytest.approx((0.85 / 3 + 1.2) / 5, abs=1e-12)
    assert got["mce"] == pytest.approx(0.55, abs=1e-12)


def test_calibration_errors_hand_computed_m5():
    # bin 0 (0, 0.2] + 0.0: {0.0:0, 0.05:0, 0.1:1, 0.15:0} |0.3 - 1| = 0.7, per bin 0.7/4
    # bin 2 (0.4, 0.6]: {0.5:1, 0.55:0} |1.05 - 1| = 0.05, per bin 0.025;  bin 4: {1.0:1} 0
    got = calibration_errors(EDGE_CONF, EDGE_LABEL, 5)
    assert got["ece"] == pytest.approx(0.75 / 7, abs=1e-12)
    assert got["ace"] == pytest.approx((0.175 + 0.025 + 0) / 3, abs=1e-12)
    assert got["mce"] == pytest.approx(0.175, abs=1e-12)


def test_pair_metrics_hand_computed_with_a_tie():
    # d = [ln 3, ln 3, -ln 3, 0] -> p = [3/4, 3/4, 1/4, 1/2]; the tie is not correct: accuracy 2/4.
    ln3 = np.log(3.0)
    got = pair_metrics([ln3, 1 + ln3, 0.0, 2.0], [0.0, 1.0, ln3, 2.0])
    assert got["n_pairs"] == 4 and got["ties"] == 1 and got["accuracy"] == 0.5
    # Brier: (1/16 + 1/16 + 9/16 + 4/16) / 4 = 15/64;  NLL: (2 ln 4/3 + ln 4 + ln 2) / 4
    assert got["brier"] == pytest.approx(15 / 64, abs=1e-12)
    assert got["nll"] == pytest.approx((2 * np.log(4 / 3) + np.log(4) + np.log(2)) / 4, abs=1e-12)
    # Both orientations, N = 8: {3/4:1, 3/4:1, 1/4:1, 1/2:1} and {1/4:0, 1/4:0, 3/4:0, 1/2:0}.
    # M = 10: bin (0.7, 0.8] {3/4:1, 3/4:1, 3/4:0} |9/4 - 2| = 1/4; bin (0.2, 0.3] {1/4:1, 1/4:0, 1/4:0}
    # |3/4 - 1| = 1/4; bin (0.4, 0.5] {1/2:1, 1/2:0} |1 - 1| = 0. ECE = (1/4 + 1/4) / 8 = 1/16,
    # ACE = (1/12 + 1/12 + 0) / 3 = 1/18, MCE = 1/12. M = 5 and 20 group the same points alike.
    for m in (5, 10, 20):
        assert got[f"ece_{m}"] == pytest.approx(1 / 16, abs=1e-12)
        assert got[f"ace_{m}"] == pytest.approx(1 / 18, abs=1e-12)
        assert got[f"mce_{m}"] == pytest.approx(1 / 12, abs=1e-12)


@pytest.mark.parametrize("tie_credit, expected", [(0.0, 2 / 5), (0.5, 3 / 5)])
def test_accuracy_gives_a_tie_its_credit(tie_credit, expected):
    # d = [+1, -1, 0, +2, 0]: two right, one wrong, two ties
    r_chosen, r_rejected = [1.0, 0.0, 3.0, 2.0, -1.0], [0.0, 1.0, 3.0, 0.0, -1.0]
    assert accuracy(r_chosen, r_rejected, tie_credit) == pytest.approx(expected, abs=1e-12)
    got = pair_metrics(r_chosen, r_rejected, bins=(10,), tie_credit=tie_credit)
    assert got["accuracy"] == pytest.approx(expected, abs=1e-12) and got["ties"] == 2


def test_half_credit_is_the_paper_codes_two_orientation_accuracy():
    """The paper's compute_metrics (trainer_utils.py): every ordered pair of the two responses with
    different gold scores, prediction 1[r_j - r_i > 0] against the label 1[s_j > s_i]."""
    rng = np.random.default_rng(0)
    # bf16 rewards: a pretrained base's rewards tie often once rounded to 8 bits of mantissa
    r = torch.tensor(rng.normal(size=(400, 2)) * 0.05 + 3.0).to(torch.bfloat16).double().numpy()
    logits, scores = r, np.tile([1.0, 0.0], (len(r), 1))  # response 0 is the chosen one
    diff = logits[:, None, :] - logits[:, :, None]
    larger = scores[:, None, :] > scores[:, :, None]
    mask = larger | (scores[:, None, :] < scores[:, :, None])
    paper = ((diff > 0) == larger)[mask].mean()
    assert accuracy(r[:, 0], r[:, 1]) < paper  # there are ties to credit
    assert accuracy(r[:, 0], r[:, 1], tie_credit=0.5) == pytest.approx(paper, abs=1e-12)


def test_tie_credit_outside_0_1_is_an_error():
    with pytest.raises(ValueError, match="tie_credit"):
        accuracy([1.0], [0.0], tie_credit=2)


def test_swapping_chosen_and_rejected_changes_calibration():
    # One pair with p = 0.7: {0.7:1, 0.3:0} -> ECE (0.3 + 0.3) / 2 = 0.3; swapped {0.3:1, 0.7:0} -> 0.7.
    d = np.log(0.7 / 0.3)
    assert pair_metrics([d], [0.0])["ece_10"] == pytest.approx(0.3, abs=1e-12)
    assert pair_metrics([0.0], [d])["ece_10"] == pytest.approx(0.7, abs=1e-12)


def test_extreme_differences_stay_finite():
    got = pair_metrics([1000.0, 0.0], [0.0, 1000.0])
    # p = 1.0 (bin 9) and 0.0 (bin 0) exactly: the right pair is perfectly calibrated, the wrong one not.
    assert got["accuracy"] == 0.5 and got["nll"] == pytest.approx(500.0)
    assert got["brier"] == pytest.approx(0.5) and got["ece_10"] == pytest.approx(0.5)


def test_both_orientations_layout():
    conf, label = both_orientations([2.0, 0.0], [0.0, 1.0])
    np.testing.assert_allclose(conf, [expit(2), expit(-1), expit(-2), expit(1)], rtol=1e-15)
    assert label.tolist() == [1, 1, 0, 0]


def _random_pairs(n, seed):
    rng = np.random.default_rng(seed)
    r_chosen = rng.normal(size=n) * 2
    return r_chosen, r_chosen - rng.normal(loc=0.5, scale=2.0, size=n)


@pytest.mark.parametrize("m", [5, 10, 15, 20])
def test_ece_and_mce_agree_with_torchmetrics(m):
    conf, label = both_orientations(*_random_pairs(1000, m))
    # torchmetrics bins are left-closed [a, b); random continuous confidences never sit on an edge,
    # where the two conventions differ, so both must agree exactly here.
    assert np.abs(conf * m - np.round(conf * m)).min() > 1e-9
    preds, target = torch.from_numpy(conf), torch.from_numpy(label).long()
    ours = calibration_errors(conf, label, m)
    for norm, key in [("l1", "ece"), ("max", "mce")]:
        theirs = BinaryCalibrationError(n_bins=m, norm=norm)(preds, target).item()
        assert ours[key] == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("m", [5, 10, 20])
def test_ace_agrees_with_a_pandas_groupby(m):
    conf, label = both_orientations(*_random_pairs(500, m))
    # Add confidences exactly on edges: pd.cut's right-closed bins must place them as we do.
    edges = np.arange(m + 1) / m
    conf, label = np.r_[conf, edges], np.r_[label, np.arange(m + 1) % 2]
    frame = pd.DataFrame({"conf": conf, "label": label})
    frame["bin"] = pd.cut(frame["conf"], edges, right=True, include_lowest=True, labels=False)
    per_bin = frame.groupby("bin")[["conf", "label"]].mean()
    gaps = (per_bin["label"] - per_bin["conf"]).abs()
    counts = frame.groupby("bin").size()
    ours = calibration_errors(conf, label, m)
    assert ours["ace"] == pytest.approx(gaps.mean(), abs=1e-9)
    assert ours["mce"] == pytest.approx(gaps.max(), abs=1e-9)
    assert ours["ece"] == pytest.approx((gaps * counts).sum() / len(conf), abs=1e-9)


@pytest.mark.parametrize("m", [5, 10, 20])
def test_reliability_table_sums_to_ece(m):
    conf, label = both_orientations(*_random_pairs(300, 100 + m))
    table = reliability_table(conf, label, m)
    assert len(table) == m and table["count"].sum() == len(conf)
    filled = table[table["count"] > 0]
    weighted = (filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / len(conf)
    assert weighted == pytest.approx(calibration_errors(conf, label, m)["ece"], abs=1e-12)


@pytest.mark.parametrize("m", [10, 20])
def test_two_orientation_table_is_point_symmetric_and_ece_is_top_label_ece(m):
    r_chosen, r_rejected = _random_pairs(400, 200 + m)
    table = reliability_table(*both_orientations(r_chosen, r_rejected), m)
    # (c, y) -> (1 - c, 1 - y) maps the two-orientation set onto itself: bin b mirrors bin M-1-b.
    mirror = table.iloc[::-1].reset_index(drop=True)
    assert table["count"].tolist() == mirror["count"].tolist()
    np.testing.assert_allclose(table["confidence"], 1 - mirror["confidence"], atol=1e-12)
    np.testing.assert_allclose(table["accuracy"], 1 - mirror["accuracy"], atol=1e-12)
    # The upper half holds exactly the top-label view (conf = max(p, 1-p), label = side was right),
    # so for even M (0.5 an edge) and no ties the ECE equals the top-label ECE.
    p = expit(r_chosen - r_rejected)
    top = calibration_errors(np.maximum(p, 1 - p), (p > 0.5).astype(float), m)["ece"]
    assert pair_metrics(r_chosen, r_rejected, bins=(m,))[f"ece_{m}"] == pytest.approx(top, abs=1e-12)


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        calibration_errors([], [], 10)


def test_smooth_ece_finds_a_known_miscalibration_and_sits_beside_binned_ece():
    """Labels drawn with probability f + 0.1 (clipped) for predictions f: the true calibration error
    E|P(y | f) − f| is known; smooth ECE recovers it and is near 0 for calibrated predictions."""
    rng = np.random.default_rng(0)
    f = rng.uniform(0.05, 0.85, size=20000)
    shifted = (rng.uniform(size=f.size) < f + 0.1).astype(float)
    calibrated = (rng.uniform(size=f.size) < f).astype(float)
    assert smooth_ece(f, shifted) == pytest.approx(0.1, abs=0.015)
    assert smooth_ece(f, calibrated) < 0.015
    r_chosen, r_rejected = _random_pairs(1000, 3)
    got = pair_metrics(r_chosen, r_rejected)
    assert got["smece"] == pytest.approx(smooth_ece(*both_orientations(r_chosen, r_rejected)))
    assert 0 < got["smece"] < 1 and {"ece_5", "ece_10", "ece_20"} <= set(got)
