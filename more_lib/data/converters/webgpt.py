"""openai/webgpt_comparisons: scored answer pairs in one hub split, split here by question."""

import math
from collections import Counter

from more_lib.core.errors import DataError
from more_lib.core.seeding import rng_for
from more_lib.data.converters import common

# MORE/DSP's QUERY_PROMPT up to its {response} slot.
WEBGPT_PROMPT = "## Human:\n{question}\n\n## Assistant:\n"


def convert_webgpt(name, spec, seed):
    """openai/webgpt_comparisons: one hub split, split here by question so no question leaks.

    rows_read and "tie" count hub rows assigned to the split.
    """
    fraction = spec.get("test_fraction", 0.05)
    hub_split = spec.get("split", "train")
    rows = common.rows(name, spec, hub_split, ["question", "answer_0", "answer_1", "score_0", "score_1"])
    pairs = [_webgpt_pair(name, hub_split, i, row) for i, row in enumerate(rows)]
    # sorted ids, not row order: the split depends only on the seed and the set of questions
    questions = sorted({question_id for question_id, _ in pairs})
    order = rng_for(seed, name).permutation(len(questions))
    test_questions = {questions[k] for k in order[: round(fraction * len(questions))]}
    results = {split: common.result(0, [], Counter()) for split in ("train", "test")}
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
    where = common.where(name, hub_split, i)
    question_id = common.field(row, "question.id", [str], where)
    question = common.field(row, "question.full_text", [str], where).strip()
    answers = [common.field(row, f"answer_{k}", [str], where).strip() for k in (0, 1)]
    scores = [float(common.field(row, f"score_{k}", [int, float], where)) for k in (0, 1)]
    if any(math.isnan(score) for score in scores):
        raise DataError(f"{where}: scores must be numbers, got {scores}")
    if scores[0] == scores[1]:
        return question_id, None
    # the scores are a preference strength in [-1, 1]; only their order matters here
    best = int(scores[1] > scores[0])
    meta = {"row": i, "question_id": question_id, "scores": [scores[best], scores[1 - best]]}
    record = common.record(name, f"{name}-{i:06d}", WEBGPT_PROMPT.format(question=question),
                     answers[best], answers[1 - best], meta)
    return question_id, record
