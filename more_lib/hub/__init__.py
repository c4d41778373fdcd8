"""The hub stage: which hub repositories a config names, fetching them at pinned revisions, the lock."""
