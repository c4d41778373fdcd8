"""One source from its origin (synthetic world, hub dataset or canonical files) to clean splits.

Every kind ends in the same place: the records of each split pass through the one validator
and the one filter of `more_lib.data`, and every row that did not become a record is counted by
reason in the split's report row.
"""

from collections import Counter

import pandas as pd

from more_lib import converters, data, synthetic
from more_lib.errors import DataError

SPLITS = ("train", "test")


def _synthetic(name, spec, world, seed):
    results = {}
    for split in SPLITS:
        records = synthetic.generate_split(name, spec, world, seed, split)
        results[split] = {"rows_read": len(records), "records": records, "dropped": Counter()}
    return results


def _canonical_files(name, spec):
    results = {}
    for split in SPLITS:
        records = [{**r, "source": name} for r in data.read_records(spec[split])]
        results[split] = {"rows_read": len(records), "records": records, "dropped": Counter()}
    return results


def prepare_source(name, spec, world, seed):
    """Return ({split: records}, [report row per split]) for source `name`."""
    if spec["kind"] == "synthetic":
        results = _synthetic(name, spec, world, seed)
    elif spec["kind"] == "jsonl":
        results = _canonical_files(name, spec)
    else:
        results = converters.CONVERTERS[spec["kind"]](name, spec, seed)
    splits, report = {}, []
    for split in SPLITS:
        result = results[split]
        dropped = Counter(result["dropped"])
        for i, record in enumerate(result["records"]):
            data.validate_record(record, f"source {name}, {split} record {i}")
        kept = list(data.keep_informative(result["records"], dropped))
        data.check_unique_ids(kept, f"source {name}, {split}")
        if not kept:
            raise DataError(f"source {name}, {split}: no usable pairs (dropped: {dict(dropped)})")
        splits[split] = kept
        report.append({
            "source": name,
            "split": split,
            "kind": spec["kind"],
            "rows_read": result["rows_read"],
            "kept": len(kept),
            "dropped": dict(sorted(dropped.items())),
        })
    return splits, report


def report_table(prepare_rows, resample_summaries):
    """The data report: per source and split, rows read, kept and dropped by reason, plus one
    `train_resampled` row per source (rows_read = originals left after the calibration hold-out,
    heldout = pairs held out, kept = pairs drawn)."""

    rows = []
    for row in prepare_rows:
        dropped = row["dropped"]
        rows.append({
            **{k: row[k] for k in ("source", "split", "kind", "rows_read", "kept")},
            **{f"dropped_{reason}": n for reason, n in dropped.items()},
        })
    for source, summary in resample_summaries.items():
        rows.append({
            "source": source,
            "split": "train_resampled",
            "rows_read": summary["originals"],
            "heldout": summary["heldout"],
            "kept": summary["n"],
            "unique_originals_drawn": summary["unique_originals_drawn"],
            "with_replacement": summary["with_replacement"],
        })
    table = pd.DataFrame(rows)
    prepared = table["split"] != "train_resampled"
    dropped_columns = sorted(c for c in table.columns if c.startswith("dropped_"))
    table.loc[prepared, dropped_columns] = table.loc[prepared, dropped_columns].fillna(0)
    integer_columns = [*dropped_columns, "unique_originals_drawn", "heldout"]
    table[integer_columns] = table[integer_columns].astype("Int64")
    return table
