#!/usr/bin/env bash
# Create .venv with memrl and its development tools. Safe to run again.
# torch is pinned to 2.13.0 first so pip takes the CPU build instead of a multi-GB CUDA
# build; on a GPU machine install the torch build you want before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install --quiet torch==2.13.0
# ray: CI runs the tests of `memrl bench --backend ray` (tests/integration/test_bench_ray.py).
.venv/bin/pip install --quiet -e ".[dev,ray]"
