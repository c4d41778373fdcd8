# Thin aliases for the README's two commands. Both create the environment (.venv) when it is
# missing or older than the project's dependency files.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: env pipeline test

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: anything else could make pip fetch a CUDA build of several GB.
	$(BIN)/pip install -c constraints.txt torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e '.[dev]'
	# deepspeed is an sdist; without build isolation it builds against the torch above.
	$(BIN)/pip install -c constraints.txt --no-build-isolation deepspeed
	touch $(STAMP)

env: $(STAMP)

# The report test renders the HTML report in headless Chromium, a Debian package (root installs it).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

pipeline: $(STAMP)
	snakemake --cores all

test: $(STAMP) $(CHROMIUM)
	pytest
