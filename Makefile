# Thin aliases for the README's two commands. Both create the environment (.venv) when it is
# missing or older than the project's dependency files.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: env pipeline test

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

test: $(STAMP) $(CHROMIUM) $(STRACE)
	pytest
