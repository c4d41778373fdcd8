#!/usr/bin/env bash
# The GPU check on a stock CUDA node that has no package registry, in one command from the checkout:
#
#   scripts/benchmarks/gpu_node.sh                      # → results/benchmarks/gpu.csv
#   scripts/benchmarks/gpu_node.sh --output x.csv ...   # any options of scripts/benchmarks/bench_gpu.py (--tiny: the CPU run)
#   scripts/benchmarks/gpu_node.sh --install-only      # only install, and print the folder
#
# The node must have Python 3.11 or 3.12 with torch and transformers (docs/gpu-check.md). What it
# lacks, DeepSpeed and its dependencies, comes from the wheelhouse built where a registry is
# (`make wheelhouse`) and carried with the checkout: installed with --no-index and without resolving
# (the node's torch and numpy stay as they are) into a folder of its own, .gpu-node/pyX.Y, which only
# this command puts on the path. The checkout's library (more_lib) is made importable the same way.
# Environment: PYTHON (default python3), WHEELHOUSE (default ./wheelhouse), GPU_NODE_DIR (the folder).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python3}
wheelhouse=${WHEELHOUSE:-$repo/wheelhouse}
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
target=${GPU_NODE_DIR:-$repo/.gpu-node/py$version}

if [[ ! -f $wheelhouse/requirements.txt ]]; then
  echo "error: no wheelhouse at $wheelhouse: run 'make wheelhouse' where a package registry is and carry it here" >&2
  exit 1
fi
# (Re)install when the folder is missing or was filled from another wheelhouse.
if ! cmp -s "$wheelhouse/requirements.txt" "$target/requirements.txt"; then
  rm -rf "$target"
  "$python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheelhouse" \
    --no-deps --target "$target" -r "$wheelhouse/requirements.txt"
  cp "$wheelhouse/requirements.txt" "$target/requirements.txt"
fi

if [[ ${1:-} == --install-only ]]; then
  echo "$target"
  exit 0
fi

# bin/: the ninja that DeepSpeed's first-use compile of its CPU Adam looks for on the PATH
export PATH="$target/bin:$PATH"
export PYTHONPATH="$target:$repo${PYTHONPATH:+:$PYTHONPATH}"
[[ $# -gt 0 ]] || set -- --output "$repo/results/benchmarks/gpu.csv"
exec "$python" "$repo/scripts/benchmarks/bench_gpu.py" "$@"
