"""Pairwise judging with position swap (the paper's Appendix D) and the synthetic world's oracle judge.

Every comparison is asked twice, response a in position A and then swapped. The same winner both
times is the verdict, two different winners a tie. The verdict is read from the answer's last line
("More helpful: A", "B", "**A**"); an answer naming neither is invalid and never guessed: its
comparison is "invalid", left out of win/tie/lose and counted.

The `judge` config block:

  kind          oracle: the synthetic world's true reward decides (offline, free)
                openai: an OpenAI-compatible chat endpoint (the paper: GPT-4)
  tasks         {task: source}: each judged task (helpful, harmless) and the preference source it
                stands for; the oracle judges a task by that source's reward r* + drift
  tie_margin    oracle: when |r(A) - r(B)| <= tie_margin it answers "A" (the first position) in
                both orders, which the protocol turns into a tie as it would for a position-biased
                judge
  prompts       openai: YAML file, one template per task with the placeholders {prompt},
                {response_A}, {response_B} (config/judge_prompts.yaml: Appendix D verbatim)
  model, base_url, api_key_env, temperature, max_tokens, concurrency, timeout, max_retries,
  backoff_initial, backoff_max, cache
                openai: see more_lib.judge.api
  cache_outside_results
                openai: true lets `cache` name a file outside results/ (an absolute path, a cache
                kept across clones); without it `cache` is a relative path under results/, no '..'

  synthetic: {kind: oracle, tie_margin: 0.1, tasks: {helpful: helpful, harmless: harmless}}
  paper:     {kind: openai, model: gpt-4, base_url: null, api_key_env: OPENAI_API_KEY, temperature: 0,
              max_tokens: 512, concurrency: 8, timeout: 60, max_retries: 6, backoff_initial: 1,
              backoff_max: 60, cache: results/judge/cache.sqlite, prompts: config/judge_prompts.yaml,
              tasks: {helpful: helpful, harmless: harmless}}

Files. A generation file: one {"id", "prompt", "response"} object per line; the two files compared
hold the same ids. A judgment file: one line per prompt with id, prompt, response_a, response_b,
answers (the raw answers, [a in position A, b in position A]), verdicts (each order's winner, "a"
or "b", null when invalid) and winner ("a" | "b" | "tie" | "invalid").
"""

import csv
import json
import re
import string
from pathlib import PurePosixPath

import yaml
from tqdm import tqdm

from more_lib.core.errors import ConfigError, DataError
from more_lib.core.io import atomic_path, read_jsonl
from more_lib.data.synthetic import oracle_reward

PLACEHOLDERS = {"prompt", "response_A", "response_B"}
API_KEYS = ["model", "base_url", "api_key_env", "temperature", "max_tokens", "concurrency", "timeout",
            "max_retries", "backoff_initial", "backoff_max", "cache"]
LEDGER = ["a", "b", "task", "judge", "model", "comparisons", "questions", "requests", "cache_hits",
          "retries", "tokens_in", "tokens_out", "invalid_answers", "invalid_comparisons"]


def check_config(cfg, task=None):
    """Raise a ConfigError naming the `judge` key at fault; call before any work (the workflow calls it
    when it reads the config, a judge job again for its `task`)."""
    required = {"oracle": ["tasks", "tie_margin"], "openai": ["tasks", "prompts", *API_KEYS]}
    if cfg.get("kind") not in required:
        raise ConfigError(f"judge.kind must be one of {sorted(required)}, got {cfg.get('kind')!r}")
    missing = [k for k in required[cfg["kind"]] if k not in cfg]
    if missing:
        raise ConfigError(f"judge: missing key(s) {missing} for kind {cfg['kind']}")
    if task is not None and task not in cfg["tasks"]:
        raise ConfigError(f"judge.tasks has no task {task!r} (tasks: {sorted(cfg['tasks'])})")
    if cfg["kind"] == "openai":
        for k in ["concurrency", "max_tokens"]:
            if not isinstance(cfg[k], int) or cfg[k] < 1:
                raise ConfigError(f"judge.{k} must be a positive integer, got {cfg[k]!r}")
        if not isinstance(cfg["max_retries"], int) or cfg["max_retries"] < 0:
            raise ConfigError(f"judge.max_retries must be an integer >= 0, got {cfg['max_retries']!r}")
        check_cache(cfg)


