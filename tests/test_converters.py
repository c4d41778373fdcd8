"""Hub-schema converters, run through `datasets.load_dataset` on hand-made fixtures in the hub's layout.

hh-rlhf fixtures are committed as the hub's gzip JSON lines; the parquet sources are committed as
readable JSON lines and written here as parquet with the hub's dtypes and folder layout.
"""

import gzip
import json
import re
import shutil
from collections import Counter

import pandas as pd
import pytest
import yaml

from more_lib.core.errors import ConfigError, DataError
from more_lib.data.converters import (
    CONVERTERS,
    convert_hh,
    convert_oasst1,
    convert_summ,
    convert_webgpt,
    load_split,
)
from more_lib.data.prepare import paper_count_warnings, prepare_source, report_table
from more_lib.data.records import check_unique_ids, validate_record
from tests.hub_fixtures import (
    FIXTURES,
    build_hub_mirror,
    read_jsonl,
    write_oasst,
    write_summ,
    write_webgpt,
)
from tests.test_workflow import write_config
from tests.workflow_run import snakemake

H, A = "\n\nHuman: ", "\n\nAssistant: "


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return build_hub_mirror(tmp_path_factory.mktemp("hub"))


def hh_spec(data_dir="helpful-base", path=FIXTURES / "hh-rlhf"):
    return {"path": str(path), "data_dir": data_dir}


def oasst_spec(hub, **extra):
    return {"path": str(hub / "oasst1"), **extra}


def webgpt_spec(hub, **extra):
    return {"path": str(hub / "webgpt_comparisons"), "data_dir": "default", "split": "train",
            "test_fraction": 0.3, **extra}


def summ_spec(hub, **extra):
    return {"path": str(hub / "summarize_from_feedback"), "data_dir": "comparisons", "test_size": 3, **extra}


def triples(records):
    return [(r["prompt"], r["chosen"], r["rejected"]) for r in records]


# ---------------------------------------------------------------- hh-rlhf


def test_hh_splits_prompt_and_responses_on_edge_cases():
    train = convert_hh("helpful", hh_spec(), seed=0)["train"]
    assert train["rows_read"] == 9
    assert train["dropped"] == Counter(history_mismatch=1)
    assert [r["meta"]["row"] for r in train["records"]] == [0, 1, 2, 3, 4, 5, 7, 8]
    assert train["records"][0]["id"] == "helpful-train-000000"
    assert {r["source"] for r in train["records"]} == {"helpful"}
    bread = H + "I want to bake bread." + A + "Great! Do you have yeast?" + H + "Yes, dry yeast." + A
    assert triples(train["records"]) == [
        (H + "What is the capital of France?" + A, "The capital of France is Paris.", "I think it is Lyon."),
        (bread + "Then you can make a simple loaf." + H + "How long should it rise?" + A,
         "About an hour, until it doubles in size.", "Bread does not need to rise."),
        (H + "Give me two tips for sleeping better.\n\nI sleep badly." + A,
         "Sure.\n\n1. Keep a fixed bedtime.\n\n2. Avoid screens late at night.", "Just sleep more."),
        (H + "Can you tell me a joke?" + A, "", "No."),
        (H + "Write a two-line play." + A, "Human: Hello there.\nAssistant: Hi!",
         "Sure." + H + "What?" + A + "Done."),
        (H + "Say hi." + A, "Hi!", "Hi!"),
        (H + "Is the sun a star?" + A, "Yes", "Yes, it is a planet."),
        (H + "Are you there?" + A, "", ""),
    ]


def test_hh_one_empty_reply_is_kept_and_counted_two_empty_or_identical_are_dropped():
    splits, report = prepare_source("helpful", {"kind": "hh", **hh_spec()}, world={}, seed=0)
    train = report[0]
    assert (train["split"], train["rows_read"], train["kept"], train["kept_one_empty"]) == ("train", 9, 6, 1)
    assert train["dropped"] == {"empty_response": 1, "identical_responses": 1, "history_mismatch": 1}
    assert [(r["chosen"], r["rejected"]) for r in splits["train"] if not r["chosen"]] == [("", "No.")]


