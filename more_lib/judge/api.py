"""Ask an OpenAI-compatible chat endpoint a list of questions, through an SQLite answer cache that
is also the exact ledger of every request and the place where jobs claim questions (more_lib.judge.cache).

Config keys (the `judge` block with `kind: openai`; see more_lib.judge.pairs for the whole block):

  model            chat model name (paper: gpt-4)
  base_url         endpoint, e.g. http://host:8000/v1; null means OPENAI_BASE_URL or api.openai.com
  api_key_env      NAME of the environment variable holding the key (the key itself is never in a
                   config, log or artifact: every answer, response body and fault is stored with the
                   key and any bearer token replaced by ***, so an endpoint echoing the
                   Authorization header leaks nothing)
  temperature      sampling temperature (0)
  max_tokens       answer length cap
  concurrency      requests in flight at once (threads)
  timeout          seconds one request may take in all (connecting, sending, the whole answer);
                   past it the request is cancelled and counts as timed out
  max_retries      retries of one question after a 429, 5xx, timeout, connection error or a
                   malformed response body
  backoff_initial  seconds before the first retry; doubles each retry, with jitter
  backoff_max      cap of one wait (also caps a server's Retry-After)
  cache            SQLite file shared by all judge processes (tables below): a path under results/
                   unless `cache_outside_results: true` (more_lib.judge.pairs.check_cache)
"""

import asyncio
import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import SimpleNamespace

import openai
from tqdm import tqdm

from more_lib.core.errors import ConfigError
from more_lib.judge import cache as judge_cache

# "Bearer <token>" as an Authorization header has it; the token needs a digit and 16 characters, so
# that prose ("the bearer of bad news") is left alone
BEARER = re.compile(r"(?i)\b(bearer\s+)(?=[^\s\"']*\d)[A-Za-z0-9._~+/=-]{16,}")


class EndpointError(ConfigError):
    """The endpoint refused a request, or still failed after `judge.max_retries` retries."""


class _Transient(Exception):
    """A fault worth asking again: its description and the server's Retry-After, if any."""

    def __init__(self, fault, retry_after=None):
        super().__init__(fault)
        self.fault, self.retry_after = fault, retry_after



# --- asking -------------------------------------------------------------------------------------

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


def redact(text, key):
    """`text` with the API key and any bearer token replaced by ***: what an endpoint or a proxy
    sends back (an echoed Authorization header) is stored in the cache and the judgments, which are
    shared."""
    if key:
        text = text.replace(key, "***")
    return BEARER.sub(r"\1***", text)


async def _create(client, cfg, question):
    # httpx's timeout bounds each network operation, not the request: a server that trickles its
    # answer a byte at a time never lets one read time out. asyncio cancels the whole request at the
    # deadline and closes its connection, which no timeout of the sync client can do
    # (encode/httpx#776, #1450).
    async with asyncio.timeout(cfg["timeout"]):
        return await client.chat.completions.create(
            model=cfg["model"], messages=[{"role": "user", "content": question}],
            temperature=cfg["temperature"], max_tokens=cfg["max_tokens"])


