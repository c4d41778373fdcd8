"""What every hub-schema converter shares: loading a hub split, typed fields, the record and result shapes."""

import datasets

from more_lib.core.errors import ConfigError, DataError

DEFAULT_SPLITS = {
    "hh": {"train": "train", "test": "test"},
    "oasst1": {"train": "train", "test": "validation"},
    "summ": {"train": "train", "test": "validation"},
}


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


def rows(name, spec, split, columns):
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
                raise DataError(f"{where(name, split, row)}: invalid UTF-8 ({err.reason})") from None
        raise


def where(name, split, row):
    return f"source {name!r}, split {split!r}, row {row}"


def field(row, dotted, kinds, where):
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


def splits(name, spec, kind):
    splits = {**DEFAULT_SPLITS[kind], **(spec.get("splits") or {})}
    if set(splits) != {"train", "test"}:
        raise ConfigError(f"sources.{name}.splits: expected keys train and test, got {sorted(splits)}")
    return splits


def record(name, record_id, prompt, chosen, rejected, meta):
    return {"id": record_id, "source": name, "prompt": prompt, "chosen": chosen,
            "rejected": rejected, "meta": meta}


def result(rows_read, records, dropped):
    return {"rows_read": rows_read, "records": records, "dropped": dropped}

