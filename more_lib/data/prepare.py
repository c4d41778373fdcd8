"""One source from its origin (synthetic world, hub dataset or canonical files) to clean splits.

Every kind ends in the same place: the records of each split pass through the one validator
and the one filter of `more_lib.data.records`, and every row that did not become a record is counted by
reason in the split's report row.
"""

from collections import Counter

import pandas as pd

from more_lib.core.errors import ConfigError, DataError
from more_lib.data import converters, synthetic
from more_lib.data import records as data

SPLITS = ("train", "test")
# A converted split within 1% of the paper's count matches it (Table 3 is the paper's only record
# of its data; 1% leaves room for hub revisions, not for a different rule).
PAPER_COUNT_TOLERANCE = 0.01


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
            "kept_one_empty": sum(map(data.one_reply_empty, kept)),
            "dropped": dict(sorted(dropped.items())),
        })
    return splits, report


def report_table(prepare_rows, resample_summaries, paper_counts):
    """The data report: per source and split, rows read, kept (of which with one empty reply)
    and dropped by reason, the paper's count of the split (`paper_counts`: {source: {split: n}},
    Table 3) and kept − paper_count; plus one `train_resampled` row per source (rows_read =
    originals left after the calibration hold-out, heldout = pairs held out, kept = pairs drawn)."""
    prepared_sources = {row["source"] for row in prepare_rows}
    for source in paper_counts:
        if source not in prepared_sources:
            raise ConfigError(f"config key 'paper_counts.{source}' names no source under 'sources'")
    rows = []
    for row in prepare_rows:
        dropped = row["dropped"]
        paper_count = paper_counts.get(row["source"], {}).get(row["split"])
        rows.append({
            **{k: row[k] for k in ("source", "split", "kind", "rows_read", "kept", "kept_one_empty")},
            "paper_count": paper_count,
            "delta": None if paper_count is None else row["kept"] - paper_count,
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
    integer_columns = [*dropped_columns, "kept_one_empty", "paper_count", "delta", "unique_originals_drawn",
                       "heldout"]
    table[integer_columns] = table[integer_columns].astype("Int64")
    return table


def with_hub_commits(table, repositories, lock):
    """The report with each hub source's repository and locked commit beside its rows (unchanged
    when no source comes from the hub)."""
    if not repositories:
        return table
    missing = sorted(set(repositories.values()) - set(lock))
    if missing:
        raise ConfigError(f"hub lock: no entry for {missing}; run `snakemake hub` to fetch and lock them")
    entries = table["source"].map(lambda source: lock.get(repositories.get(source), {}))
    return table.assign(hub_repository=entries.map(lambda e: e.get("id")), hub_commit=entries.map(lambda e: e.get("commit")))


def paper_count_warnings(table, tolerance=PAPER_COUNT_TOLERANCE):
    """One line per split whose kept pairs differ from the paper's count by more than `tolerance`
    (a fraction of the paper's count): a report for the reader, not an error."""
    compared = table[table["paper_count"].notna()]
    off = compared[(compared["delta"].abs() > tolerance * compared["paper_count"])]
    return [f"warning: {row.source}/{row.split}: {row.kept} pairs kept, the paper's Table 3 has "
            f"{row.paper_count} ({row.delta:+d}, {row.delta / row.paper_count:+.1%})"
            for row in off.itertuples()]
