"""Apptainer definitions built and run with Podman, where Apptainer cannot be installed (Debian has no
package of it, PyPI no binary): the development machines and CI. Each step does what Apptainer's own
code does (cited at the step, paths in github.com/apptainer/apptainer), so that the image built here
is the image `apptainer build` makes of the same file.

    python containers/podman.py build containers/more-cpu.def [--build-arg KEY=VALUE] [--bind SRC:DST]
        builds from the repository root (where %files are found) and prints the image's Podman tag
    python containers/podman.py apptainer [--quiet] [--silent] exec [--home DIR] [--bind SPEC] [--pwd DIR] IMAGE COMMAND...
        `apptainer exec` in Podman; a script named `apptainer` on PATH that runs this is what
        `snakemake --sdm apptainer` calls (tests/test_container_build.py)
"""

import argparse
import collections
import hashlib
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from spython.main.parse.parsers import SingularityParser

# crun refuses these machines' cgroup setup; runc with cgroupfs works wherever Podman runs as root.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
# Apptainer's PATH in every container, whatever the host's (internal/pkg/util/env/clean.go, DefaultPath).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The sections build() carries out; any other is refused rather than silently left out of the image.
SECTIONS = {"arguments", "files", "post", "test", "labels"}
PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")


class BuildError(Exception):
    pass


class Definition(SingularityParser):
    """A definition file as Apptainer reads it. spython splits it into sections, but its own handlers
    write a Dockerfile (a debootstrap header is refused, %test becomes echo lines): here every section
    is kept as its lines, and the header is read as Apptainer's doHeader reads it
    (pkg/build/types/parser/deffile.go): `Key: value` lines before the first section, keys lowercased."""

    def __init__(self, text):
        self.header, self.sections = {}, {}
        super().__init__(None, load=False)
        self.lines = text.splitlines()
        self.parse()
        for line in self.lines:
            words = line.split()
            if words and words[0].startswith("%"):
                break
            key, _, value = line.split("#")[0].partition(":")
            if key.strip():
                self.header[key.strip().lower()] = value.strip()

    def _check_bootstrap(self, line):
        """The header is read in __init__ (spython accepts only a Docker base)."""

    def _get_mapping(self, section):
        return lambda lines, layer=None: self.sections.setdefault(section, []).extend(lines)

    def entries(self, section):
        return [line for line in self.sections.get(section, []) if not line.startswith("#")]


def read(path, build_args=None):
    """The definition at `path` with its {{ NAME }} placeholders filled as `apptainer build` fills them
    (internal/pkg/build/args): a --build-arg, else the KEY=VALUE default in %arguments; a placeholder
    after a comment sign on its line is left as it is."""
    text = Path(path).read_text()
    values = {}
    for line in Definition(text).entries("arguments"):
        key, sep, value = line.partition("=")
        if not sep:
            raise BuildError(f"{path}: %arguments line {line!r} is not KEY=VALUE")
        values[key.strip()] = value.strip()
    values.update(build_args or {})

    def fill(line):
        def value(match):
            if re.search(r"#[^!]", line[:match.start()]):
                return match[0]
            if match[1] not in values:
                raise BuildError(f"{path}: build argument {match[1]} has no value (--build-arg or %arguments)")
            return values[match[1]]
        return PLACEHOLDER.sub(value, line)

    return Definition("\n".join(fill(line) for line in text.splitlines()))


def ulimits():
    """The calling process's limits, which Apptainer's containers inherit. Podman's defaults exceed
    the hard limits on these machines, and runc then fails to start a container; it fails too for a
    process limit above kernel.pid_max, so that is capped (no more processes can exist anyway)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    nofile, nproc = resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_NPROC)
    nproc = [pid_max if n == resource.RLIM_INFINITY else min(n, pid_max) for n in nproc]
    return ["--ulimit", "nofile={}:{}".format(*nofile), "--ulimit", "nproc={}:{}".format(*nproc)]


def run(command, log, what, **kwargs):
    """Run `command`, passing its output to `log` line by line; one line and the output's tail if it fails."""
    tail = collections.deque(maxlen=30)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs) as process:
        for line in process.stdout:
            log(line.rstrip())
            tail.append(line)
    if process.returncode:
        raise BuildError(f"{what} failed (exit status {process.returncode}):\n{''.join(tail)}")


