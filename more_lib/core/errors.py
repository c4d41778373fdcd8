"""Errors a user can act on: they name the file and line or the config key at fault."""


class DataError(ValueError):
    """Bad input data: the message names the file (or dataset split) and the line (or row)."""


class ConfigError(ValueError):
    """Bad configuration: the message names the config key."""
