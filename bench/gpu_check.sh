#!/usr/bin/env bash
# bench/gpu_check.py on a machine with a CUDA GPU and PyTorch but not this project's environment: the wheels that
# `python bench/gpu_check.py prepare` put in .gpu/ go to a folder of their own, then the check runs.
# Writes gpu_check.json and gpu_check.log to $OUT (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site \
  .gpu/wheels/*.whl
export PYTHONPATH="/tmp/gpu_check_site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu_check.log"
python3 bench/gpu_check.py run --device cuda --out "$out" 2>&1 | tee -a "$out/gpu_check.log"