def image_exists(tag):
    return subprocess.run([*PODMAN, "image", "exists", tag], check=False).returncode == 0


def digest(*parts):
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def tree_digest(path):
    """What `cp -r` copies from `path`: every file's relative name and bytes."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return digest(*(f"{p.relative_to(path)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files))


def base_image(header, log):
    """Debian from its archive, bootstrapped with the command Apptainer's debootstrap bootstrap runs
    (internal/pkg/build/sources/conveyorPacker_debootstrap.go, Get), imported into Podman once per command."""
    if header.get("bootstrap") != "debootstrap":
        raise BuildError(f"Bootstrap: {header.get('bootstrap')} is not built here (debootstrap is)")
    if not {"osversion", "mirrorurl"} <= header.keys():
        raise BuildError("a debootstrap header needs OSVersion and MirrorURL")
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    include = ",".join(header.get("include", "").split())

    def command(rootfs):
        return ["debootstrap", "--variant=minbase", "--exclude=openssl,udev,debconf-i18n,e2fsprogs",
                f"--include=apt,{include}", f"--arch={arch}", header["osversion"], rootfs, header["mirrorurl"]]

    tag = f"localhost/debootstrap-{header['osversion']}:{digest(*command('ROOTFS'))}"
    if image_exists(tag):
        log(f"base image {tag}: built before")
        return tag
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="debootstrap-") as rootfs:
        run(command(rootfs), log, "debootstrap")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run([*PODMAN, "import", "-", tag], log, "podman import", stdin=tar.stdout)
        if tar.wait():
            raise BuildError(f"tar of {rootfs} failed")
    return tag


def build(path, build_args=None, binds=(), env=None, context=None, log=print):
    """The Podman tag of the image of the definition at `path`, built unless an image of the same base,
    filled-in definition, copied files, binds and environment exists. %files sources are relative to
    `context` (where `apptainer build` would run: the repository root). `binds` (host path,
    container path) and `env` reach the build steps only, like `apptainer build --bind`."""
    context = Path(context or Path.cwd())
    definition = read(path, build_args)
    if extra := set(definition.sections) - SECTIONS:
        raise BuildError(f"{path}: {', '.join(sorted('%' + s for s in extra))} not built here")
    base = base_image(definition.header, log)
    files = [(words[0], words[-1]) for words in map(shlex.split, definition.entries("files"))]
    env = env or {}
    # Everything the image is made of, this file's build steps included.
    tag = f"localhost/{Path(path).stem}:" + digest(
        base, tree_digest(Path(__file__)), *definition.lines,
        *(f"{src}>{dst}:{tree_digest(context / src)}" for src, dst in files),
        *(f"{src}>{dst}:{tree_digest(Path(src))}" for src, dst in binds), *sorted(env.items()))
    if image_exists(tag):
        log(f"image {tag}: built before")
        return tag

    # %files as CopyFromHost copies them (internal/pkg/build/files/copy.go): parent folders made, then
    # `cp -fLr`; then %post as Apptainer runs a build script: `/bin/sh -ex`, in / (internal/pkg/build/stage.go).
    staged = "/mnt"  # empty in Debian: the mount leaves no folder behind in the image
    script = [f"mkdir -p {shlex.quote(str(Path(dst).parent))} && cp -fLr {shlex.quote(f'{staged}/{src}')} {shlex.quote(dst)}"
              for src, dst in files] + definition.sections.get("post", [])
    container = f"build-{tag.rsplit(':', 1)[1]}-{os.getpid()}"
    mounts = [f"{context}:{staged}:ro", *(f"{src}:{dst}:ro" for src, dst in binds)]
    try:
        run([*PODMAN, "run", "--name", container, "--network", "host", *ulimits(), "--workdir", "/",
             *(f"--volume={m}" for m in mounts), *(f"--env={k}={v}" for k, v in env.items()),
             base, "/bin/sh", "-exc", "\n".join(script)], log, f"{path}: %files and %post")
        labels = [f"--change=LABEL {key}={json.dumps(value)}" for key, _, value in
                  (line.partition(" ") for line in definition.entries("labels"))]
        run([*PODMAN, "commit", *labels, container, tag], log, "podman commit")
    finally:
        subprocess.run([*PODMAN, "rm", "--ignore", container], check=False, capture_output=True)
    try:
        if test := definition.sections.get("test"):
            run([*PODMAN, "run", "--rm", *ulimits(), tag, "/bin/sh", "-exc", "\n".join(test)], log, f"{path}: %test")
    except BuildError:
        subprocess.run([*PODMAN, "rmi", tag], check=False, capture_output=True)
        raise
    return tag


def apptainer_exec(image, command, home=None, binds=(), pwd=None):
    """The `podman run` command that runs `apptainer exec [--home HOME] [--bind SPEC]... [--pwd PWD]
    IMAGE COMMAND...` as Apptainer would, from the current directory and environment:
    - the host's environment but HOME, PATH, LD_LIBRARY_PATH and APPTAINER_/SINGULARITY_ settings
      passes through (internal/pkg/util/env/clean.go, SetContainerEnv); HOME is the home folder and
      PATH Apptainer's default. Podman passes none by itself: each name is given to it.
    - /tmp, /var/tmp, the home folder (`--home src[:dest]`) and the current directory are bound, as
      apptainer.conf's defaults do; `--bind src[:dest[:ro]]` (comma-separated lists too) adds binds;
      the command starts in PWD, else in the current directory.
    - the host's network, IPC (so /dev/shm) and resource limits, which Apptainer does not separate."""
    cwd = os.getcwd()
    home_src, _, home_dst = (home or os.environ["HOME"]).partition(":")
    home_dst = home_dst or home_src
    mounts = {}
    for spec in ["/tmp", "/var/tmp", f"{home_src}:{home_dst}", cwd, *",".join(binds).split(",")]:
        if spec:
            src, dst, options = (spec.split(":") + ["", ""])[:3]
            mounts[dst or src] = f"{src}:{dst or src}" + (f":{options}" if options else "")
    if prefixed := [key for key in os.environ if key.startswith(("APPTAINERENV_", "SINGULARITYENV_"))]:
        raise BuildError(f"{', '.join(prefixed)}: not passed into the container here")
    passed = [key for key in os.environ if key not in {"HOME", "PATH", "LD_LIBRARY_PATH"}
              and not key.startswith(("APPTAINER_", "SINGULARITY_"))]
    return [*PODMAN, "run", "--rm", "--network", "host", "--ipc", "host", *ulimits(),
            *(f"--volume={mount}" for mount in mounts.values()), "--workdir", pwd or cwd,
            *(f"--env={key}" for key in passed), f"--env=HOME={home_dst}", f"--env=PATH={DEFAULT_PATH}",
            image, *command]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tools = parser.add_subparsers(dest="tool", required=True)
    build_parser = tools.add_parser("build", help="build a definition into a Podman image")
    build_parser.add_argument("definition", type=Path)
    build_parser.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    build_parser.add_argument("--bind", action="append", default=[], metavar="SRC:DST",
                              help="a host file or folder, read-only, for the build steps only")
    stand_in = tools.add_parser("apptainer", allow_abbrev=False, help="`apptainer exec` in Podman")
    # The lowest version Snakemake accepts: the stand-in claims no later Apptainer's behaviour.
    stand_in.add_argument("--version", action="version", version="apptainer version 1.0.0+podman")
    stand_in.add_argument("--quiet", "-q", action="store_true")
    stand_in.add_argument("--silent", "-s", action="store_true")
    actions = stand_in.add_subparsers(dest="action", required=True)
    exec_parser = actions.add_parser("exec", allow_abbrev=False)
    exec_parser.add_argument("--home")
    exec_parser.add_argument("--bind", "-B", action="append", default=[])
    exec_parser.add_argument("--pwd")
    exec_parser.add_argument("image")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        if args.tool == "build":
            build_args = dict(arg.partition("=")[::2] for arg in args.build_arg)
            binds = [tuple(bind.split(":", 1)) for bind in args.bind]
            print(build(args.definition, build_args, binds, log=lambda line: print(line, file=sys.stderr)))
        else:
            command = apptainer_exec(args.image, args.command, args.home, args.bind, args.pwd)
            if not args.silent:
                print(f"apptainer stand-in: {shlex.join(argv[1:])}\n  -> {shlex.join(command)}", file=sys.stderr)
            os.execvp(command[0], command)
    except BuildError as error:
        sys.exit(f"{Path(sys.argv[0]).name}: {error}")


if __name__ == "__main__":
    main()
