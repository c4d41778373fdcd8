"""openai/summarize_from_feedback: the comparisons of TL;DR and CNN/DM summaries."""

import sys
from collections import Counter
from pathlib import Path

from more_lib.core.errors import ConfigError, DataError
from more_lib.core.io import read_jsonl
from more_lib.core.seeding import rng_for
from more_lib.data.converters import common
from more_lib.data.records import keep_informative

SUMM_PROMPT = "SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR: "
CNNDM_PROMPT = "Article:\n{article}\n\nTL;DR: "

# The comparison files the hub's loading script (summarize_from_feedback.py, config `comparisons`)
# reads, in its order; each row goes to the split its own `split` field names.
OPENAI_COMPARISON_FILES = [
    *(f"batch{i}.json" for i in (3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 6, 7, 8, 9)),
    "batch0_cnndm.json", "cnndm0.json", "cnndm2.json", "edit_b2_eval_test.json",
]
OPENAI_SPLITS = {"train": "train", "valid1": "validation", "valid2": "validation"}
SUMM_COLUMNS = ["info", "summaries", "choice", "batch"]


def convert_summ(name, spec, seed):
    """openai/summarize_from_feedback `comparisons` (TL;DR and CNN/DM rows), from the hub's layout
    or from OpenAI's own `comparisons/*.json` files.

    rows_read counts hub rows. The test split keeps a seeded sample of `test_size` informative
    pairs (all when fewer); the rest are counted as "not_sampled", after "empty_response" and
    "identical_responses" so that exactly `test_size` usable pairs remain.
    """
    test_size = spec.get("test_size", 2000)
    folder = _openai_comparisons_folder(name, spec)
    results = {}
    for split, hub_split in common.splits(name, spec, "summ").items():
        if folder is None:
            rows = [(common.where(name, hub_split, i), row) for i, row in enumerate(common.rows(name, spec, hub_split, SUMM_COLUMNS))]
        else:
            rows = _openai_comparisons(name, folder, hub_split)
        records = [_summ_pair(name, hub_split, i, row, where) for i, (where, row) in enumerate(rows)]
        dropped = Counter()
        if split == "test" and test_size is not None:
            records = list(keep_informative(records, dropped))
            if len(records) > test_size:
                picks = rng_for(seed, name).choice(len(records), size=test_size, replace=False)
                dropped["not_sampled"] = len(records) - test_size
                records = [records[k] for k in sorted(picks.tolist())]
        results[split] = common.result(len(rows), records, dropped)
    return results


def _openai_comparisons_folder(name, spec):
    """The folder of OpenAI's comparison files when `path` is laid out as OpenAI published them
    (`<path>/<data_dir>/batch*.json`), None for a hub id or a folder in the hub's layout. `datasets`
    misreads OpenAI's folder (one file becomes a "test" split), so it never sees one."""
    root = Path(spec["path"])
    if not root.is_dir():
        return None  # a hub id, or a missing folder that load_split reports
    folder = root / (spec.get("data_dir") or "comparisons")
    if any((folder / file).is_file() for file in OPENAI_COMPARISON_FILES):
        return folder
    if any(root.rglob("*.parquet")):
        return None
    raise DataError(f"sources.{name}.path: {root} is in neither the hub's layout (parquet files, e.g. "
                    f"comparisons/train/0000.parquet) nor OpenAI's ({folder.name}/batch*.json)")


def _openai_comparisons(name, folder, hub_split):
    """(file:line, row) of one split's rows, read from OpenAI's JSON-lines files as the hub's
    loading script reads them: its files in its order, each row in the split its `split` field
    names. A row's missing keys read as null, as the script fills them."""
    if hub_split not in OPENAI_SPLITS.values():
        raise ConfigError(f"sources.{name}.splits: OpenAI's comparisons have the splits train and "
                          f"validation, not {hub_split!r}")
    present = [folder / file for file in OPENAI_COMPARISON_FILES if (folder / file).is_file()]
    unread = sorted({p.name for p in folder.glob("*.json")} - set(OPENAI_COMPARISON_FILES))
    missing = [file for file in OPENAI_COMPARISON_FILES if not (folder / file).is_file()]
    # a partial download is usable, but the reader must see that it is partial
    print(f"source {name!r}, split {hub_split!r}: read {len(present)} of the hub script's "
          f"{len(OPENAI_COMPARISON_FILES)} comparison files from {folder}"
          + (f"; missing {missing}" if missing else "") + (f"; not read (not the hub's): {unread}" if unread else ""),
          file=sys.stderr)
    rows = []
    for path in present:
        for lineno, row in read_jsonl(path):
            split = common.field(row, "split", [str], f"{path}:{lineno}")
            if split not in OPENAI_SPLITS:
                raise DataError(f"{path}:{lineno}: field 'split' must be one of {sorted(OPENAI_SPLITS)}, got {split!r}")
            if OPENAI_SPLITS[split] == hub_split:
                rows.append((f"{path}:{lineno}", {key: row.get(key) for key in SUMM_COLUMNS}))
    return rows


def _summ_pair(name, hub_split, i, row, where):
    info = common.field(row, "info", [dict], where)
    choice = common.field(row, "choice", [int], where)
    if choice not in (0, 1):
        raise DataError(f"{where}: field 'choice' must be 0 or 1, got {choice}")
    summaries = common.field(row, "summaries", [list], where)
    if len(summaries) != 2:
        raise DataError(f"{where}: field 'summaries' must hold 2 summaries, got {len(summaries)}")
    texts = [common.field(s, "text", [str], f"{where}, summary {k}").strip() for k, s in enumerate(summaries)]
    if common.field(row, "info.post", [str, None], where) is None:  # CNN/DM rows carry an article
        prompt = CNNDM_PROMPT.format(article=common.field(row, "info.article", [str], where).strip())
    else:
        prompt = SUMM_PROMPT.format(**{key: common.field(row, f"info.{key}", [str], where).strip()
                                       for key in ("subreddit", "title", "post")})
    meta = {"row": i, "post_id": info.get("id"), "batch": row.get("batch"),
            "policies": [summaries[choice].get("policy"), summaries[1 - choice].get("policy")]}
    return common.record(name, f"{name}-{hub_split}-{i:06d}", prompt, texts[choice], texts[1 - choice], meta)
