"""Shared test set-up: no test may touch a hub, and Hugging Face caches stay in a temp folder.

Set at import time, before any test module imports `datasets` (which reads them once), and
inherited by the Snakemake subprocesses the workflow tests start."""

import os
import tempfile

import pytest

from tests.slurm_cluster import cluster, install, why_not
from tests.workflow_run import build_smoke

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="more-tests-hf-")


def pytest_collection_modifyitems(items):
    """A test that needs the smoke world is slow, whatever its module: building it takes minutes."""
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke world, built once for every module that reads it or dry-runs changes against it."""
    return build_smoke(tmp_path_factory.mktemp("smoke"))


@pytest.fixture(scope="module")
def partition(tmp_path_factory):
    """A real one-node SLURM cluster for a module's tests (its partition), or the skip that says why not."""
    reason = why_not()
    if reason is None:
        try:
            install(print)
        except RuntimeError as error:
            reason = str(error)
    if reason:
        print(f"SLURM test skipped: {reason}")
        pytest.skip(reason)
    with cluster(tmp_path_factory.mktemp("slurm"), log=print) as name:
        yield name
