# Thin aliases for the README's two commands. Both create the environment (.venv) when it is
# missing or older than the project's dependency files.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: env pipeline test lint workflow-lint dryrun test-fast wheelhouse

# pip compiles bytecode one file at a time; compileall afterwards uses every core (on 2 cores the
# environment builds in about 110 s instead of 190 s).
PIP := $(BIN)/pip install --no-compile -c constraints.txt

# Where pip takes torch from: here the machine's own wheel (pip's find-links); elsewhere PyTorch's CPU
# index (.github/workflows/ci.yml sets TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu",
# as containers/more-cpu.def does).
TORCH_SOURCE ?=

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: anything else could make pip fetch a CUDA build of several GB.
	$(PIP) $(TORCH_SOURCE) torch==2.13.0
	$(PIP) -e '.[dev]'
	# deepspeed is an sdist; without build isolation it builds against the torch above.
	$(PIP) --no-build-isolation deepspeed
	# A few files in the wheels are for newer Pythons and never imported: their syntax errors are
	# expected (pip ignores them too), so the exit status says nothing.
	-$(BIN)/python -m compileall -q -j 0 $(abspath $(VENV))/lib > /dev/null 2>&1
	touch $(STAMP)

env: $(STAMP)

# The report test renders the HTML report in headless Chromium, a Debian package (root installs it).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

pipeline: $(STAMP)
	snakemake --cores all

# The rule-contract test traces the smoke build with strace to see which files each job opens.
STRACE := /usr/bin/strace
$(STRACE):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace)

# The container test builds the CPU image with Podman (Apptainer has no Debian package): a
# debootstrap base from Debian's archive, run with runc (crun refuses some cgroup setups).
PODMAN := /usr/bin/podman /usr/sbin/runc /usr/sbin/debootstrap
$(PODMAN):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap)

# The whole suite, after the static checks (the slow tests dry-run the workflow and run its --lint).
test: $(STAMP) $(CHROMIUM) $(STRACE) $(PODMAN) lint
	pytest

# Each command of the GitHub workflow (.github/workflows/ci.yml) is one of the targets below, which
# its steps call by name (tests/test_ci_config.py checks that they call nothing else).

# Static checks, seconds: the Python (ruff), the Snakemake files (snakefmt at ruff's line length, from
# [tool.snakefmt] in pyproject.toml: `snakefmt workflow/` formats them) and the GitHub workflows
# (actionlint; zizmor --offline, its audits that need no GitHub API).
WORKFLOWS := $(wildcard .github/workflows/*.yml .github/workflows/*.yaml)
lint: $(STAMP)
	ruff check more_lib scripts tests
	snakefmt --check --compact-diff workflow/
	actionlint $(WORKFLOWS)
	zizmor --offline --no-progress .github/workflows/

# `snakemake --lint`, through the test that knows which of its lints are justified (it exits 1 on any).
workflow-lint: $(STAMP)
	pytest -q tests/test_dryruns.py::test_lint_reports_only_the_justified_lints

# Dry runs as typed from the repository root: the default DAG, the paper's, and the paper's through
# the SLURM profile (slurm/). Each in a scratch working directory holding a copy of config/ (the files
# the workflow reads from its working directory, the paper's hub lock among them), so that no
# results/ of a real run is read; tests/test_dryruns.py does the same.
DRYRUN := snakemake --dry-run --quiet rules
dryrun: $(STAMP)
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && cp -r config "$$scratch/" && set -x && \
	  $(DRYRUN) --directory "$$scratch" && \
	  $(DRYRUN) --directory "$$scratch" --configfile config/paper.yaml && \
	  $(DRYRUN) --directory "$$scratch" --configfile config/paper.yaml --profile slurm

# The fast subset: no SLURM cluster, browser, DeepSpeed, container build or real Snakemake run.
FAST := not slow and not cluster and not browser and not deepspeed and not container
test-fast: $(STAMP)
	pytest -m "$(FAST)"

# The GPU check on a node without a package registry (docs/gpu-check.md). A stock CUDA image
# has Python, torch, transformers, numpy, packaging, tqdm, pandas, pyyaml...; it lacks DeepSpeed and
# what DeepSpeed needs beyond those. The wheelhouse carries exactly that, for Python 3.11 and 3.12 on
# x86-64 Linux; scripts/benchmarks/gpu_node.sh installs it there with --no-index into a folder of its own.
WHEELHOUSE ?= wheelhouse
GPU_NODE_PYTHONS := 3.11 3.12
GPU_NODE_WHEELS := hjson==3.1.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 typing-extensions==4.16.0 py-cpuinfo==9.0.0 einops==0.8.2 msgpack==1.2.4 \
  ninja==1.13.2 psutil==7.2.2
DEEPSPEED_PIN := $(shell grep -m1 '^deepspeed==' constraints.txt)

$(WHEELHOUSE)/requirements.txt: Makefile constraints.txt | $(STAMP)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	# DeepSpeed is an sdist: built here against the installed torch, without build isolation (which
	# would fetch a CUDA torch). With no op pre-built it is pure Python (py3-none-any), so the wheel
	# serves any torch and CUDA: its ops compile on first use there.
	$(BIN)/pip wheel -q --no-deps --no-build-isolation -w $(WHEELHOUSE) $(DEEPSPEED_PIN)
	for py in $(GPU_NODE_PYTHONS); do \
	  $(BIN)/pip download -q --no-deps --only-binary=:all: --implementation cp --python-version $$py \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
	    -d $(WHEELHOUSE) $(GPU_NODE_WHEELS) || exit 1; \
	done
	printf '%s\n' $(DEEPSPEED_PIN) $(GPU_NODE_WHEELS) > $@.tmp && mv $@.tmp $@
	@du -sh $(WHEELHOUSE)

wheelhouse: $(WHEELHOUSE)/requirements.txt
