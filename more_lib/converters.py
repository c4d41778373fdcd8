"""Converters from each hub schema to canonical preference records (see `more_lib.data`).

Each `convert_<kind>(name, spec, seed)` returns `{"train": SplitResult, "test": SplitResult}` with
`SplitResult = {"rows_read": int, "records": [record, ...], "dropped": Counter(reason -> count)}`.
Rows that carry no usable preference are skipped and counted in `dropped`; malformed rows raise a
DataError naming the source, the hub split and the row. Empty or identical responses are left to
`data.keep_informative`, except where a converter samples (summ test), which must count them first.
"""

import math
import os
import sys
from collections import Counter
from pathlib import Path

import datasets

from more_lib.data import keep_informative
from more_lib.errors import ConfigError, DataError
from more_lib.io import read_jsonl
from more_lib.seeding import rng_for

HH_ASSISTANT = "\n\nAssistant: "
HH_HUMAN = "\n\nHuman: "
# MORE/DSP's QUERY_PROMPT up to its {response} slot.
WEBGPT_PROMPT = "## Human:\n{question}\n\n## Assistant:\n"
SUMM_PROMPT = "SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR: "
CNNDM_PROMPT = "Article:\n{article}\n\nTL;DR: "

DEFAULT_SPLITS = {
    "hh": {"train": "train", "test": "test"},
    "oasst1": {"train": "train", "test": "validation"},
    "summ": {"train": "train", "test": "validation"},
}


# ---------------------------------------------------------------- shared helpers


def load_split(name, spec, split):
    """Load one hub split (or a local folder laid out like the hub repo) as a datasets.Dataset."""
    path = spec.get("path")
    if not path:
        raise ConfigError(f"sources.{name}.path: missing")
    options = {key: spec[key] for key in ("data_dir", "revision") if spec.get(key)}
    try:
        return datasets.load_dataset(path, split=split, **options)
    # datasets, fsspec, pyarrow and the hub client raise many unrelated types; each becomes one line
    except Exception as err:  # noqa: BLE001
        shown = ", ".join([f"{key}={value!r}" for key, value in options.items()] + [f"split={split!r}"])
        reason = (str(err).strip().splitlines() or [""])[0][:300]
        raise DataError(
            f"sources.{name}.path: cannot load {path!r} ({shown}): {type(err).__name__}: {reason}"
        ) from None


def _rows(name, spec, split, columns):
    """The rows of a hub split as dicts restricted to `columns`; a missing column is a DataError."""
    dataset = load_split(name, spec, split)
    missing = sorted(set(columns) - set(dataset.column_names))
    if missing:
        raise DataError(f"source {name!r}, split {split!r}: missing column(s) {missing}")
    table = dataset.select_columns(columns)
    try:
        return table.to_list()
    except UnicodeDecodeError:  # arrow reads bytes that are no UTF-8 without a word: name the first such row
        for row in range(len(table)):
            try:
                table[row]
            except UnicodeDecodeError as err:
                raise DataError(f"{_where(name, split, row)}: invalid UTF-8 ({err.reason})") from None
        raise


def _where(name, split, row):
    return f"source {name!r}, split {split!r}, row {row}"


def _field(row, dotted, kinds, where):
    """`row[a][b]...` for `dotted` = "a.b", checked against `kinds` (None in kinds allows null)."""
    value = row
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    allowed = tuple(type(None) if kind is None else kind for kind in kinds)
    # bool is an int subclass: a True rank or score is a mistyped field, not a number
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        names = " or ".join("null" if kind is None else kind.__name__ for kind in kinds)
        raise DataError(f"{where}: field '{dotted}' must be {names}, got {value!r:.80}")
    return value


def _splits(name, spec, kind):
    splits = {**DEFAULT_SPLITS[kind], **(spec.get("splits") or {})}
    if set(splits) != {"train", "test"}:
        raise ConfigError(f"sources.{name}.splits: expected keys train and test, got {sorted(splits)}")
    return splits


def _record(name, record_id, prompt, chosen, rejected, meta):
    return {"id": record_id, "source": name, "prompt": prompt, "chosen": chosen,
            "rejected": rejected, "meta": meta}


def _result(rows_read, records, dropped):
    return {"rows_read": rows_read, "records": records, "dropped": dropped}


# ---------------------------------------------------------------- Anthropic/hh-rlhf


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
            for split, hub_split in _splits(name, spec, "hh").items()}


def _hh_split(name, spec, hub_split):
    rows = _rows(name, spec, hub_split, ["chosen", "rejected"])
    records, dropped = [], Counter()
    for i, row in enumerate(rows):
        where = _where(name, hub_split, i)
        parts = split_hh(_field(row, "chosen", [str], where), _field(row, "rejected", [str], where))
        if parts is None:
            dropped["history_mismatch"] += 1
            continue
        records.append(_record(name, f"{name}-{hub_split}-{i:06d}", *parts, {"row": i}))
    return _result(len(rows), records, dropped)


# ---------------------------------------------------------------- OpenAssistant/oasst1

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
            for split, hub_split in _splits(name, spec, "oasst1").items()}


