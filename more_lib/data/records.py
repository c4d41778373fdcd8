"""The canonical preference record, its JSON-lines reader and writer, filtering and resampling.

A record is one JSON object per line with the fields `id, source, prompt, chosen, rejected` and
an optional `meta` object. The model input of a response is `prompt + response`: converters keep
the separator (for example the trailing "Assistant: ") at the end of the prompt.
"""

import json
from collections import Counter

import numpy as np

from more_lib.core.errors import DataError
from more_lib.core.io import atomic_path, read_jsonl

REQUIRED_FIELDS = {"id": str, "source": str, "prompt": str, "chosen": str, "rejected": str}
OPTIONAL_FIELDS = {"meta": dict}
# The reward model reads 512 tokens (about 2,000 characters) of a text: one 50 times longer is a broken row
# (a file pasted into a field), and tokenizing it would cost every job that reads it.
MAX_TEXT_CHARS = 100_000
# The truth the synthetic world writes in `meta` (more_lib.data.synthetic), which the length-bias and truth
# analyses do arithmetic on: where present, numbers.
NUMERIC_META = ("p_chosen", "reward_chosen", "reward_rejected", "shared_chosen", "shared_rejected")


def record_problem(record):
    """Return why `record` is not a canonical record, or None if it is one."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for field, kind in REQUIRED_FIELDS.items():
        if field not in record:
            return f"missing field '{field}'"
        if not isinstance(record[field], kind):
            return f"field '{field}' must be a {kind.__name__}, got {type(record[field]).__name__}"
        if len(record[field]) > MAX_TEXT_CHARS:
            return (f"field '{field}' holds {len(record[field]):,} characters, over {MAX_TEXT_CHARS:,} "
                    "(data.MAX_TEXT_CHARS)")
    for field, kind in OPTIONAL_FIELDS.items():
        if field in record and not isinstance(record[field], kind):
            return f"field '{field}' must be an object, got {type(record[field]).__name__}"
    for key in NUMERIC_META:
        value = record.get("meta", {}).get(key, 0.0)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"field 'meta.{key}' must be a number, got {value!r:.80}"
    unknown = set(record) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    return None


def validate_record(record, where):
    """Raise a DataError naming `where` (file:line or split:row) if `record` is malformed."""
    problem = record_problem(record)
    if problem:
        raise DataError(f"{where}: {problem}")
    return record


def drop_reason(record):
    """Why a well-formed record carries no preference signal (None when it does).

    A pair with exactly one empty reply is kept: the annotator preferred a reply to silence, or
    silence to a reply (a refusal to comply), and the paper's counts keep such pairs. Only two
    empty replies ("empty_response") or two identical ones carry no preference."""
    chosen, rejected = record["chosen"].strip(), record["rejected"].strip()
    if not chosen and not rejected:
        return "empty_response"
    if chosen == rejected:
        return "identical_responses"
    return None


def one_reply_empty(record):
    """True for a kept pair with exactly one empty reply (the data report counts them)."""
    return not record["chosen"].strip() or not record["rejected"].strip()


def keep_informative(records, dropped):
    """Yield the records that carry a preference; count the others in `dropped` by reason."""
    for record in records:
        reason = drop_reason(record)
        if reason:
            dropped[reason] += 1
        else:
            yield record


def read_records(path):
    """Read and validate a canonical JSON-lines file; errors name the file and line."""
    return [validate_record(record, f"{path}:{lineno}") for lineno, record in read_jsonl(path)]


def write_records(records, path):
    """Write records atomically as JSON lines with a stable key order (byte-identical reruns)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i, record in enumerate(records):
            validate_record(record, f"record {i} for {path}")
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def check_unique_ids(records, where):
    seen = Counter(r["id"] for r in records)
    duplicates = [i for i, n in seen.items() if n > 1]
    if duplicates:
        raise DataError(f"{where}: duplicate id(s) {duplicates[:5]}")


def split_heldout(records, n, rng):
    """(rest, held out): `n` records drawn with `rng` and set aside (for post-hoc calibration),
    both in file order. Holding out all of a source would leave nothing to train on."""
    if n >= len(records):
        raise DataError(f"cannot hold out {n} of {len(records)} records (config key 'calibration.heldout')")
    held = np.zeros(len(records), dtype=bool)
    held[rng.choice(len(records), size=n, replace=False)] = True
    return [r for r, h in zip(records, held) if not h], [r for r, h in zip(records, held) if h]


def resample(records, n, rng):
    """Draw exactly `n` records with the numpy Generator `rng`.

    A source with at least `n` records is sampled without replacement; a smaller source keeps
    every original once and draws the remainder with replacement (so no pair is lost). Each
    drawn record gets a unique id `<original id>~<draw>` and `meta.origin_id`.
    """
    if not records:
        raise DataError("cannot resample an empty source")
    available = len(records)
    if available >= n:
        picks = rng.choice(available, size=n, replace=False)
    else:
        extra = rng.choice(available, size=n - available, replace=True)
        picks = rng.permutation(np.concatenate([np.arange(available), extra]))
    drawn = []
    for draw, index in enumerate(picks.tolist()):
        original = records[index]
        meta = dict(original.get("meta", {}), origin_id=original["id"])
        drawn.append({**original, "id": f"{original['id']}~{draw}", "meta": meta})
    summary = {
        "n": n,
        "originals": available,
        "unique_originals_drawn": len(set(picks.tolist())),
        "with_replacement": available < n,
    }
    return drawn, summary
