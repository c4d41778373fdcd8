"""Ask an OpenAI-compatible chat endpoint a list of questions, through an SQLite answer cache that
is also the exact ledger of every request and the place where jobs claim questions.

Config keys (the `judge` block with `kind: openai`; see more_lib.judge for the whole block):

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
                   unless `cache_outside_results: true` (more_lib.judge.check_cache)

The database (`cache`):

  answers   one row per question ever answered, keyed by (model, temperature, max_tokens, sha256 of
            the prompt): reruns, resumed runs and other comparisons read it and never ask again.
  requests  one row per HTTP request, written and committed before the request is sent and updated
            when it is answered or fails, under the `account` (comparison and task) that sent it:
            the ledger, exact whatever happens to the job (failure, crash, SIGKILL).
  claims    a question being asked right now, by which job: a job claims a question before sending
            it and others wait for its answer. A claim whose job is dead (same host: its process is
            gone; any host: no heartbeat for CLAIM_LEASE_S) is taken over.
"""

import asyncio
import hashlib
import json
import os
import random
import re
import socket
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing, contextmanager
from pathlib import Path
from types import SimpleNamespace

import openai
from tqdm import tqdm

from more_lib.errors import ConfigError

KEY_COLUMNS = "model, temperature, max_tokens, prompt_sha256"
KEY_MATCH = "model=? AND temperature=? AND max_tokens=? AND prompt_sha256=?"
CLAIM_LEASE_S = 60.0  # a claim not refreshed for this long belongs to a dead job (on any host)
HEARTBEAT_S = CLAIM_LEASE_S / 4
POLL_S = 0.2  # how often a job waiting for another job's answer looks again
HOST = socket.gethostname()
# "Bearer <token>" as an Authorization header has it; the token needs a digit and 16 characters, so
# that prose ("the bearer of bad news") is left alone
BEARER = re.compile(r"(?i)\b(bearer\s+)(?=[^\s\"']*\d)[A-Za-z0-9._~+/=-]{16,}")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS answers (
    model TEXT, temperature REAL, max_tokens INTEGER, prompt_sha256 TEXT, prompt TEXT, answer TEXT,
    tokens_in INTEGER, tokens_out INTEGER, response TEXT, created REAL, PRIMARY KEY ({KEY_COLUMNS}));
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, account TEXT, model TEXT, temperature REAL, max_tokens INTEGER, prompt_sha256 TEXT,
    attempt INTEGER, sent REAL, outcome TEXT, tokens_in INTEGER, tokens_out INTEGER, finished REAL);
CREATE INDEX IF NOT EXISTS requests_by_account ON requests (account);
CREATE TABLE IF NOT EXISTS claims (
    model TEXT, temperature REAL, max_tokens INTEGER, prompt_sha256 TEXT, owner TEXT, host TEXT, pid INTEGER,
    expires REAL, PRIMARY KEY ({KEY_COLUMNS}));
"""


class EndpointError(ConfigError):
    """The endpoint refused a request, or still failed after `judge.max_retries` retries."""


class _Transient(Exception):
    """A fault worth asking again: its description and the server's Retry-After, if any."""

    def __init__(self, fault, retry_after=None):
        super().__init__(fault)
        self.fault, self.retry_after = fault, retry_after


def connect(path, wait_s=60):
    """An autocommit connection to the cache (transactions are explicit), its tables created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _open_cache(path, wait_s)
        except sqlite3.OperationalError as error:
            # Judge jobs that open a new cache at the same moment race to turn on WAL and create the tables,
            # and SQLite answers the loser "locked" at once instead of waiting out the busy timeout.
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.05, 0.25))


def _open_cache(path, wait_s):
    # WAL lets several judge processes read while one writes; the busy timeout makes writers queue
    db = sqlite3.connect(path, timeout=wait_s, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        with transaction(db):
            for statement in SCHEMA.split(";"):
                db.execute(statement)
    except sqlite3.OperationalError:
        db.close()
        raise
    return db


@contextmanager
def transaction(db):
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock first, so a check and the write it decides
    (is the question claimed? then claim it) are one step for every process."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def cache_key(cfg, question):
    return (cfg["model"], float(cfg["temperature"]), int(cfg["max_tokens"]),
            hashlib.sha256(question.encode("utf-8")).hexdigest())


def lookup(db, key):
    row = db.execute(f"SELECT answer FROM answers WHERE {KEY_MATCH}", key).fetchone()
    return None if row is None else row[0]


# --- claims: one job asks a question, the others wait for its answer ----------------------------

def new_owner():
    """This job's name in the claims table: host, process id and a random part (pids are reused)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def claim(db, key, owner):
    """("answered", answer) when the question is answered, ("mine", None) once this job holds its
    claim, ("wait", None) while another live job holds it. A dead job's claim is taken over."""
    with transaction(db):
        answer = lookup(db, key)
        if answer is not None:
            return "answered", answer
        held = db.execute(f"SELECT owner, host, pid, expires FROM claims WHERE {KEY_MATCH}", key).fetchone()
        if held is not None and held[0] != owner:
            holder, host, pid, expires = held
            dead = time.time() > expires or (host == HOST and not _process_alive(pid))
            if not dead:
                return "wait", None
            print(f"a claim left by the dead judge job {holder} is taken over", flush=True)
        db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (*key, owner, HOST, os.getpid(), time.time() + CLAIM_LEASE_S))
    return "mine", None


