"""Length bias of a reward model: how its reward difference d = r_chosen - r_rejected follows the
difference in response length (words: whitespace-separated, the same count in both worlds and
for every tokenizer), beside what the labels' own rewards do where the world knows them.

Columns (Pearson r over the test pairs):
    length_corr         r(d, words(chosen) - words(rejected)): the RM's length bias
    length_corr_source  r(true source-reward difference, length difference): the source's
                        annotators (synthetic world: their reward includes the source's length drift)
    length_corr_shared  r(true shared-reward difference, length difference)
The last two are NaN without `meta` (the paper world).
"""

import numpy as np
import pandas as pd

from more_lib.core.errors import DataError
from more_lib.data import records as data


def words(text):
    return len(text.split())


def pair_lengths(path):
    """Per test pair of a preference file: id, its length difference and (synthetic world) the true
    source- and shared-reward differences."""
    rows = []
    for r in data.read_records(path):
        meta = r.get("meta") or {}
        rows.append({"id": r["id"], "length_diff": words(r["chosen"]) - words(r["rejected"]),
                     "source_diff": meta.get("reward_chosen", np.nan) - meta.get("reward_rejected", np.nan),
                     "shared_diff": meta.get("shared_chosen", np.nan) - meta.get("shared_rejected", np.nan)})
    return pd.DataFrame(rows)


def _corr(x, y):
    """Pearson r, NaN where either side is constant or unknown."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.isnan(x).any() or np.isnan(y).any() or x.std() == 0 or y.std() == 0:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def columns(scores, lengths):
    """The length-bias columns of one score frame (id, r_chosen, r_rejected) with its pairs' lengths."""
    frame = scores.merge(lengths, on="id", how="left", validate="one_to_one")
    if frame["length_diff"].isna().any():
        raise DataError("scored pairs missing from the test records: the scores and the test set disagree")
    d = frame["r_chosen"] - frame["r_rejected"]
    return {"length_corr": _corr(d, frame["length_diff"]),
            "length_corr_source": _corr(frame["source_diff"], frame["length_diff"]),
            "length_corr_shared": _corr(frame["shared_diff"], frame["length_diff"])}
