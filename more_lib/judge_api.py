"""Ask an OpenAI-compatible chat endpoint a list of questions, through an SQLite answer cache.

Config keys (the `judge` block with `kind: openai`; see more_lib.judge for the whole block):

  model            chat model name (paper: gpt-4)
  base_url         endpoint, e.g. http://host:8000/v1; null means OPENAI_BASE_URL or api.openai.com
  api_key_env      NAME of the environment variable holding the key (the key itself is never in a
                   config, log or artifact)
  temperature      sampling temperature (0)
  max_tokens       answer length cap
  concurrency      requests in flight at once (threads)
  timeout          seconds before one request counts as timed out
  max_retries      retries of one question after a 429, 5xx, timeout or connection error
  backoff_initial  seconds before the first retry; doubles each retry, with jitter
  backoff_max      cap of one wait (also caps a server's Retry-After)
  cache            SQLite file of every question and answer, shared by all judge processes

A question is asked once per (model, temperature, max_tokens, sha256 of the prompt), ever: reruns,
resumed runs and other comparison sets read the cache, and each answer is written the moment it
arrives, so a killed run loses nothing.
"""

import hashlib
import os
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import openai
from tqdm import tqdm

from more_lib.errors import ConfigError


class EndpointError(ConfigError):
    """The endpoint refused a request, or still failed after `judge.max_retries` retries."""


def connect(path, wait_s=60):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _open_cache(path, wait_s)
        except sqlite3.OperationalError as error:
            # Judge jobs that open a new cache at the same moment race to turn on WAL and create the table,
            # and SQLite answers the loser "locked" at once instead of waiting out the busy timeout.
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.05, 0.25))


def _open_cache(path, wait_s):
    # WAL lets several judge processes read while one writes; the busy timeout makes writers queue
    db = sqlite3.connect(path, timeout=wait_s)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("""CREATE TABLE IF NOT EXISTS answers (
            model TEXT, temperature REAL, max_tokens INTEGER, prompt_sha256 TEXT, prompt TEXT, answer TEXT,
            tokens_in INTEGER, tokens_out INTEGER, response TEXT, created REAL,
            PRIMARY KEY (model, temperature, max_tokens, prompt_sha256))""")
        db.commit()
    except sqlite3.OperationalError:
        db.close()
        raise
    return db


def cache_key(cfg, question):
    return (cfg["model"], float(cfg["temperature"]), int(cfg["max_tokens"]),
            hashlib.sha256(question.encode("utf-8")).hexdigest())


def lookup(db, key):
    row = db.execute("SELECT answer FROM answers WHERE model=? AND temperature=? AND max_tokens=? "
                     "AND prompt_sha256=?", key).fetchone()
    return None if row is None else row[0]


def store(db, key, question, answer, tokens_in, tokens_out, response):
    # OR IGNORE: a concurrent process may have answered the same question first; keep its answer
    db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (*key, question, answer, tokens_in, tokens_out, response, time.time()))
    db.commit()


def api_key(cfg):
    name = cfg["api_key_env"]
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"judge.api_key_env: environment variable {name} is not set (it must hold the "
                          f"API key of judge.model {cfg['model']!r})")
    return value


def backoff(attempt, cfg, retry_after=None):
    """Exponential backoff with jitter (so parallel workers do not retry in lockstep), capped."""
    wait = cfg["backoff_initial"] * 2 ** attempt * random.uniform(0.5, 1.0)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return min(wait, cfg["backoff_max"])


def _retry_after(err):
    try:
        return float(err.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None


def ask_one(client, cfg, question, key):
    """One chat completion, retrying transient faults; returns it and the HTTP requests sent."""
    for attempt in range(cfg["max_retries"] + 1):
        retry_after = None
        try:
            response = client.chat.completions.create(
                model=cfg["model"], messages=[{"role": "user", "content": question}],
                temperature=cfg["temperature"], max_tokens=cfg["max_tokens"])
            return response, attempt + 1
        except (openai.RateLimitError, openai.InternalServerError) as err:
            fault, retry_after = f"HTTP {err.status_code}", _retry_after(err)
        except openai.APITimeoutError:
            fault = f"no answer within judge.timeout={cfg['timeout']} s"
        except openai.APIConnectionError as err:
            fault = f"connection error ({err.__cause__ or err})"
        except openai.APIStatusError as err:
            if err.status_code not in (408, 409):  # 400, 401, 404...: asking again will not help
                detail = err.body.get("message") if isinstance(err.body, dict) else err.message
                raise EndpointError(_redact(f"judge endpoint {client.base_url} refused the request: HTTP "
                                            f"{err.status_code} ({detail})", key)) from None
            fault = f"HTTP {err.status_code}"
        if attempt < cfg["max_retries"]:
            time.sleep(backoff(attempt, cfg, retry_after))
    raise EndpointError(_redact(f"judge endpoint {client.base_url}: {fault}, still failing after "
                                f"judge.max_retries={cfg['max_retries']} retries; answers so far are "
                                "cached, rerun to resume", key))


def _redact(message, key):
    return message.replace(key, "***") if key else message


def ask(questions, cfg, desc=None):
    """Answers to `questions` (texts) in order, and the ledger counts of this call."""
    db = connect(cfg["cache"])
    keys = [cache_key(cfg, q) for q in questions]
    answers = {k: lookup(db, k) for k in set(keys)}
    todo = {k: q for k, q in zip(keys, questions, strict=True) if answers[k] is None}
    counts = {"questions": len(questions), "requests": 0, "retries": 0, "tokens_in": 0, "tokens_out": 0,
              "cache_hits": sum(answers[k] is not None for k in keys)}
    if todo:
        _fetch(todo, answers, counts, db, cfg, desc)
    db.close()
    return [answers[k] for k in keys], counts


def _fetch(todo, answers, counts, db, cfg, desc):
    key = api_key(cfg)  # before any request: a missing key costs nothing
    client = openai.OpenAI(base_url=cfg["base_url"], api_key=key, timeout=cfg["timeout"],
                           max_retries=0)  # our retries are the ones counted and capped
    failed = threading.Event()

    def work(question):
        if failed.is_set():  # another question failed for good: ask nothing more
            return None
        try:
            return ask_one(client, cfg, question, key)
        except Exception:
            failed.set()  # set before this future completes, so no queued question slips through
            raise

    error = None
    with ThreadPoolExecutor(cfg["concurrency"]) as pool:
        futures = {pool.submit(work, q): k for k, q in todo.items()}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="q"):
            if future.exception() is not None:
                error = error or future.exception()
                continue
            if future.result() is None:  # skipped after another question failed; those in flight are kept
                continue
            response, sent = future.result()
            k = futures[future]
            answer = response.choices[0].message.content if response.choices else None
            usage = response.usage
            tokens_in, tokens_out = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
            answers[k] = answer or ""
            store(db, k, todo[k], answers[k], tokens_in, tokens_out, response.model_dump_json())
            counts["requests"] += sent
            counts["retries"] += sent - 1
            counts["tokens_in"] += tokens_in
            counts["tokens_out"] += tokens_out
    if error is not None:
        raise error

