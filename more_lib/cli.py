"""What every script shares: user errors end the program with one clear line, no traceback."""

import sys

from more_lib.errors import ConfigError, DataError


def run(main):
    try:
        main()
    except (DataError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
