"""OpenAssistant/oasst1: message trees, ranked sibling replies become preference pairs."""

from collections import Counter

from more_lib.core.errors import DataError
from more_lib.data.converters import common
from more_lib.data.converters.hh import HH_ASSISTANT, HH_HUMAN

OASST_COLUMNS = ["message_id", "parent_id", "text", "role", "lang", "review_result", "deleted",
                 "rank", "tree_state"]


def convert_oasst1(name, spec, seed):
    """OpenAssistant/oasst1: sibling assistant replies ranked by the annotators.

    Units: rows_read and the message filters ("not_ready", "deleted", "spam", "language",
    "unranked") count messages; "too_few_ranked", "broken_thread" and "all_ranks_tied" count
    prompts (prompter messages with at least one surviving assistant reply); "tied_rank"
    (all_pairs only) counts pairs.
    """
    # the config schema checks the values of the keys
    pairs, languages = spec.get("pairs", "best_vs_worst"), spec.get("languages")
    return {split: _oasst_split(name, spec, hub_split, pairs, languages)
            for split, hub_split in common.splits(name, spec, "oasst1").items()}


def _oasst_message(row, where):
    common.field(row, "message_id", [str], where)
    common.field(row, "parent_id", [str, None], where)
    common.field(row, "text", [str], where)
    common.field(row, "lang", [str], where)
    common.field(row, "tree_state", [str], where)
    # the raw export declares these optional; only an explicit flag removes a message
    common.field(row, "deleted", [bool, None], where)
    common.field(row, "review_result", [bool, None], where)
    common.field(row, "rank", [int, None], where)
    if row["role"] not in ("prompter", "assistant"):
        raise DataError(f"{where}: field 'role' must be 'prompter' or 'assistant', got {row['role']!r}")
    return row


def _oasst_filter(message, languages):
    """Why a message cannot appear in any pair (None when it can)."""
    if message["tree_state"] != "ready_for_export":
        return "not_ready"
    if message["deleted"] is True:
        return "deleted"
    if message["review_result"] is False:
        return "spam"
    if languages is not None and message["lang"] not in languages:
        return "language"
    return None


def _oasst_prompt(parent_id, kept, where):
    """The thread ending at `parent_id`, rendered HH-style; None if a message of it was removed."""
    turns, seen = [], set()
    while parent_id is not None:
        if parent_id not in kept:
            return None
        if parent_id in seen:
            raise DataError(f"{where}: parent_id links loop through message {parent_id!r}")
        seen.add(parent_id)
        message = kept[parent_id]
        marker = HH_HUMAN if message["role"] == "prompter" else HH_ASSISTANT
        turns.append(marker + message["text"].strip())
        parent_id = message["parent_id"]
    return "".join(reversed(turns)) + HH_ASSISTANT


def _oasst_split(name, spec, hub_split, pairs, languages):
    rows = common.rows(name, spec, hub_split, OASST_COLUMNS)
    dropped, kept, replies = Counter(), {}, {}
    for i, row in enumerate(rows):
        message = _oasst_message(row, common.where(name, hub_split, i))
        reason = _oasst_filter(message, languages)
        if reason:
            dropped[reason] += 1
            continue
        kept[message["message_id"]] = message
        if message["role"] == "assistant":
            # dicts keep insertion order: prompts come out in the hub order of their first reply
            replies.setdefault(message["parent_id"], []).append(message)
    records = []
    for parent_id, candidates in replies.items():
        ranked = sorted((m for m in candidates if m["rank"] is not None), key=lambda m: m["rank"])
        if len(ranked) < len(candidates):
            dropped["unranked"] += len(candidates) - len(ranked)
        if len(ranked) < 2:
            dropped["too_few_ranked"] += 1
            continue
        prompt = _oasst_prompt(parent_id, kept, f"source {name!r}, split {hub_split!r}")
        if prompt is None:
            dropped["broken_thread"] += 1
            continue
        if pairs == "best_vs_worst":
            if ranked[0]["rank"] == ranked[-1]["rank"]:
                dropped["all_ranks_tied"] += 1
                continue
            chosen_rejected = [(0, len(ranked) - 1)]
        else:
            chosen_rejected = [(i, j) for i in range(len(ranked)) for j in range(i + 1, len(ranked))]
        for i, j in chosen_rejected:
            if ranked[i]["rank"] == ranked[j]["rank"]:
                dropped["tied_rank"] += 1
                continue
            suffix = "" if pairs == "best_vs_worst" else f"-{i}-{j}"
            meta = {"parent_id": parent_id, "lang": kept[parent_id]["lang"],
                    "message_ids": [ranked[i]["message_id"], ranked[j]["message_id"]],
                    "ranks": [ranked[i]["rank"], ranked[j]["rank"]]}
            records.append(common.record(name, f"{name}-{parent_id}{suffix}", prompt,
                                   ranked[i]["text"].strip(), ranked[j]["text"].strip(), meta))
    return common.result(len(rows), records, dropped)
