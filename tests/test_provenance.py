"""Provenance follows the data (workflow/rules/provenance.smk): a change to a setting or a file that
decides an artifact rebuilds it and everything downstream of it, whether or not the artifacts between
are still on disk and whether or not Snakemake's records (.snakemake/) are there.

One tiny world (two sources, one base) is built to Table 2 once, from a copy of the repository's code
(an edit elsewhere must not rebuild it); each test works on a copy of the built world. Its base asks
for a GPU, so its training jobs are GPU jobs, which read a ZeRO config (no GPU is visible here: they
run the plain loop on the CPU).
"""

import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from tests.test_incremental import changed, scheduled
from tests.tiny_world import tiny_world
from tests.workflow_run import REPO, snakemake

pytestmark = pytest.mark.slow

BASE = "tiny-s"
TARGET = "results/table2.csv"
SCHEMES = ["raw", "single-helpful", "single-harmless", "multitask-all", "more-all"]
EVALUATION = {f"evaluate_rm {BASE}", "table2"}


class World(NamedTuple):
    root: Path  # the code copy (repo/), the ZeRO configs (zero-rm.json, zero-lm.json), the built world (work/)
    config: dict


def run(world, workdir, config, *args):
    """Snakemake's output for Table 2 (or `args`) under `config`, with no GPU visible."""
    path = workdir.parent / f"{workdir.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return snakemake(workdir, *(args or [TARGET]), f"--configfile={path}", env={"CUDA_VISIBLE_DEVICES": ""},
                     repo=world.root / "repo")[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance")
    for part in ("workflow", "scripts", "more_lib", "config"):
        shutil.copytree(REPO / part, root / "repo" / part, ignore=shutil.ignore_patterns("__pycache__"))
    config = tiny_world(["helpful", "harmless"], [BASE])
    for name, block in (("rm", config["reward"]), ("lm", config["alignment"]["train"])):
        shutil.copy(root / "repo" / "config" / "deepspeed" / "zero2.json", root / f"zero-{name}.json")
        block["deepspeed"] = str(root / f"zero-{name}.json")
    config["bases"][BASE]["resources"] = {"gpus": 1}
    world = World(root, config)
    run(world, root / "work", config)
    return world


def copy(world, tmp_path, records=True):
    """A copy of the built world (timestamps kept), with Snakemake's records or only results/."""
    records = None if records else shutil.ignore_patterns(".snakemake")
    shutil.copytree(world.root / "work", tmp_path / "work", ignore=records)
    return tmp_path / "work"


def test_a_setting_reaches_its_artifact_through_an_intermediate_that_is_gone(built, tmp_path):
    """MORE's α changes; its RM is rebuilt under the new value, then removed (as a failed retrain
    removes it). Table 2 reads MORE's scores, which were made from the RM of the old α: they are
    rebuilt with the RM, although nothing they or Table 2 read changed itself."""
    workdir = copy(built, tmp_path)
    config = changed(built.config, "reward", "more", "alpha", value=0.5)
    assert scheduled(run(built, workdir, config, f"results/rm/{BASE}/more-all")) == {f"train_rm {BASE}/more-all"}
    shutil.rmtree(workdir / "results" / "rm" / BASE / "more-all")
    assert scheduled(run(built, workdir, config)) == {f"train_rm {BASE}/more-all", f"score_rm {BASE}/more-all",
                                                      *EVALUATION}
    assert "Nothing to be done" in run(built, workdir, config, TARGET, "-n")


def test_results_copied_without_snakemakes_records_rebuild_what_a_change_decides(built, tmp_path):
    workdir = copy(built, tmp_path, records=False)
    assert "Nothing to be done" in run(built, workdir, built.config, TARGET, "-n")
    n = built.config["resample"]["n"] + 5
    trained = [scheme for scheme in SCHEMES if scheme != "raw"]  # raw trains on no pairs
    assert scheduled(run(built, workdir, changed(built.config, "resample", "n", value=n), TARGET, "-n")) == {
        f"resample_source helpful/{n}", f"resample_source harmless/{n}", *(f"train_rm {BASE}/{s}" for s in trained),
        *(f"score_rm {BASE}/{s}" for s in trained), *EVALUATION}
    # a dry run leaves no trace: the world is still up to date under its own config
    assert "Nothing to be done" in run(built, workdir, built.config, TARGET, "-n")
    tie_credit = changed(built.config, "evaluation", "tie_credit", value=0.5)
    assert scheduled(run(built, workdir, tie_credit)) == EVALUATION
    assert "Nothing to be done" in run(built, workdir, tie_credit, TARGET, "-n")


RMS = {*(f"train_rm {BASE}/{s}" for s in SCHEMES), *(f"score_rm {BASE}/{s}" for s in SCHEMES), *EVALUATION}


@pytest.mark.parametrize("zero, retrained", [("rm", RMS), ("lm", {f"pretrain_base {BASE}", *RMS})])
def test_an_edited_zero_config_retrains_the_gpu_jobs_that_read_it(built, tmp_path, zero, retrained):
    workdir = copy(built, tmp_path)
    path = built.root / f"zero-{zero}.json"
    text, stat = path.read_text(), path.stat()
    try:
        path.write_text(json.dumps({**json.loads(text), "gradient_clipping": 0.5}))
        assert scheduled(run(built, workdir, built.config, TARGET, "-n")) == retrained
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_edited_file_of_a_model_folder_of_ones_own_retrains_the_rms_on_it(built, tmp_path):
    """A base read from a folder of the user's own (here a copy of the world's pre-trained LM): its
    files are inputs of the RMs trained on it, whatever their size."""
    workdir = copy(built, tmp_path)
    folder = tmp_path / "my-lm"
    shutil.copytree(workdir / "results" / "lm" / BASE, folder)
    config = changed(built.config, "bases", "mine", value={"pretrained": str(folder)})
    assert scheduled(run(built, workdir, config, "results/rm/mine/raw")) == {"train_rm mine/raw"}
    model_config = folder / "config.json"
    model_config.write_text(json.dumps(json.loads(model_config.read_text()), indent=4))
    assert scheduled(run(built, workdir, config, "results/rm/mine/raw", "-n")) == {"train_rm mine/raw"}
