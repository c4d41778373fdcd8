"""Anthropic/hh-rlhf: two whole conversations per row, split into prompt and responses."""

import os
from collections import Counter

from more_lib.data.converters import common

HH_ASSISTANT = "\n\nAssistant: "
HH_HUMAN = "\n\nHuman: "


def split_hh(chosen, rejected):
    """(prompt, chosen_response, rejected_response), or None when the histories share no turn.

    The TRL way: the longest common prefix, cut back to its last "\\n\\nAssistant: ". Splitting on
    role markers instead would break on responses that themselves contain role words.
    """
    common = os.path.commonprefix([chosen, rejected])
    cut = common.rfind(HH_ASSISTANT)
    if cut < 0:
        return None
    end = cut + len(HH_ASSISTANT)
    return chosen[:end], chosen[end:], rejected[end:]


def convert_hh(name, spec, seed):
    """Anthropic/hh-rlhf, one data_dir. rows_read and "history_mismatch" count hub rows."""
    return {split: _hh_split(name, spec, hub_split)
            for split, hub_split in common.splits(name, spec, "hh").items()}


def _hh_split(name, spec, hub_split):
    rows = common.rows(name, spec, hub_split, ["chosen", "rejected"])
    records, dropped = [], Counter()
    for i, row in enumerate(rows):
        where = common.where(name, hub_split, i)
        parts = split_hh(common.field(row, "chosen", [str], where), common.field(row, "rejected", [str], where))
        if parts is None:
            dropped["history_mismatch"] += 1
            continue
        records.append(common.record(name, f"{name}-{hub_split}-{i:06d}", *parts, {"row": i}))
    return common.result(len(rows), records, dropped)
