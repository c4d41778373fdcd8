"""Shared test set-up: no test may touch a hub, and Hugging Face caches stay in a temp folder.

Set at import time, before any test module imports `datasets` (which reads them once), and
inherited by the Snakemake subprocesses the workflow tests start."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="more-tests-hf-")