def _send(client, loop, cfg, question):
    """One chat completion, on this worker's event loop: (answer text, tokens in, tokens out,
    response JSON), redacted. Raises _Transient for what asking again may cure, EndpointError for a
    refusal."""
    try:
        response = loop.run_until_complete(_create(client, cfg, question))
    except (openai.RateLimitError, openai.InternalServerError) as err:
        raise _Transient(f"HTTP {err.status_code}", _retry_after(err)) from None
    except (TimeoutError, openai.APITimeoutError):
        raise _Transient(f"no answer within judge.timeout={cfg['timeout']} s") from None
    except openai.APIConnectionError as err:
        raise _Transient(redact(f"connection error ({err.__cause__ or err})", client.api_key)) from None
    except openai.APIStatusError as err:
        if err.status_code in (408, 409):
            raise _Transient(f"HTTP {err.status_code}") from None
        detail = err.body.get("message") if isinstance(err.body, dict) else err.message
        # 400, 401, 404...: asking again will not help
        raise EndpointError(redact(f"judge endpoint {client.base_url} refused the request: HTTP "
                                   f"{err.status_code} ({detail})", client.api_key)) from None
    except (json.JSONDecodeError, openai.APIResponseValidationError):
        raise _Transient("HTTP 200 with a body that is not JSON") from None
    choices = getattr(response, "choices", None)
    message = getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
    if message is None:  # a str (non-JSON content type) or JSON without a chat completion's choices
        raise _Transient("HTTP 200 with a body that is not a chat completion")
    usage = getattr(response, "usage", None)
    tokens = (usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else (0, 0)
    # an empty or null answer (a refusal, a content filter) is an answer: stored, judged invalid
    return (redact(message.content or "", client.api_key), *tokens,
            redact(response.model_dump_json(), client.api_key))


def ask_one(client, loop, cfg, question, key, db, account, where):
    """Ask one question, retrying transient faults; every request is in the ledger before it is sent.
    Returns (answer, tokens in, tokens out, response JSON) and the id of the request that got it."""
    for attempt in range(cfg["max_retries"] + 1):
        request_id = judge_cache.record_sent(db, account, key, attempt)
        try:
            return _send(client, loop, cfg, question), request_id
        except _Transient as fault:
            judge_cache.record_fault(db, request_id, fault.fault)
            if attempt < cfg["max_retries"]:
                time.sleep(backoff(attempt, cfg, fault.retry_after))
            last = fault.fault
        except Exception as err:
            judge_cache.record_fault(db, request_id, type(err).__name__)
            raise
    raise EndpointError(f"judge {where}: endpoint {client.base_url}: {last}, still failing after "
                        f"judge.max_retries={cfg['max_retries']} retries; answers so far are cached, "
                        "rerun to resume")


def ask(questions, cfg, account, where=None):
    """Answers to `questions` (texts) in order, and the ledger counts of `account` for them.
    `where[i]` names question i in an error (default: its position)."""
    db = judge_cache.connect(cfg["cache"])
    keys = [judge_cache.cache_key(cfg, q) for q in questions]
    answers = {k: judge_cache.lookup(db, k) for k in set(keys)}
    todo = {}
    for i, (k, q) in enumerate(zip(keys, questions, strict=True)):
        if answers[k] is None and k not in todo:
            todo[k] = (q, f"{account}, {where[i] if where else f'question {i}'}")
    if todo:
        _fetch(todo, answers, cfg, account)
    counts = judge_cache.ledger_counts(db, account, keys)
    db.close()
    return [answers[k] for k in keys], counts


def _fetch(todo, answers, cfg, account):
    secret = api_key(cfg)  # a missing key costs nothing: checked before any question is claimed
    owner, failed, stop = judge_cache.new_owner(), threading.Event(), threading.Event()
    local, workers = threading.local(), []

    def work(key):
        if failed.is_set():  # another question failed for good: ask nothing more
            return None
        if not hasattr(local, "own"):  # per worker thread: a cache connection, an event loop, its client
            client = openai.AsyncOpenAI(base_url=cfg["base_url"], api_key=secret, timeout=cfg["timeout"],
                                        max_retries=0)  # our retries are the ones counted and capped
            local.own = SimpleNamespace(db=judge_cache.connect(cfg["cache"]), loop=asyncio.new_event_loop(), client=client)
            workers.append(local.own)
        db = local.own.db
        question, where = todo[key]
        while (state := judge_cache.claim(db, key, owner))[0] == "wait":  # another job is asking it: wait for its answer
            if failed.is_set():
                return None
            time.sleep(random.uniform(0.5, 1.5) * judge_cache.POLL_S)
        if state[0] == "answered":
            return state[1]
        try:
            own = local.own
            answer, request_id = ask_one(own.client, own.loop, cfg, question, key, db, account, where)
        except Exception:
            failed.set()  # set before this future completes, so no queued question slips through
            judge_cache.release(db, key, owner)
            raise
        judge_cache.store(db, key, question, answer, request_id, owner)
        return answer[0]

    heartbeat = threading.Thread(target=judge_cache.heartbeat, args=(cfg["cache"], owner, stop), daemon=True)
    heartbeat.start()
    error = None
    try:
        with ThreadPoolExecutor(cfg["concurrency"]) as pool:
            futures = {pool.submit(work, k): k for k in todo}
            for future in tqdm(as_completed(futures), total=len(futures), desc=account, unit="q"):
                if future.exception() is not None:
                    error = error or future.exception()
                elif future.result() is not None:  # None: skipped after another question failed
                    answers[futures[future]] = future.result()
    finally:
        stop.set()
        for own in workers:  # the pool has ended: no loop is running
            own.db.close()
            own.loop.run_until_complete(own.client.close())
            own.loop.close()
    if error is not None:
        raise error
