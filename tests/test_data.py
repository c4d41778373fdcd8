"""The canonical record: reader, writer, the one validator, filtering, resampling."""

import json
from collections import Counter

import pytest

from more_lib.core.errors import DataError
from more_lib.core.seeding import rng_for
from more_lib.data import records as data


def record(i, chosen="good answer", rejected="bad answer", **extra):
    return {"id": f"r{i}", "source": "helpful", "prompt": "Q: ", "chosen": chosen, "rejected": rejected, **extra}


def test_write_then_read_round_trips_with_meta(tmp_path):
    records = [record(0, meta={"p": 0.7}), record(1)]
    data.write_records(records, tmp_path / "a.jsonl")
    assert data.read_records(tmp_path / "a.jsonl") == records


def test_written_bytes_do_not_depend_on_key_order(tmp_path):
    a = record(0)
    b = dict(reversed(list(a.items())))
    data.write_records([a], tmp_path / "a.jsonl")
    data.write_records([b], tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "x", "source": "s", "prompt": "p", "chosen": "c"', "malformed JSON"),
        ('{"id": "x", "source": "s", "prompt": "p", "chosen": "c"}', "missing field 'rejected'"),
        ('{"id": 3, "source": "s", "prompt": "p", "chosen": "c", "rejected": "r"}', "field 'id' must be a str, got int"),
        ('{"id": "x", "source": "s", "prompt": "p", "chosen": "c", "rejected": "r", "meta": []}', "field 'meta'"),
        ('{"id": "x", "source": "s", "prompt": "p", "chosen": "c", "rejected": "r", "score": 1}', "unknown field"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_line_is_reported_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record(0)) + "\n\n" + line + "\n")
    with pytest.raises(DataError) as err:
        data.read_records(path)
    assert f"{path}:3:" in str(err.value)
    assert message in str(err.value)


def test_uninformative_pairs_are_dropped_and_counted():
    records = [record(0), record(1, chosen="  ", rejected="\n"), record(2, rejected=""),
               record(3, chosen="same", rejected=" same"), record(4, chosen="")]
    dropped = Counter()
    kept = list(data.keep_informative(records, dropped))
    # one empty reply still carries a preference; two empty or identical replies do not
    assert [r["id"] for r in kept] == ["r0", "r2", "r4"]
    assert dropped == {"empty_response": 1, "identical_responses": 1}
    assert [data.one_reply_empty(r) for r in kept] == [False, True, True]


def test_duplicate_ids_are_an_error():
    with pytest.raises(DataError, match="duplicate id"):
        data.check_unique_ids([record(0), record(0)], "here")


def test_resample_larger_source_draws_without_replacement():
    records = [record(i) for i in range(50)]
    drawn, summary = data.resample(records, 20, rng_for(1, "x"))
    origins = [r["meta"]["origin_id"] for r in drawn]
    assert len(drawn) == 20 and len(set(origins)) == 20
    assert summary == {"n": 20, "originals": 50, "unique_originals_drawn": 20, "with_replacement": False}


def test_resample_smaller_source_keeps_every_original_and_tops_up():
    records = [record(i) for i in range(7)]
    drawn, summary = data.resample(records, 30, rng_for(1, "x"))
    origins = Counter(r["meta"]["origin_id"] for r in drawn)
    assert len(drawn) == 30 and set(origins) == {f"r{i}" for i in range(7)}
    assert summary["with_replacement"] and summary["originals"] == 7
    assert len({r["id"] for r in drawn}) == 30


def test_resample_is_deterministic_in_the_seed():
    records = [record(i) for i in range(40)]
    first, _ = data.resample(records, 25, rng_for(3, "helpful"))
    again, _ = data.resample(records, 25, rng_for(3, "helpful"))
    other, _ = data.resample(records, 25, rng_for(4, "helpful"))
    assert first == again
    assert first != other


def test_heldout_slice_is_disjoint_seeded_and_in_file_order():
    records = [record(i) for i in range(30)]
    rest, heldout = data.split_heldout(records, 8, rng_for(1, "heldout", "x"))
    assert len(heldout) == 8 and len(rest) == 22
    assert {r["id"] for r in rest}.isdisjoint(r["id"] for r in heldout)
    assert rest + heldout != records and sorted(rest + heldout, key=lambda r: int(r["id"][1:])) == records
    assert [r["id"] for r in heldout] == sorted((r["id"] for r in heldout), key=lambda i: int(i[1:]))
    assert data.split_heldout(records, 8, rng_for(1, "heldout", "x")) == (rest, heldout)


def test_holding_out_a_whole_source_names_the_config_key():
    with pytest.raises(DataError, match="calibration.heldout"):
        data.split_heldout([record(0), record(1)], 2, rng_for(1, "x"))
