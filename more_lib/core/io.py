"""Atomic file writing: a crashed or terminated job never leaves a half-written artifact or a temporary
file behind, and a full disk says how much room the write needs. Bounded reading: a line, a JSON
nesting or a data path that no real input comes near is an error naming the file. (Tidy tables and
what their producers promise: more_lib.core.artifacts.)"""

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from more_lib.core.errors import DataError

# A preference record of the paper's sources is a few kB (the reward model reads 512 tokens of it); a line
# a thousand times longer is no record, and reading it whole (a file without newlines, /dev/zero) fills memory.
MAX_LINE_BYTES = 1 << 20
# Records nest three deep (record, meta, a list in meta), hub rows four; Python's parser itself fails with a
# RecursionError near a thousand.
MAX_JSON_DEPTH = 64


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _terminated(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the blocks that remove temporary files


@contextlib.contextmanager
def _terminable():
    """SIGTERM (Snakemake cancelling a job, SLURM's time limit) ends the block with an exception, so its
    cleanup runs: the signal's default action ends the process where it stands. Only the main thread may
    set a handler, and one the program set itself is left alone."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL):
        yield
        return
    signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def reason(err):
    """The first sentence of an exception's message: libraries append paragraphs of advice."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:300]


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _megabytes(size):
    return f"{size / 1e6:,.1f} MB"


def _disk_full(err, path, size):
    """The one line for a write that failed on a full disk, or None. torch.save's writer loses the errno
    ("unexpected pos"): then a disk with less room than the write's `size` is the cause."""
    free = shutil.disk_usage(path.parent).free
    if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (size is not None and free < size):
        needs = f"needs about {_megabytes(size)}, " if size is not None else ""
        return f"{path}: the disk is full: writing it {needs}{_megabytes(free)} free"
    return None


@contextlib.contextmanager
def atomic_path(path, size=None):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds. The temporary
    file goes whatever ends the block, SIGTERM included. A full disk is a DataError saying the room free and
    (given `size`, about how many bytes the block writes) the room needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _terminable():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; artifacts are shared
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        except Exception as err:
            _remove(tmp)  # first: its bytes count as free room
            full = _disk_full(err, path, size)
            if full:
                raise DataError(full) from None
            raise
        finally:
            _remove(tmp)


def write_json(obj, path):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _tensor_bytes(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.nelement() * obj.element_size()
    if isinstance(obj, dict):
        obj = list(obj.values())
    return sum(_tensor_bytes(value) for value in obj) if isinstance(obj, (list, tuple)) else 0


def atomic_torch_save(obj, path):
    import torch

    with atomic_path(path, size=_tensor_bytes(obj)) as tmp:
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


def _deeper(node, levels):
    """Whether `node` nests more than `levels` deep (a scalar nests 0 deep, [] 1)."""
    if isinstance(node, dict):
        node = list(node.values())
    return isinstance(node, list) and (levels == 0 or any(_deeper(value, levels - 1) for value in node))


def _parse(text, where):
    """The JSON value of `text`; malformed JSON and nesting deeper than MAX_JSON_DEPTH are DataErrors."""
    too_deep = DataError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels (io.MAX_JSON_DEPTH)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: malformed JSON ({err.msg})") from None
    except RecursionError:
        raise too_deep from None
    # no text nests deeper than it has brackets: the walk runs only for the rare text that might
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _deeper(value, MAX_JSON_DEPTH):
        raise too_deep
    return value


def regular_file(path):
    """`path`, if it is a regular file: a device (/dev/zero), a FIFO or a folder as a data path would be
    read forever, block, or fail deep inside a reader."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file")
    return path


def read_jsonl(path):
    """(line number, object) of each non-blank line of a JSON-lines file. Malformed JSON, bytes that
    are not UTF-8, a lone surrogate escape ("\\ud800", which no UTF-8 file can hold), a line over
    MAX_LINE_BYTES and nesting over MAX_JSON_DEPTH are DataErrors naming the file and line."""
    with open(regular_file(path), "rb") as f:
        lineno = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            lineno += 1
            if len(raw) - raw.endswith(b"\n") > MAX_LINE_BYTES:
                raise DataError(f"{path}:{lineno}: a line over {MAX_LINE_BYTES:,} bytes (io.MAX_LINE_BYTES)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid UTF-8 (byte 0x{raw[err.start]:02x} at byte "
                                f"{err.start + 1} of the line)") from None
            if not line.strip():
                continue
            record = _parse(line, f"{path}:{lineno}")
            if _SURROGATE_ESCAPE.search(line) and _lone_surrogate(record):
                raise DataError(f"{path}:{lineno}: a lone surrogate escape (\\ud800-\\udfff without its pair) "
                                "is no text")
            yield lineno, record


def read_json(path):
    """The JSON value of a file; a file that is not regular, not UTF-8, malformed or nested over
    MAX_JSON_DEPTH is a DataError naming it."""
    try:
        text = Path(regular_file(path)).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: invalid UTF-8 (byte {err.start + 1})") from None
    return _parse(text, path)


@contextlib.contextmanager
def atomic_dir(path, keep=()):
    """Like atomic_path, for a folder (a Hugging Face checkpoint or tokenizer). The entries of the
    old folder named in `keep` (a training run's live log) move into the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _terminable():
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