def release(db, key, owner):
    with transaction(db):
        db.execute(f"DELETE FROM claims WHERE {KEY_MATCH} AND owner=?", (*key, owner))


def _heartbeat(path, owner, stop):
    """Keep this job's claims alive for jobs on other hosts, which cannot see its process."""
    with closing(connect(path)) as db:
        while not stop.wait(HEARTBEAT_S):
            with transaction(db):
                db.execute("UPDATE claims SET expires=? WHERE owner=?", (time.time() + CLAIM_LEASE_S, owner))


# --- the ledger: every request, recorded before it is sent -------------------------------------

def record_sent(db, account, key, attempt):
    with transaction(db):
        cursor = db.execute(f"INSERT INTO requests (account, {KEY_COLUMNS}, attempt, sent) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (account, *key, attempt, time.time()))
    return cursor.lastrowid


def record_fault(db, request_id, fault):
    with transaction(db):
        db.execute("UPDATE requests SET outcome=?, finished=? WHERE id=?", (fault, time.time(), request_id))


def store(db, key, question, answer, request_id, owner):
    """The answer, the request's outcome and the end of the claim, in one transaction."""
    text, tokens_in, tokens_out, response = answer
    with transaction(db):
        # OR IGNORE: a job that took over a claim it thought dead may race its owner; keep the first answer
        db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (*key, question, text, tokens_in, tokens_out, response, time.time()))
        db.execute("UPDATE requests SET outcome='answered', tokens_in=?, tokens_out=?, finished=? WHERE id=?",
                   (tokens_in, tokens_out, time.time(), request_id))
        db.execute(f"DELETE FROM claims WHERE {KEY_MATCH} AND owner=?", (*key, owner))


def ledger_counts(db, account, keys):
    """The ledger of `account` for these questions, from the requests table alone: every request it
    ever sent for them (killed and failed runs included), its retries and tokens; a question is a
    cache hit when no request of this account answered it (another comparison or an earlier cache did)."""
    wanted = set(keys)
    rows = [r for r in db.execute(f"SELECT {KEY_COLUMNS}, attempt, outcome, tokens_in, tokens_out FROM requests "
                                  "WHERE account=?", (account,)) if tuple(r[:4]) in wanted]
    paid = {tuple(r[:4]) for r in rows if r[5] == "answered"}
    return {"questions": len(keys), "requests": len(rows), "retries": sum(r[4] > 0 for r in rows),
            "tokens_in": sum(r[6] or 0 for r in rows), "tokens_out": sum(r[7] or 0 for r in rows),
            "cache_hits": sum(k not in paid for k in keys)}


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
        request_id = record_sent(db, account, key, attempt)
        try:
            return _send(client, loop, cfg, question), request_id
        except _Transient as fault:
            record_fault(db, request_id, fault.fault)
            if attempt < cfg["max_retries"]:
                time.sleep(backoff(attempt, cfg, fault.retry_after))
            last = fault.fault
        except Exception as err:
            record_fault(db, request_id, type(err).__name__)
            raise
    raise EndpointError(f"judge {where}: endpoint {client.base_url}: {last}, still failing after "
                        f"judge.max_retries={cfg['max_retries']} retries; answers so far are cached, "
                        "rerun to resume")


def ask(questions, cfg, account, where=None):
    """Answers to `questions` (texts) in order, and the ledger counts of `account` for them.
    `where[i]` names question i in an error (default: its position)."""
    db = connect(cfg["cache"])
    keys = [cache_key(cfg, q) for q in questions]
    answers = {k: lookup(db, k) for k in set(keys)}
    todo = {}
    for i, (k, q) in enumerate(zip(keys, questions, strict=True)):
        if answers[k] is None and k not in todo:
            todo[k] = (q, f"{account}, {where[i] if where else f'question {i}'}")
    if todo:
        _fetch(todo, answers, cfg, account)
    counts = ledger_counts(db, account, keys)
    db.close()
    return [answers[k] for k in keys], counts


def _fetch(todo, answers, cfg, account):
    secret = api_key(cfg)  # a missing key costs nothing: checked before any question is claimed
    owner, failed, stop = new_owner(), threading.Event(), threading.Event()
    local, workers = threading.local(), []

    def work(key):
        if failed.is_set():  # another question failed for good: ask nothing more
            return None
        if not hasattr(local, "own"):  # per worker thread: a cache connection, an event loop, its client
            client = openai.AsyncOpenAI(base_url=cfg["base_url"], api_key=secret, timeout=cfg["timeout"],
                                        max_retries=0)  # our retries are the ones counted and capped
            local.own = SimpleNamespace(db=connect(cfg["cache"]), loop=asyncio.new_event_loop(), client=client)
            workers.append(local.own)
        db = local.own.db
        question, where = todo[key]
        while (state := claim(db, key, owner))[0] == "wait":  # another job is asking it: wait for its answer
            if failed.is_set():
                return None
            time.sleep(random.uniform(0.5, 1.5) * POLL_S)
        if state[0] == "answered":
            return state[1]
        try:
            own = local.own
            answer, request_id = ask_one(own.client, own.loop, cfg, question, key, db, account, where)
        except Exception:
            failed.set()  # set before this future completes, so no queued question slips through
            release(db, key, owner)
            raise
        store(db, key, question, answer, request_id, owner)
        return answer[0]

    heartbeat = threading.Thread(target=_heartbeat, args=(cfg["cache"], owner, stop), daemon=True)
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
