"""Atomic file writing: a crashed job never leaves a half-written artifact behind."""

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from more_lib.errors import DataError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; artifacts are shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(obj, path):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(obj, path):
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# a JSON escape of a UTF-16 surrogate: fine in a pair (an emoji), no text on its own
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _texts(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def _lone_surrogate(node):
    # json.loads joins a valid pair into one character, so any surrogate left in a string is alone
    return any(0xD800 <= ord(c) <= 0xDFFF for text in _texts(node) for c in text)


def read_jsonl(path):
    """(line number, object) of each non-blank line of a JSON-lines file. Malformed JSON, bytes that
    are not UTF-8 and a lone surrogate escape ("\\ud800", which no UTF-8 file can hold) are DataErrors
    naming the file and line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid UTF-8 (byte 0x{raw[err.start]:02x} at byte "
                                f"{err.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: malformed JSON ({err.msg})") from None
            if _SURROGATE_ESCAPE.search(line) and _lone_surrogate(record):
                raise DataError(f"{path}:{lineno}: a lone surrogate escape (\\ud800-\\udfff without its pair) "
                                "is no text")
            yield lineno, record


def read_json(path):
    return json.loads(Path(path).read_text())


@contextlib.contextmanager
def atomic_dir(path, keep=()):
    """Like atomic_path, for a folder (a Hugging Face checkpoint or tokenizer). The entries of the
    old folder named in `keep` (a training run's live log) move into the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        for name in keep:
            if (path / name).exists():
                os.replace(path / name, tmp / name)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
