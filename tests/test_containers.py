"""The Apptainer definitions install exactly the project's pins, from Debian's archive and PyPI.

Each containers/*.def is read as Apptainer reads it (containers/podman.py: spython's section parser,
the header, the %arguments defaults filled in) and its pip commands are checked against
constraints.txt and pyproject.toml. tests/test_container_build.py builds the CPU image.
"""

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from containers import podman

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = sorted((REPO / "containers").glob("*.def"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints():
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalize(name)] = version
    return pins


def pip_installs(path):
    """The argument lists of the definition's `pip install` commands, in order."""
    commands = []
    for line in podman.read(path).sections["post"]:
        for command in re.split(r"&&|;", line.split(" #")[0]):
            words = shlex.split(command, comments=True)
            if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                commands.append(words[words.index("install") + 1:])
    return commands


def requirements(args):
    """Requirement words of one pip command (not options, not their values, not local paths)."""
    takes_value = {"-c", "--constraint", "-r", "--requirement", "--index-url", "-i", "--extra-index-url",
                   "-f", "--find-links"}
    found, skip = [], False
    for word in args:
        if skip or word.startswith("-"):
            skip = word in takes_value
            continue
        if not word.startswith((".", "/")):
            found.append(Requirement(word))
    return found


def test_there_is_a_cpu_and_a_cuda_definition():
    assert {p.name for p in DEFINITIONS} == {"more-cpu.def", "more-cuda.def"}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_every_pin_in_a_definition_is_the_constraints_pin(path):
    pins = constraints()
    commands = pip_installs(path)
    assert commands, f"{path.name} installs nothing with pip"
    for args in commands:
        # Each command resolves under constraints.txt, so unpinned names get the project's versions.
        assert "-c" in args and args[args.index("-c") + 1] == "constraints.txt", args
        for requirement in requirements(args):
            name = normalize(requirement.name)
            assert name in pins, f"{path.name} installs {name}, which constraints.txt does not pin"
            assert str(requirement.specifier) == f"=={pins[name]}", (
                f"{path.name} pins {requirement}, constraints.txt says {name}=={pins[name]}")


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_definition_installs_the_project_torch_first_and_deepspeed_without_build_isolation(path):
    commands = pip_installs(path)
    names = [[normalize(r.name) for r in requirements(args)] for args in commands]
    assert names[0] == ["torch"], "torch first: otherwise pip may pick another build"
    project = [args for args in commands if any(word.startswith(".[") for word in args)]
    assert project and project[0][-1] == ".[dev]", "the project itself, with its dev extra (tests)"
    deepspeed = [args for args, n in zip(commands, names) if "deepspeed" in n]
    assert deepspeed and "--no-build-isolation" in deepspeed[0]
    assert commands.index(deepspeed[0]) > 0
    copied = {line.split()[0] for line in podman.read(path).entries("files")}
    # pip installs from a copy of the repository's files: the same pins, README for the metadata.
    assert {"pyproject.toml", "constraints.txt", "README.md", "more_lib"} <= copied
    for name in copied:
        assert (REPO / name).exists(), name


def test_cpu_image_takes_torch_from_the_cpu_index_and_the_cuda_image_does_not():
    cpu, cuda = (pip_installs(REPO / "containers" / name)[0] for name in ("more-cpu.def", "more-cuda.def"))
    assert "https://download.pytorch.org/whl/cpu" in cpu
    assert not any("whl/cpu" in word for word in cuda)


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_base_is_debian_from_its_archive(path):
    """No registry image: Debian's own archive, bootstrapped (bookworm's python3 is 3.11, which
    tests/test_container_build.py checks against requires-python in the built image)."""
    header = podman.read(path).header
    assert header["bootstrap"] == "debootstrap" and header["mirrorurl"] == "http://deb.debian.org/debian"
    assert header["osversion"] == "bookworm"


def test_the_cuda_definition_is_the_built_cpu_one_but_for_torch():
    """Only the CPU image is built here: every other step of the CUDA one must be the same."""
    cpu, cuda = (podman.read(REPO / "containers" / name) for name in ("more-cpu.def", "more-cuda.def"))

    def steps(definition):
        return [line for line in definition.entries("post") if "torch==" not in line]

    assert cuda.header == cpu.header and cuda.entries("files") == cpu.entries("files")
    assert steps(cuda) == steps(cpu)
    assert set(cpu.sections) - {"arguments"} == set(cuda.sections)


def test_every_dependency_of_the_project_has_an_exact_pin():
    pins = constraints()
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    for text in declared:
        requirement = Requirement(text)
        name = normalize(requirement.name)
        assert name in pins, f"pyproject.toml names {name}; constraints.txt must pin it"
        assert requirement.specifier.contains(pins[name]), f"{text} excludes the pin {name}=={pins[name]}"
