"""What every script shares: user errors end the program with one clear line, no traceback."""

import os
import sys

from more_lib.core.errors import ConfigError, DataError


def run(main):
    try:
        main()
    except (DataError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    _close_distributed()


def _close_distributed():
    """A rank that exits with its process group open can abort in gloo's threads ("terminate called
    without an active exception", SIGABRT after a finished run): close it once every rank is done."""
    dist = sys.modules.get("torch.distributed")  # never imported here for a script that does not use it
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        # Even closed, gloo's threads can still abort the interpreter's teardown ("terminate called
        # without an active exception", seen on a Llama ZeRO-3 job after its model was written):
        # the work is done and flushed, so the rank leaves without running C++ destructors.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
