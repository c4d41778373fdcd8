"""Named random streams: one seed in the config, an independent stream per use."""

import zlib

import numpy as np


def rng_for(seed, *names):
    """A numpy Generator for `seed` and a path of names; stable across runs and machines
    (crc32, not Python's salted hash())."""
    return np.random.default_rng([seed, *(zlib.crc32(str(n).encode()) for n in names)])