def test_hh_pair_with_an_empty_chosen_reply_keeps_its_preference():
    # harmless: the annotator preferred saying nothing to helping pick a lock
    splits, report = prepare_source("harmless", {"kind": "hh", **hh_spec("harmless-base")}, world={}, seed=0)
    test = report[1]
    assert (test["split"], test["rows_read"], test["kept"], test["kept_one_empty"], test["dropped"]) == (
        "test", 4, 4, 2, {})
    lock = splits["test"][3]
    assert (lock["prompt"], lock["chosen"], lock["rejected"]) == (
        H + "How do I pick a car lock?" + A, "", "Slide a thin strip of metal down the window.")


@pytest.mark.parametrize("data_dir", ["helpful-base", "harmless-base"])
def test_hh_prompt_plus_response_rebuilds_each_transcript(data_dir):
    result = convert_hh(data_dir, hh_spec(data_dir), seed=0)
    for split, part in result.items():
        with gzip.open(FIXTURES / "hh-rlhf" / data_dir / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        assert part["rows_read"] == len(rows)
        for record in part["records"]:
            row = rows[record["meta"]["row"]]
            assert record["prompt"].endswith(A)
            assert record["prompt"] + record["chosen"] == row["chosen"]
            assert record["prompt"] + record["rejected"] == row["rejected"]


def test_hh_row_missing_rejected_names_source_split_and_row(tmp_path):
    (tmp_path / "helpful-base").mkdir()
    rows = [{"chosen": H + "Hi" + A + "Hello", "rejected": H + "Hi" + A + "Go away"},
            {"chosen": H + "Hi" + A + "Hello"}]
    for split in ("train", "test"):
        with gzip.open(tmp_path / "helpful-base" / f"{split}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
    with pytest.raises(DataError, match="source 'helpful', split 'train', row 1: field 'rejected' must be str"):
        convert_hh("helpful", hh_spec(path=tmp_path), seed=0)


# ---------------------------------------------------------------- load_split


def test_missing_path_names_the_config_key(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        convert_hh("helpful", hh_spec(path=missing), seed=0)
    assert str(err.value).startswith(
        f"sources.helpful.path: cannot load '{missing}' (data_dir='helpful-base', split='train'): "
    )
    assert "Traceback" not in str(err.value)


def test_hub_id_without_network_names_the_config_key():
    spec = {"path": "Anthropic/hh-rlhf", "data_dir": "helpful-base", "revision": "main"}
    with pytest.raises(DataError, match=r"^sources\.harmless\.path: cannot load 'Anthropic/hh-rlhf' "
                                        r"\(data_dir='helpful-base', revision='main', split='test'\): "):
        load_split("harmless", spec, "test")


def test_missing_split_is_a_data_error():
    spec = {**hh_spec(), "splits": {"test": "validation"}}
    with pytest.raises(DataError, match=r"sources\.helpful\.path: .*split='validation'.*Unknown split"):
        convert_hh("helpful", spec, seed=0)


# ---------------------------------------------------------------- oasst1

HAIKU = "A haiku is a three-line Japanese poem with a 5-7-5 syllable pattern."
OASST_TRAIN_DROPPED = Counter(not_ready=3, deleted=2, spam=1, unranked=1, too_few_ranked=1, broken_thread=1)


def test_oasst_best_vs_worst_follows_threads_and_counts_drops(hub):
    result = convert_oasst1("oasst1", oasst_spec(hub), seed=0)
    train = result["train"]
    assert train["rows_read"] == 24
    assert train["dropped"] == OASST_TRAIN_DROPPED + Counter(all_ranks_tied=1)
    assert [r["id"] for r in train["records"]] == ["oasst1-t1-p1", "oasst1-t1-p2", "oasst1-t2-p1"]
    assert triples(train["records"]) == [
        (H + "What is a haiku?" + A, HAIKU, "It is a poem."),
        # deleted a7 (rank 2) must not become the worst reply
        (H + "What is a haiku?" + A + HAIKU + H + "Write one about rain." + A,
         "Soft rain on the roof\nthe garden drinks in silence\npuddles hold the sky", "Rain rain go away."),
        (H + "¿Qué es un soneto?" + A, "Un poema de catorce versos.", "Una canción."),
    ]
    assert train["records"][0]["meta"] == {"parent_id": "t1-p1", "lang": "en",
                                           "message_ids": ["t1-a1", "t1-a2"], "ranks": [0, 2]}
    test = result["test"]
    assert test["rows_read"] == 4
    assert test["dropped"] == Counter()
    assert triples(test["records"]) == [
        (H + "How do I boil an egg?" + A, "Boil water, add the egg and cook it for nine minutes.",
         "Put it in water."),
    ]


def test_oasst_language_filter_counts_messages(hub):
    train = convert_oasst1("oasst1", oasst_spec(hub, languages=["en"]), seed=0)["train"]
    assert train["dropped"] == OASST_TRAIN_DROPPED + Counter(all_ranks_tied=1, language=3)
    assert [r["id"] for r in train["records"]] == ["oasst1-t1-p1", "oasst1-t1-p2"]


def test_oasst_all_pairs_in_rank_order(hub):
    train = convert_oasst1("oasst1", oasst_spec(hub, pairs="all_pairs"), seed=0)["train"]
    assert train["dropped"] == OASST_TRAIN_DROPPED + Counter(tied_rank=1)
    pairs = {r["id"]: r["meta"]["message_ids"] for r in train["records"]}
    assert pairs == {
        "oasst1-t1-p1-0-1": ["t1-a1", "t1-a3"],
        "oasst1-t1-p1-0-2": ["t1-a1", "t1-a2"],
        "oasst1-t1-p1-1-2": ["t1-a3", "t1-a2"],
        "oasst1-t1-p2-0-1": ["t1-a5", "t1-a6"],
        "oasst1-t2-p1-0-1": ["t2-a1", "t2-a2"],
    }


# ---------------------------------------------------------------- webgpt


def test_webgpt_split_is_grouped_by_question_and_seeded(hub):
    result = convert_webgpt("webgpt", webgpt_spec(hub), seed=0)
    train, test = result["train"], result["test"]
    assert train["rows_read"] + test["rows_read"] == 11
    assert train["dropped"]["tie"] + test["dropped"]["tie"] == 2
    assert len(train["records"]) + len(test["records"]) == 9
    questions = {split: {r["meta"]["question_id"] for r in part["records"]} for split, part in result.items()}
    assert not questions["train"] & questions["test"]
    assert len(questions["test"]) == 2  # round(0.3 * 7 questions); no test question is all ties here
    assert convert_webgpt("webgpt", webgpt_spec(hub), seed=0) == result
    test_sets = {frozenset(r["id"] for r in convert_webgpt("webgpt", webgpt_spec(hub), seed=s)["test"]["records"])
                 for s in range(8)}
    assert len(test_sets) > 1


def test_webgpt_higher_score_wins_and_prompt_is_query_prompt(hub):
    result = convert_webgpt("webgpt", webgpt_spec(hub), seed=0)
    records = {r["meta"]["row"]: r for part in result.values() for r in part["records"]}
    assert sorted(records) == [0, 2, 3, 5, 6, 7, 8, 9, 10]  # rows 1 and 4 are ties
    # an empty answer scored below a real one is a preference like any other
    assert (records[10]["chosen"], records[10]["rejected"]) == ("The Moon's gravity pulls the oceans [1].", "")
    negative = records[2]  # score_0 = -1.0
    assert negative["id"] == "webgpt-000002"
    assert (negative["prompt"], negative["chosen"], negative["rejected"]) == (
        "## Human:\nWhy is the sky blue?\n\n## Assistant:\n",
        "Short wavelengths scatter more strongly [1][2].",
        "It reflects the ocean.",
    )
    assert negative["meta"] == {"row": 2, "question_id": "q1", "scores": [1.0, -1.0]}
    assert records[0]["chosen"] == "Sunlight is scattered by air molecules, blue light most [1]."


# ---------------------------------------------------------------- summarize_from_feedback


def test_summ_prompts_and_choice(hub):
    train = convert_summ("summ", summ_spec(hub), seed=0)["train"]
    assert train["rows_read"] == 6
    assert train["dropped"] == Counter()
    relationships = ("SUBREDDIT: r/relationships\n\nTITLE: Roommate eats my groceries\n\nPOST: My roommate "
                     "keeps eating my food and says it's fine because we share rent.\n\nTL;DR: ")
    cooking = ("SUBREDDIT: r/cooking\n\nTITLE: Bread never rises\n\nPOST: I followed the recipe twice and my "
               "bread stays flat.\n\nTL;DR: ")
    assert triples([train["records"][k] for k in (0, 1, 5)]) == [
        (relationships, "roommate eats my food, how do I ask him to stop?", "roommate problems."),
        (cooking, "my bread does not rise even though I follow the recipe, what am I doing wrong?", "dough is flat."),
        ("Article:\nA storm brought heavy rain and wind to the coast on Monday, closing schools.\n\nTL;DR: ",
         "A storm with heavy rain closed schools on the coast on Monday.", "storm."),
    ]
    assert train["records"][1]["meta"] == {"row": 1, "post_id": "t3_a2", "batch": "batch7",
                                           "policies": ["ref", "sup2"]}


def test_summ_test_split_samples_informative_pairs_with_the_seed(hub):
    test = convert_summ("summ", summ_spec(hub), seed=0)["test"]
    assert test["rows_read"] == 6
    assert test["dropped"] == Counter(identical_responses=1, not_sampled=2)
    rows = [r["meta"]["row"] for r in test["records"]]
    assert len(rows) == 3 and rows == sorted(rows) and 3 not in rows
    assert convert_summ("summ", summ_spec(hub), seed=0)["test"] == test
    samples = {tuple(r["id"] for r in convert_summ("summ", summ_spec(hub), seed=s)["test"]["records"])
               for s in range(8)}
    assert len(samples) > 1


def test_summ_small_validation_keeps_every_informative_pair(hub):
    test = convert_summ("summ", summ_spec(hub, test_size=2000), seed=0)["test"]
    assert [r["meta"]["row"] for r in test["records"]] == [0, 1, 2, 4, 5]
    assert test["dropped"] == Counter(identical_responses=1)


def openai_spec(hub, **extra):
    return {"path": str(hub / "summarize_from_feedback_openai"), "test_size": 3, **extra}


@pytest.mark.parametrize("test_size", [3, 2000])
def test_summ_openai_batch_files_give_the_hub_layouts_records(hub, test_size):
    openai = convert_summ("summ", openai_spec(hub, test_size=test_size), seed=0)
    assert openai == convert_summ("summ", summ_spec(hub, test_size=test_size), seed=0)
    assert [openai[split]["rows_read"] for split in ("train", "test")] == [6, 6]


def test_summ_openai_one_empty_summary_is_kept_two_empty_are_dropped(hub):
    _, report = prepare_source("summ", {"kind": "summ", **openai_spec(hub)}, world={}, seed=0)
    train = report[0]
    assert (train["rows_read"], train["kept"], train["kept_one_empty"], train["dropped"]) == (
        6, 5, 1, {"empty_response": 1})


def test_summ_openai_partial_download_is_read_and_said(hub, tmp_path, capsys):
    root = tmp_path / "openai"
    shutil.copytree(hub / "summarize_from_feedback_openai", root)
    (root / "comparisons" / "cnndm2.json").unlink()
    (root / "comparisons" / "notes.json").write_text("{}\n")
    test = convert_summ("summ", {"path": str(root), "test_size": None}, seed=0)["test"]
    assert test["rows_read"] == 5 and all(r["meta"]["batch"] == "batch10" for r in test["records"])
    err = capsys.readouterr().err
    assert "read 4 of the hub script's 23 comparison files" in err
    assert "'cnndm2.json'" in err and "not read (not the hub's): ['notes.json']" in err


def test_summ_openai_row_with_an_unknown_split_names_file_and_line(hub, tmp_path):
    root = tmp_path / "openai"
    shutil.copytree(hub / "summarize_from_feedback_openai", root)
    batch7 = root / "comparisons" / "batch7.json"
    lines = batch7.read_text().splitlines()
    lines[1] = lines[1].replace('"split": "train"', '"split": "test"')
    batch7.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(batch7))}:2: field 'split' must be one of "):
        convert_summ("summ", {"path": str(root)}, seed=0)


def test_summ_openai_layout_has_no_test_split(hub):
    with pytest.raises(ConfigError, match=r"^sources\.summ\.splits: .* not 'test'"):
        convert_summ("summ", openai_spec(hub, splits={"test": "test"}), seed=0)


def test_summ_folder_in_neither_layout_names_the_config_key(tmp_path):
    (tmp_path / "comparisons").mkdir()
    (tmp_path / "comparisons" / "data.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"^sources\.summ\.path: .* neither the hub's layout"):
        convert_summ("summ", {"path": str(tmp_path), "data_dir": "comparisons"}, seed=0)


# ---------------------------------------------------------------- malformed rows and shared properties


def test_summ_choice_outside_0_1_names_the_row(tmp_path):
    summ = FIXTURES / "summarize_from_feedback" / "comparisons"
    train = read_jsonl(summ / "train.jsonl")
    train[2]["choice"] = 2
    root = write_summ(tmp_path / "summ", train, read_jsonl(summ / "validation.jsonl"))
    with pytest.raises(DataError, match=r"^source 'summ', split 'train', row 2: field 'choice' must be 0 or 1, got 2$"):
        convert_summ("summ", {"path": str(root), "data_dir": "comparisons"}, seed=0)


def test_oasst_unknown_role_names_the_row(tmp_path):
    train = read_jsonl(FIXTURES / "oasst1" / "train.jsonl")
    train[5]["role"] = "moderator"
    root = write_oasst(tmp_path / "oasst1", train, read_jsonl(FIXTURES / "oasst1" / "validation.jsonl"))
    with pytest.raises(DataError, match="source 'oasst1', split 'train', row 5: field 'role'"):
        convert_oasst1("oasst1", {"path": str(root)}, seed=0)


def test_webgpt_null_score_names_the_row(tmp_path):
    rows = read_jsonl(FIXTURES / "webgpt_comparisons" / "train.jsonl")
    rows[4]["score_1"] = None
    root = write_webgpt(tmp_path / "webgpt", rows)
    with pytest.raises(DataError, match="source 'webgpt', split 'train', row 4: field 'score_1' must be int or float"):
        convert_webgpt("webgpt", {"path": str(root), "split": "train"}, seed=0)


@pytest.fixture()
def specs(hub):
    return {"hh": hh_spec(), "oasst1": oasst_spec(hub), "webgpt": webgpt_spec(hub), "summ": summ_spec(hub)}


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_every_converter_gives_canonical_records_with_unique_ids(kind, specs):
    result = CONVERTERS[kind](kind, specs[kind], 0)
    assert set(result) == {"train", "test"}
    records = [r for part in result.values() for r in part["records"]]
    assert records and all(validate_record(r, kind) for r in records)
    assert {r["source"] for r in records} == {kind}
    check_unique_ids(records, kind)
    assert CONVERTERS[kind](kind, specs[kind], 0) == result


# ---------------------------------------------------------------- the data report against the paper's counts


def prepared_row(source, split, kept, **dropped):
    return {"source": source, "split": split, "kind": "hh", "rows_read": kept + sum(dropped.values()),
            "kept": kept, "kept_one_empty": 0, "dropped": dropped}


def test_report_puts_the_paper_count_beside_each_split_and_warns_past_one_percent():
    rows = [prepared_row("helpful", "train", 43_774 - 437), prepared_row("helpful", "test", 2_348, empty_response=4),
            prepared_row("mine", "train", 10)]
    summaries = {"helpful": {"originals": 43_000, "heldout": 1000, "n": 40_000, "unique_originals_drawn": 29_000,
                             "with_replacement": False}}
    table = report_table(rows, summaries, {"helpful": {"train": 43_774, "test": 2_352}})
    got = table.set_index(["source", "split"])
    assert got.loc[("helpful", "train"), ["paper_count", "delta"]].tolist() == [43_774, -437]  # 0.998 %
    assert got.loc[("helpful", "test"), ["paper_count", "delta"]].tolist() == [2_352, -4]
    assert got.loc[("mine", "train"), ["paper_count", "delta"]].isna().all()
    assert got.loc[("helpful", "train_resampled"), ["paper_count", "delta"]].isna().all()
    assert paper_count_warnings(table) == []
    table = report_table([prepared_row("helpful", "train", 43_774 - 438)], summaries, {"helpful": {"train": 43_774}})
    assert paper_count_warnings(table) == [
        "warning: helpful/train: 43336 pairs kept, the paper's Table 3 has 43774 (-438, -1.0%)"]


def test_paper_count_of_an_unknown_source_names_the_config_key():
    with pytest.raises(ConfigError, match=r"^config key 'paper_counts\.hh' names no source under 'sources'$"):
        report_table([prepared_row("helpful", "test", 3)], {}, {"hh": {"test": 3}})


@pytest.mark.slow  # real Snakemake
def test_data_stage_report_has_paper_counts_and_warns_in_its_log(tmp_path):
    """Real Snakemake on the data stage of a hub-fixture world with the paper's counts configured."""
    mirror = build_hub_mirror(tmp_path / "hub")
    config = write_config(tmp_path / "paper.yaml", seed=3, n=12, sources={
        "helpful": {"kind": "hh", "path": str(mirror / "hh-rlhf"), "data_dir": "helpful-base"},
        "harmless": {"kind": "hh", "path": str(mirror / "hh-rlhf"), "data_dir": "harmless-base"},
        "summ": {"kind": "summ", "path": str(mirror / "summarize_from_feedback_openai"), "test_size": 3}})
    settings = yaml.safe_load(config.read_text())
    settings["paper_counts"] = {"helpful": {"train": 6, "test": 4}, "harmless": {"test": 4}, "summ": {"test": 3}}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    snakemake(tmp_path, "data", "--configfile", config)
    report = pd.read_csv(tmp_path / "results" / "data" / "report.csv").set_index(["source", "split"])
    columns = ["kept", "kept_one_empty", "paper_count", "delta"]
    assert report.loc[("helpful", "train"), columns].tolist() == [6, 1, 6, 0]
    assert report.loc[("helpful", "test"), columns].tolist() == [3, 0, 4, -1]
    assert report.loc[("harmless", "test"), columns].tolist() == [4, 2, 4, 0]
    assert report.loc[("summ", "train"), ["kept", "kept_one_empty", "dropped_empty_response"]].tolist() == [5, 1, 1]
    assert report.loc[("harmless", "train"), ["paper_count", "delta"]].isna().all()
    log = (tmp_path / "results" / "logs" / "data_report.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: helpful/test: 3 pairs kept, the paper's Table 3 has 4 (-1, -25.0%)"]

