#!/usr/bin/env bash
# The one script to run on a lent GPU machine (sized for <= 6 minutes on one H200):
#   1. builds surgeond with the CUDA backend (release) and the GPU check programs;
#   2. op_parity: every op of the CUDA backend against the CPU backend (NMSE per op, fp32),
#      plus fp32 GEMM throughput at BLOOM-560m/1b7 shapes;
#   3. check_models.py: a tiny model's diagnosis, perplexity and 5 surgery steps on cuda:0
#      against cpu, then diagnose tokens/s and surgery step time at BLOOM-560m and 1b7 shapes
#      (random weights), printing one table last.
# Usage: bash tests/gpu/check.sh [--skip-1b7]
set -uo pipefail
cd "$(dirname "$0")/../.."
JOBS=$(nproc 2>/dev/null || echo 4)
echo "== build (CUDA_ARCH=${CUDA_ARCH:-90})"
if ! make -j"$JOBS" gpu-check CUDA_ARCH="${CUDA_ARCH:-90}" > build-gpu.log 2>&1; then
  tail -40 build-gpu.log
  echo "check.sh: build failed"
  exit 1
fi
build/release/surgeond --version
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== op parity (CUDA vs CPU)"
build/release/gpu/op_parity
op_rc=$?
if [ "$op_rc" -eq 77 ]; then echo "check.sh: no GPU here"; exit 77; fi

echo "== model checks and benchmarks"
python3 tests/gpu/check_models.py "$@"
model_rc=$?
echo "check.sh: op_parity rc=$op_rc, models rc=$model_rc"
[ "$op_rc" -eq 0 ] && [ "$model_rc" -eq 0 ]
