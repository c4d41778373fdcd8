# Thin aliases for the README's two commands. Both create the environment (.venv) when it is
# missing or older than the project's dependency files.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: env pipeline test wheelhouse

# pip compiles bytecode one file at a time; compileall afterwards uses every core (on 2 cores the
# environment builds in about 110 s instead of 190 s).
PIP := $(BIN)/pip install --no-compile -c constraints.txt

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: anything else could make pip fetch a CUDA build of several GB.
	$(PIP) torch==2.13.0
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

test: $(STAMP) $(CHROMIUM) $(STRACE) $(PODMAN)
	pytest

# The GPU check on a node without a package registry (README: The GPU check). A stock CUDA image
# has Python, torch, transformers, numpy, packaging, tqdm, pandas, pyyaml...; it lacks DeepSpeed and
# what DeepSpeed needs beyond those. The wheelhouse carries exactly that, for Python 3.11 and 3.12 on
# x86-64 Linux; scripts/gpu_node.sh installs it there with --no-index into a folder of its own.
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