def check_cache(cfg):
    """`judge.cache` is checked like a name: under results/ (with the rest of the run's artifacts,
    never beside a user's files) unless `judge.cache_outside_results` says otherwise, and never
    through '..'."""
    path = PurePosixPath(cfg["cache"])
    if ".." in path.parts:
        raise ConfigError(f"judge.cache: {cfg['cache']!r} goes through '..' (name the file directly)")
    if cfg.get("cache_outside_results", False):
        return
    inside = not path.is_absolute() and path.parts[:1] == ("results",) and len(path.parts) > 1
    if not (inside and re.fullmatch(r"[A-Za-z0-9._/-]+", cfg["cache"])):
        raise ConfigError(f"judge.cache: {cfg['cache']!r} is not a file under results/ (letters, digits, "
                          "'.', '_', '-' and '/'); set judge.cache_outside_results: true to keep it elsewhere")


def load_template(path, task):
    try:
        with open(path, encoding="utf-8") as f:
            templates = yaml.safe_load(f)
    except OSError as err:
        raise ConfigError(f"judge.prompts: cannot read {path} ({err.strerror})") from None
    if not isinstance(templates, dict) or task not in templates:
        raise ConfigError(f"judge.prompts: {path} has no template for task {task!r}")
    fields = {name for _, name, _, _ in string.Formatter().parse(templates[task]) if name is not None}
    if fields != PLACEHOLDERS:
        raise ConfigError(f"judge.prompts: {path}:{task} has placeholders {sorted(fields)}, "
                          f"expected {sorted(PLACEHOLDERS)}")
    return templates[task]