def _oasst_message(row, where):
    _field(row, "message_id", [str], where)
    _field(row, "parent_id", [str, None], where)
    _field(row, "text", [str], where)
    _field(row, "lang", [str], where)
    _field(row, "tree_state", [str], where)
    # the raw export declares these optional; only an explicit flag removes a message
    _field(row, "deleted", [bool, None], where)
    _field(row, "review_result", [bool, None], where)
    _field(row, "rank", [int, None], where)
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
    rows = _rows(name, spec, hub_split, OASST_COLUMNS)
    dropped, kept, replies = Counter(), {}, {}
    for i, row in enumerate(rows):
        message = _oasst_message(row, _where(name, hub_split, i))
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
            records.append(_record(name, f"{name}-{parent_id}{suffix}", prompt,
                                   ranked[i]["text"].strip(), ranked[j]["text"].strip(), meta))
    return _result(len(rows), records, dropped)


# ---------------------------------------------------------------- openai/webgpt_comparisons


def convert_webgpt(name, spec, seed):
    """openai/webgpt_comparisons: one hub split, split here by question so no question leaks.

    rows_read and "tie" count hub rows assigned to the split.
    """
    fraction = spec.get("test_fraction", 0.05)
    hub_split = spec.get("split", "train")
    rows = _rows(name, spec, hub_split, ["question", "answer_0", "answer_1", "score_0", "score_1"])
    pairs = [_webgpt_pair(name, hub_split, i, row) for i, row in enumerate(rows)]
    # sorted ids, not row order: the split depends only on the seed and the set of questions
    questions = sorted({question_id for question_id, _ in pairs})
    order = rng_for(seed, name).permutation(len(questions))
    test_questions = {questions[k] for k in order[: round(fraction * len(questions))]}
    results = {split: _result(0, [], Counter()) for split in ("train", "test")}
    for question_id, record in pairs:
        result = results["test" if question_id in test_questions else "train"]
        result["rows_read"] += 1
        if record is None:
            result["dropped"]["tie"] += 1
        else:
            result["records"].append(record)
    return results


def _webgpt_pair(name, hub_split, i, row):
    """(question id, record), the record None for a tie: there is no preference to learn."""
    where = _where(name, hub_split, i)
    question_id = _field(row, "question.id", [str], where)
    question = _field(row, "question.full_text", [str], where).strip()
    answers = [_field(row, f"answer_{k}", [str], where).strip() for k in (0, 1)]
    scores = [float(_field(row, f"score_{k}", [int, float], where)) for k in (0, 1)]
    if any(math.isnan(score) for score in scores):
        raise DataError(f"{where}: scores must be numbers, got {scores}")
    if scores[0] == scores[1]:
        return question_id, None
    # the scores are a preference strength in [-1, 1]; only their order matters here
    best = int(scores[1] > scores[0])
    meta = {"row": i, "question_id": question_id, "scores": [scores[best], scores[1 - best]]}
    record = _record(name, f"{name}-{i:06d}", WEBGPT_PROMPT.format(question=question),
                     answers[best], answers[1 - best], meta)
    return question_id, record


# ---------------------------------------------------------------- openai/summarize_from_feedback


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
    for split, hub_split in _splits(name, spec, "summ").items():
        if folder is None:
            rows = [(_where(name, hub_split, i), row) for i, row in enumerate(_rows(name, spec, hub_split, SUMM_COLUMNS))]
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
        results[split] = _result(len(rows), records, dropped)
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
            split = _field(row, "split", [str], f"{path}:{lineno}")
            if split not in OPENAI_SPLITS:
                raise DataError(f"{path}:{lineno}: field 'split' must be one of {sorted(OPENAI_SPLITS)}, got {split!r}")
            if OPENAI_SPLITS[split] == hub_split:
                rows.append((f"{path}:{lineno}", {key: row.get(key) for key in SUMM_COLUMNS}))
    return rows


def _summ_pair(name, hub_split, i, row, where):
    info = _field(row, "info", [dict], where)
    choice = _field(row, "choice", [int], where)
    if choice not in (0, 1):
        raise DataError(f"{where}: field 'choice' must be 0 or 1, got {choice}")
    summaries = _field(row, "summaries", [list], where)
    if len(summaries) != 2:
        raise DataError(f"{where}: field 'summaries' must hold 2 summaries, got {len(summaries)}")
    texts = [_field(s, "text", [str], f"{where}, summary {k}").strip() for k, s in enumerate(summaries)]
    if _field(row, "info.post", [str, None], where) is None:  # CNN/DM rows carry an article
        prompt = CNNDM_PROMPT.format(article=_field(row, "info.article", [str], where).strip())
    else:
        prompt = SUMM_PROMPT.format(**{key: _field(row, f"info.{key}", [str], where).strip()
                                       for key in ("subreddit", "title", "post")})
    meta = {"row": i, "post_id": info.get("id"), "batch": row.get("batch"),
            "policies": [summaries[choice].get("policy"), summaries[1 - choice].get("policy")]}
    return _record(name, f"{name}-{hub_split}-{i:06d}", prompt, texts[choice], texts[1 - choice], meta)


CONVERTERS = {"hh": convert_hh, "oasst1": convert_oasst1, "webgpt": convert_webgpt, "summ": convert_summ}
