"""Hand-made rows in the hubs' exact schemas, laid out as the hub repositories are.

hh-rlhf is committed as the hub's gzip JSON lines; oasst1, webgpt and summarize are committed
as readable JSON lines and written as parquet with the hub's dtypes by `build_hub_mirror`.
`summarize_from_feedback_openai/comparisons/*.json` holds the same summarize rows as OpenAI
published them (JSON lines per batch, keys the hub fills with null left out), in the order the
hub's loading script reads them.
"""

import json
import shutil
from pathlib import Path

import datasets
from datasets import Features, List, Value

FIXTURES = Path(__file__).parent / "fixtures" / "hub"
STRING, INT32, FLOAT64 = Value("string"), Value("int32"), Value("float64")

OASST_FEATURES = Features({
    "message_id": STRING, "parent_id": STRING, "user_id": STRING, "created_date": STRING,
    "text": STRING, "role": STRING, "lang": STRING, "review_count": INT32,
    "review_result": Value("bool"), "deleted": Value("bool"), "rank": INT32,
    "synthetic": Value("bool"), "model_name": STRING,
    "detoxify": {key: FLOAT64 for key in ("toxicity", "severe_toxicity", "obscene", "identity_attack",
                                          "insult", "threat", "sexual_explicit")},
    "message_tree_id": STRING, "tree_state": STRING,
    "emojis": {"name": List(STRING), "count": List(INT32)},
    "labels": {"name": List(STRING), "value": List(FLOAT64), "count": List(INT32)},
})
WEBGPT_FEATURES = Features({
    "question": {"dataset": STRING, "id": STRING, "full_text": STRING},
    **{
        field: kind
        for k in (0, 1)
        for field, kind in {
            f"quotes_{k}": {"title": List(STRING), "extract": List(STRING)},
            f"answer_{k}": STRING,
            f"tokens_{k}": {"prefix": List(Value("int64")), "completion": List(Value("int64"))},
            f"score_{k}": FLOAT64,
        }.items()
    },
})
SUMM_FEATURES = Features({
    "info": {key: STRING for key in ("id", "post", "title", "subreddit", "site", "article")},
    "summaries": List({"text": STRING, "policy": STRING, "note": STRING}),
    "choice": INT32, "worker": STRING, "batch": STRING, "split": STRING,
    "extra": {"confidence": INT32},
})


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_parquet(rows, features, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))


def write_oasst(root, train, validation):
    for split, rows in (("train", train), ("validation", validation)):
        write_parquet(rows, OASST_FEATURES, root / "data" / f"{split}-00000-of-00001.parquet")
    return root


def write_summ(root, train, validation):
    for split, rows in (("train", train), ("validation", validation)):
        write_parquet(rows, SUMM_FEATURES, root / "comparisons" / split / "0000.parquet")
    return root


def write_webgpt(root, rows):
    # the layout of the hub's refs/convert/parquet branch
    write_parquet(rows, WEBGPT_FEATURES, root / "default" / "train" / "0000.parquet")
    return root


def build_hub_mirror(root):
    """Write every fixture source under `root` in its hub layout; return `root`."""
    root = Path(root)
    shutil.copytree(FIXTURES / "hh-rlhf", root / "hh-rlhf")
    oasst, summ = FIXTURES / "oasst1", FIXTURES / "summarize_from_feedback" / "comparisons"
    write_oasst(root / "oasst1", read_jsonl(oasst / "train.jsonl"), read_jsonl(oasst / "validation.jsonl"))
    write_summ(root / "summarize_from_feedback", read_jsonl(summ / "train.jsonl"),
               read_jsonl(summ / "validation.jsonl"))
    write_webgpt(root / "webgpt_comparisons", read_jsonl(FIXTURES / "webgpt_comparisons" / "train.jsonl"))
    shutil.copytree(FIXTURES / "summarize_from_feedback_openai", root / "summarize_from_feedback_openai")
    return root
