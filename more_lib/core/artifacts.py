"""Tidy tables checked against what their producer promises (ARTIFACTS), by every reader and by the
writers: columns and their kinds, a key that names each row once, finite numbers."""

from pathlib import Path

from more_lib.core.errors import DataError
from more_lib.core.io import atomic_path, reason, regular_file

TEXT, NUMBER = "text", "number"

# What each tidy table's producer promises, declared once for its readers (read_table) and writers
# (write_table): its columns and their kinds, the columns that name a row once (a duplicate is a
# stale concatenation, and pandas' merge of one fails with a MergeError), and the numbers that must be
# finite (a NaN reward loses every comparison and moves an accuracy without a word). More columns are
# allowed: a metrics table has one per ECE bin count, a train log one per source.
ARTIFACTS = {
    # results/{scores,heldout_scores}/{base}/{scheme}/{source}.parquet (scripts/evaluate/score_rm.py): one row
    # per pair of the scored file (more_lib.evaluate.tables.read_scores checks that)
    "scores": {"columns": {"id": TEXT, "r_chosen": NUMBER, "r_rejected": NUMBER},
               "key": ["id"], "finite": ["r_chosen", "r_rejected"]},
    # results/metrics/{base}.csv (scripts/evaluate/evaluate_rm.py)
    "metrics": {"columns": {"base": TEXT, "scheme": TEXT, "test_source": TEXT, "n_pairs": NUMBER,
                            "accuracy": NUMBER, "brier": NUMBER, "nll": NUMBER},
                "key": ["scheme", "test_source"], "finite": ["n_pairs", "accuracy", "brier", "nll"]},
    # results/ksweep/{base}.csv (scripts/evaluate/make_ksweep.py); Top's row has no K
    "ksweep": {"columns": {"base": TEXT, "k": NUMBER, "scheme": TEXT, "test_source": TEXT,
                           "accuracy": NUMBER, "ece": NUMBER},
               "key": ["k", "scheme", "test_source"], "finite": ["accuracy", "ece"]},
    # results/fig7_points.csv (scripts/judge/make_fig7.py)
    "fig7_points": {"columns": {"base": TEXT, "scheme": TEXT, "k": NUMBER, "ece": NUMBER, "win": NUMBER},
                    "key": ["base", "scheme", "k"], "finite": ["k", "ece", "win"]},
    # results/ppl.csv (scripts/align/perplexity.py, concatenated)
    "ppl": {"columns": {"policy": TEXT, "source": TEXT, "ppl": NUMBER}, "key": ["policy", "source"],
            "finite": ["ppl"]},
    # rm/.../train_log.csv (scripts/reward/train_rm.py)
    "train_log": {"columns": {"step": NUMBER}, "key": ["step"], "finite": ["step"]},
}


def _of_kind(column, kind):
    from pandas.api import types

    if kind == TEXT:
        return types.is_string_dtype(column)
    return types.is_numeric_dtype(column) and not types.is_bool_dtype(column)


def table_problem(frame, kind):
    """Why `frame` is not the `kind` table its producer promised (ARTIFACTS), or None."""
    import numpy as np

    promise = ARTIFACTS[kind]
    missing = [column for column in promise["columns"] if column not in frame.columns]
    if missing:
        return f"not a {kind} table: no column(s) {missing}"
    if frame.empty:  # a header alone: no value to be of the wrong kind
        return None
    for column, wanted in promise["columns"].items():
        if not _of_kind(frame[column], wanted):
            return f"column '{column}' must hold {wanted}s, it holds {frame[column].dtype}"
    duplicated = frame.duplicated(promise["key"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        named = ", ".join(f"{key}={row[key]!r}" for key in promise["key"])
        return f"{duplicated.sum()} duplicate row(s), the first {named}"
    for column in promise["finite"]:
        bad = ~np.isfinite(frame[column].to_numpy(dtype=np.float64))
        if bad.any():
            first = int(bad.argmax())
            named = ", ".join(f"{key}={frame[key].iloc[first]!r}" for key in promise["key"])
            return (f"{bad.sum()} non-finite {column} value(s), the first {frame[column].iloc[first]} in row "
                    f"{first + 1} ({named})")
    return None


def read_table(path, kind):
    """The tidy table at `path` (parquet or CSV, by its suffix), as ARTIFACTS[kind] promises it; whatever
    it breaks is a DataError naming the file."""
    import pandas as pd  # here: most jobs that import this module read no table

    regular_file(path)
    try:
        frame = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    # pyarrow's ArrowInvalid (a cut parquet has no footer) and pandas' parser errors are ValueErrors
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable {kind} table ({reason(err)})") from None
    problem = table_problem(frame, kind)
    if problem:
        raise DataError(f"{path}: {problem}")
    return frame


def write_table(frame, path, kind):
    """Write a tidy table atomically (parquet or CSV, by the suffix) once it keeps ARTIFACTS[kind]'s promise."""
    problem = table_problem(frame, kind)
    if problem:
        raise DataError(f"{path}: not written: {problem}")
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def check_ids(frame, ids, where, promised):
    """`frame` (its ids unique, as table_problem checks) holds one row per pair of `ids`, what its
    producer promised (`promised` names where they come from); otherwise a DataError naming `where`."""
    ids = set(ids)
    if len(frame) != len(ids):
        raise DataError(f"{where}: {len(frame)} rows, {promised} has {len(ids)} pairs")
    strangers = ~frame["id"].isin(ids)
    if strangers.any():
        row = int(strangers.to_numpy().argmax())
        raise DataError(f"{where}: row {row + 1} is pair {frame['id'].iloc[row]!r}, which {promised} lacks")