def read_generations(path):
    """A generation file as a list of {"id", "prompt", "response"}; errors name the file and line."""
    records = []
    for lineno, record in read_jsonl(path):
        for field in ["id", "prompt", "response"]:
            if not isinstance(record, dict) or not isinstance(record.get(field), str):
                raise DataError(f"{path}:{lineno}: field '{field}' must be a string")
        records.append(record)
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: duplicate id(s) {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    return records


def pair_up(records_a, records_b, path_a, path_b):
    """(a, b) record pairs in the order of a; the two files must hold the same ids and prompts."""
    by_id = {r["id"]: r for r in records_b}
    only_a = sorted({r["id"] for r in records_a} - set(by_id))
    only_b = sorted(set(by_id) - {r["id"] for r in records_a})
    if only_a or only_b:
        raise DataError(f"{path_a} and {path_b} hold different ids: only in the first {only_a[:5]} "
                        f"({len(only_a)}), only in the second {only_b[:5]} ({len(only_b)})")
    for r in records_a:
        if r["prompt"] != by_id[r["id"]]["prompt"]:
            raise DataError(f"{path_a} and {path_b}: id {r['id']!r} has different prompts")
    return [(r, by_id[r["id"]]) for r in records_a]


_JUNK = " \t*_`'\"“”‘’.,;:!?()[]<>{}"


def parse_verdict(answer):
    """"A" or "B" from the answer's last non-empty line, or None: the letter, alone once a label
    ("More helpful:"), a "Response" prefix, quotes, brackets and markdown are stripped."""
    lines = [line for line in (answer or "").splitlines() if line.strip(_JUNK)]
    if not lines:
        return None
    last = lines[-1].rsplit(":", 1)[-1].strip(_JUNK)
    last = re.sub(r"^(response|answer|option)\s+", "", last, flags=re.IGNORECASE).strip(_JUNK)
    return last.upper() if last.upper() in ("A", "B") else None


def combine(verdicts):
    """The protocol: both orders agree -> that winner; they disagree -> tie; any invalid -> invalid."""
    if None in verdicts:
        return "invalid"
    return verdicts[0] if verdicts[0] == verdicts[1] else "tie"


def oracle_answer(prompt, first, second, task, world, drift, margin):
    """The oracle's answer in the template's format, stating both true rewards for traceability."""
    r_a, r_b = (oracle_reward(prompt, y, world, drift) for y in (first, second))
    if abs(r_a - r_b) <= margin:
        letter, why = "A", f"within the tie margin {margin}, so the first position is named"
    else:
        letter = "A" if r_a > r_b else "B"
        why = f"Response {letter} is better"
    return (f"Comparison: true {task} reward of Response A {r_a:.4f}, of Response B {r_b:.4f}; {why}.\n"
            f"More {task}: {letter}")


def judge_pairs(pairs, task, cfg, world=None, drift=None, account=None):
    """Judge (a, b) record pairs; returns the judgment rows and the ledger counts of `account`
    (the comparison and task, e.g. "sft vs rjs-x (helpful)"; default: the task), under which the
    endpoint's requests are recorded."""
    account = account or task
    questions = [(a["prompt"], x, y) for a, b in pairs
                 for x, y in [(a["response"], b["response"]), (b["response"], a["response"])]]
    if cfg["kind"] == "oracle":
        if world is None or drift is None:
            raise ConfigError("judge.kind oracle needs the synthetic world and the drift of the source "
                              f"judge.tasks.{task} names")
        answers = [oracle_answer(*q, task, world, drift, cfg["tie_margin"]) for q in tqdm(questions, desc=account)]
        counts = {"questions": len(questions), "requests": 0, "retries": 0, "tokens_in": 0,
                  "tokens_out": 0, "cache_hits": 0}
    else:
        from more_lib.judge import (
            api as judge_api,  # imports openai (seconds): only when an endpoint is judging
        )

        template = load_template(cfg["prompts"], task)
        texts = [template.format(prompt=p, response_A=x, response_B=y) for p, x, y in questions]
        where = [f"id {a['id']!r}, {order}" for a, _ in pairs for order in ("a in position A", "b in position A")]
        answers, counts = judge_api.ask(texts, cfg, account, where)
    rows = []
    for i, (a, b) in enumerate(pairs):
        both = answers[2 * i: 2 * i + 2]
        letters = [parse_verdict(answer) for answer in both]
        # position A holds a in the first order and b in the second
        verdicts = [None if x is None else {"A": first, "B": second}[x]
                    for x, (first, second) in zip(letters, ["ab", "ba"], strict=True)]
        rows.append({"id": a["id"], "prompt": a["prompt"], "response_a": a["response"],
                     "response_b": b["response"], "answers": both, "verdicts": verdicts,
                     "winner": combine(verdicts)})
    counts["comparisons"] = len(rows)
    counts["invalid_answers"] = sum(v is None for r in rows for v in r["verdicts"])
    counts["invalid_comparisons"] = sum(r["winner"] == "invalid" for r in rows)
    return rows, counts


def summarise(rows):
    """Win/tie/lose percentages of a over b among valid comparisons (n of them); invalid is a count."""
    winners = [r["winner"] for r in rows]
    n = sum(w != "invalid" for w in winners)
    share = {k: 100.0 * winners.count(w) / n if n else float("nan")
             for k, w in [("win", "a"), ("tie", "tie"), ("lose", "b")]}
    return {**share, "invalid": winners.count("invalid"), "n": n}


def write_judgments(rows, path):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def read_judgments(path):
    return [row for _, row in read_jsonl(path)]


def write_ledger(row, path):
    """One CSV row (columns LEDGER) per comparison set; the workflow concatenates them."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=LEDGER)
        writer.writeheader()
        writer.writerow(row)
