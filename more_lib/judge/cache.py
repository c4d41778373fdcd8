"""The judge's SQLite answer cache, ledger and claims (more_lib.judge.api asks through it).

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

import hashlib
import os
import random
import socket
import sqlite3
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path

KEY_COLUMNS = "model, temperature, max_tokens, prompt_sha256"
KEY_MATCH = "model=? AND temperature=? AND max_tokens=? AND prompt_sha256=?"
CLAIM_LEASE_S = 60.0  # a claim not refreshed for this long belongs to a dead job (on any host)
HEARTBEAT_S = CLAIM_LEASE_S / 4
POLL_S = 0.2  # how often a job waiting for another job's answer looks again
HOST = socket.gethostname()
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


def heartbeat(path, owner, stop):
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
