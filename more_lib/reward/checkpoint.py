"""Checkpoint fingerprints: a run resumes a checkpoint only if everything that decides its result is
the same as when the checkpoint was made.

A fingerprint is a JSON object: the run's arguments (training block, seed, scheme, model spec), the
sha256 of every input file or folder (training data, tokenizer, initial weights), the sha256 of the
code that trains (the entry script and every more_lib module it has loaded), the library versions,
the device kind and the number of ranks. It is written beside the checkpoint when a run starts from scratch; a
later run whose fingerprint differs in any part discards the checkpoint and says which parts.
"""

import hashlib
import json
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

from more_lib.core import device, io
from more_lib.core.errors import DataError

FILE = "fingerprint.json"
LIBRARIES = ("torch", "transformers", "deepspeed", "numpy", "tokenizers")


def file_hash(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path):
    """sha256 of a file, or of a folder's relative file names and contents."""
    path = Path(path)
    if path.is_file():
        return file_hash(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}\0{file_hash(item)}\0".encode())
    return digest.hexdigest()


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def code_files():
    """The entry script and every more_lib module this process has loaded: the code that trains."""
    files = {"script": sys.modules["__main__"].__file__}
    files |= {name: module.__file__ for name, module in sys.modules.items()
              if name.split(".")[0] == "more_lib" and getattr(module, "__file__", None)}
    return files


def fingerprint(settings, inputs):
    """The fingerprint of a run: `settings` (JSON-able: everything decisive given on the command
    line, hub ids included) and `inputs` (local files and folders, by content)."""
    return json.loads(json.dumps({
        "arguments": settings,
        "inputs": {str(p): content_hash(p) for p in inputs},
        "code": {name: file_hash(path) for name, path in sorted(code_files().items())},
        "versions": {name: _version(name) for name in LIBRARIES},
        "device": device.job_device().type,
        "ranks": int(os.environ.get("WORLD_SIZE", "1")),
    }, sort_keys=True))


NOT_DECISIVE = ("output", "checkpoint_dir", "threads", "max_steps")


def _parsed(value):
    """A command-line value as JSON-able data: JSON objects parsed (so a change names its key)."""
    if isinstance(value, list):
        return [_parsed(v) for v in value]
    if isinstance(value, str) and value.startswith("{"):
        return json.loads(value)
    return str(value) if isinstance(value, Path) else value


def _strings(node):
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def of_arguments(args):
    """The fingerprint of a training script's run from its parsed arguments: every argument but
    NOT_DECISIVE ones is a setting, and every value naming a local file or folder (data, tokenizer,
    initial weights, a ZeRO config) is an input whose content counts."""
    settings = {key: _parsed(value) for key, value in sorted(vars(args).items()) if key not in NOT_DECISIVE}
    return fingerprint(settings, sorted({s for s in _strings(settings) if s and Path(s).exists()}))


def _flat(node, prefix=""):
    if isinstance(node, dict) and node:
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def differences(saved, current, most=5):
    """Why a checkpoint made under `saved` may not be resumed by `current` (None when it may)."""
    if saved is None:
        return f"it has no {FILE}"
    old, new = _flat(saved), _flat(current)
    changed = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        if key.split(".")[0] in ("inputs", "code"):  # content hashes: say what changed, not the hashes
            changed.append(f"{key} {'added' if key not in old else 'removed' if key not in new else 'changed'}")
        else:
            changed.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    if not changed:
        return None
    more = f" and {len(changed) - most} more" if len(changed) > most else ""
    return "; ".join(changed[:most]) + more


def resumable(checkpoint_dir, current, has_state):
    """(may the checkpoint be resumed, why not) for a run whose fingerprint is `current`; `has_state`:
    the folder holds a checkpoint. Why is None when there is nothing to resume."""
    if not has_state:
        return False, None
    saved = Path(checkpoint_dir) / FILE
    try:
        made = io.read_json(saved) if saved.exists() else None
    except DataError as err:  # cut short by a kill or a full disk: what made the checkpoint is unknown
        return False, str(err)
    why = differences(made, current)
    return why is None, why and f"made by a different run: {why}"


class Unreadable(Exception):
    """A checkpoint file that does not load (cut short by a kill or a full disk, or garbled)."""


def load(path, **options):
    """torch.load(path, **options); a file that does not load is Unreadable, naming it."""
    import pickle

    import torch

    try:
        return torch.load(path, **options)
    # a cut zip archive is a RuntimeError ("failed finding central directory"), a cut pickle an EOFError
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise Unreadable(f"{path} does not load ({io.reason(err)})") from None


def start_afresh(checkpoint_dir, current):
    """Empty the checkpoint folder and record the fingerprint of the run that will fill it."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    io.write_json(current, Path(checkpoint_dir) / FILE)
