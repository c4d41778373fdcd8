"""The CPU image, built here from containers/more-cpu.def, runs the pipeline exactly as the host does.

Apptainer cannot be installed on these machines; Podman builds the definition instead, step by step as
Apptainer's build does (containers/podman.py: the debootstrap base, then %files, %post and %test
parsed from the file). Inside the image the smoke world is built again, and Table 2, the claims and
the data files must equal the host's smoke build (the session's smoke_run) byte for byte. Then one
job runs as `snakemake --sdm apptainer` runs it: Snakemake composes the `apptainer exec` command in
its own code, and a stand-in named `apptainer` runs that command in Podman.

The images are kept on the machine, tagged by a hash of everything that goes into them (base,
definition, copied files): a second run reuses them; CI starts without any and builds both.
"""

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from packaging.specifiers import SpecifierSet

from containers import podman
from tests.test_containers import PYPROJECT, constraints
from tests.workflow_run import DEFAULT, SMOKE

REPO = Path(__file__).resolve().parents[1]
DEFINITION = REPO / "containers" / "more-cpu.def"
# What the inside run builds and compares: Table 2, the claims, and (with them) every data file.
TARGETS = ["results/table2.csv", "results/claims.csv", "data"]

pytestmark = pytest.mark.container


def local_cpu_torch():
    """The torch wheel this machine's pip takes for the project's pin, when it is a CPU build on disk.
    The development machines have one and cannot reach PyTorch's CPU index (the definition's default)."""
    report = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "--ignore-installed",
         "--report", "-", f"torch=={constraints()['torch']}"], capture_output=True, text=True, check=True)
    (torch,) = json.loads(report.stdout)["install"]
    url = torch["download_info"]["url"]
    if url.startswith("file://") and torch["metadata"]["version"].endswith("+cpu"):
        return Path(unquote(urlparse(url).path))
    return None


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0 or not all(map(shutil.which, ("podman", "runc", "debootstrap"))):
        pytest.skip("building images needs root, podman, runc and debootstrap (make test installs them)")
    build_args, binds = {}, []
    if wheel := local_cpu_torch():
        build_args["TORCH_SOURCE"] = "--find-links /tmp/wheels"
        binds.append((str(wheel), f"/tmp/wheels/{wheel.name}"))
    # This machine reaches PyPI through a TLS-intercepting proxy whose certificate authority only the
    # host's trust store holds; pip in the build uses that store (elsewhere it is just the public CAs).
    trust = ssl.get_default_verify_paths().cafile
    binds.append((trust, "/tmp/host-ca.crt"))
    return podman.build(DEFINITION, build_args, binds, env={"PIP_CERT": "/tmp/host-ca.crt"}, context=REPO)


def in_image(image, *command):
    return subprocess.run(podman.apptainer_exec(image, list(command)), capture_output=True, text=True, check=True).stdout


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_has_the_projects_python_and_the_cpu_build_of_torch(image):
    versions = in_image(image, "python", "-c", "import sys, torch; print(sys.version.split()[0], torch.__version__)")
    python, torch = versions.split()
    print(f"{image}: Python {python}, torch {torch}")
    assert python in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert torch == f"{constraints()['torch']}+cpu"


def test_smoke_world_inside_the_image_equals_the_host_build_byte_for_byte(image, smoke_run, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # The very copy of the working tree (workflow, scripts, more_lib, config) that the host build ran,
    # read-only at its own path: the working tree itself may change during a session. Results go to a
    # folder of their own, as outside.
    tree, configs = smoke_run.repo, [str(smoke_run.repo / "config" / path.name) for path in (DEFAULT, SMOKE)]
    command = podman.apptainer_exec(image, [
        "python", "-m", "snakemake", "--snakefile", str(tree / "workflow" / "Snakefile"), "--directory", str(work),
        "--cores", "2", *TARGETS, "--configfile", *configs], home=str(work), binds=[f"{tree}:{tree}:ro"])
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    inside, outside = work / "results", smoke_run.workdir / "results"
    data = sorted(p.relative_to(inside) for p in (inside / "data").rglob("*") if p.is_file())
    assert data == sorted(p.relative_to(outside) for p in (outside / "data").rglob("*") if p.is_file())
    for name in [Path("table2.csv"), Path("claims.csv"), *data]:
        digest = sha256(inside / name)
        print(f"{digest}  results/{name}")
        assert digest == sha256(outside / name), f"results/{name} differs inside the image"


def test_a_job_runs_in_the_image_as_snakemake_sdm_apptainer_composes_it(image, smoke_run, tmp_path):
    """Snakemake builds each job's command for Apptainer in snakemake/deployment/singularity.py
    (shellcmd, called from snakemake/shell.py): `apptainer exec --home <working directory>
    [--bind <its storage and source-cache folders>] <--apptainer-args, e.g. --nv> IMAGE bash -c '<the
    rule's command>'`, and runs it with its own environment, which Apptainer passes into the
    container. The stand-in runs exactly that command in Podman (containers/podman.py, apptainer_exec)."""
    # A checkout of the code the host's smoke build ran, which the job's outputs are compared with.
    checkout = tmp_path / "checkout"
    for part in ("workflow", "scripts", "more_lib", "config"):
        shutil.copytree(smoke_run.repo / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    # Which more_lib the job imports: the checkout's (first on PYTHONPATH, workflow/rules/common.smk)
    # leaves this mark in the working directory; the copy installed in the image would not.
    with (checkout / "more_lib" / "data" / "prepare.py").open("a") as module:
        module.write('\nimport sys  # noqa: E402\n'
                     'open("more_lib_origin", "w").write(f"{__name__} from {__file__} in {sys.prefix}")\n')
    stand_in = tmp_path / "bin" / "apptainer"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\nexec {sys.executable} {REPO / "containers" / "podman.py"} apptainer "$@"\n')
    stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{stand_in.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    outputs = ["results/data/helpful/train.jsonl", "results/data/helpful/test.jsonl", "results/data/helpful/prepare.json"]
    # As a user types it in the checkout; only the image is named, as the config names a .sif.
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *outputs, "--sdm", "apptainer", "--cores", "1",
         "--configfile", "config/config.yaml", "config/smoke.yaml", "--config", f"container={image}"],
        check=False, cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    composed = [line for line in output.splitlines() if "apptainer stand-in:" in line or line.startswith("  -> ")]
    print("\n".join(composed))
    assert f"exec --home {checkout} " in composed[0] and f" {image} bash -c " in composed[0]
    origin = (checkout / "more_lib_origin").read_text()
    print(origin)
    assert origin == f"more_lib.data.prepare from {checkout}/more_lib/data/prepare.py in /usr/local"
    for name in outputs:
        assert sha256(checkout / name) == sha256(smoke_run.workdir / name), f"{name} differs inside the image"
