#!/usr/bin/env bash
# The one script to run on a lent GPU machine (sized for <= 6 minutes on one H200, never more
# than CHECK_BUDGET_SECONDS, default 540, build included). Written
# without a GPU at hand: the first run on one is its first test.
#   1. builds surgeond and the GPU check programs in their own tree (build/gpu-check: release
#      optimisation plus the test hooks, so the fault-injection op exists);
#   2. op_parity, one process per section: every op against the CPU oracle in fp32 and in
#      bf16, the tiled attention at T = 512/2048/8192, failure recovery (out of memory, a
#      faulting kernel then reset()), throughput of GEMMs and attention;
#   3. gemm_peak_cuda: the bf16 and fp32 cuBLASLt peak of this device;
#   4. check_models.py: a tiny model's diagnosis, perplexity, surgery steps and greedy
#      generation on cuda:0 against cpu, then BLOOM-560m/1b7-shaped benchmarks;
# and prints one table last. Every section prints PASS, FAIL or SKIP and the next one runs
# regardless; the exit status is 0 only when every section passed (77 when there is no GPU).
# Usage: bash tests/gpu/check.sh [--skip-1b7]
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD_ROOT=build/gpu-check
OUT=$BUILD_ROOT/release
LOG=$BUILD_ROOT/logs
mkdir -p "$LOG"
declare -a SUMMARY=()
failed=0

# The whole run stays within BUDGET seconds (default 540, under a 10-minute command limit):
# a section gets at most what is left, and is skipped when under 20 seconds are left.
BUDGET=${CHECK_BUDGET_SECONDS:-540}
SECONDS=0

# run_section NAME TIMEOUT_SECONDS COMMAND...: output to the terminal and $LOG/NAME.log.
run_section() {
  local name=$1 limit=$2
  shift 2
  echo
  echo "== $name"
  local left=$((BUDGET - SECONDS - 10))
  if [ "$left" -lt 20 ]; then
    echo "FAIL: $name (skipped: the ${BUDGET}s budget is spent)"
    SUMMARY+=("$name: FAIL (skipped, budget spent)")
    failed=1
    : > "$LOG/$name.log"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
  local rc=${PIPESTATUS[0]}
  local verdict=PASS
  if [ "$rc" -eq 77 ]; then
    verdict=SKIP
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    verdict="FAIL (timed out after ${limit}s)"
    failed=1
  elif [ "$rc" -ne 0 ]; then
    verdict="FAIL (exit $rc)"
    failed=1
  fi
  echo "$verdict: $name"
  SUMMARY+=("$name: $verdict")
}

echo "== build (CUDA_ARCH=${CUDA_ARCH:-90}, $JOBS jobs, log $LOG/build.log)"
if ! make -j"$JOBS" BUILD="$BUILD_ROOT" TEST_HOOKS=1 CUDA_ARCH="${CUDA_ARCH:-90}" gpu-check \
    > "$LOG/build.log" 2>&1; then
  tail -40 "$LOG/build.log"
  echo "FAIL: build"
  exit 1
fi
echo "PASS: build"
"$OUT/surgeond" --version
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
fi
if [ ! -x "$OUT/gpu/gemm_peak_cuda" ]; then
  echo "SKIP: nvcc was not found, the CUDA backend is not built"
  exit 77
fi

run_section op-parity-fp32 60 "$OUT/gpu/op_parity" fp32
if grep -q "skipped, no GPU" "$LOG/op-parity-fp32.log"; then
  echo "SKIP: no GPU here"
  exit 77
fi
run_section op-parity-bf16 60 "$OUT/gpu/op_parity" bf16
run_section attention-tiled 90 "$OUT/gpu/op_parity" attention
run_section recovery 45 "$OUT/gpu/op_parity" recovery
run_section gemm-peak 60 "$OUT/gpu/gemm_peak_cuda" 3
run_section op-bench 60 "$OUT/gpu/op_parity" bench
PEAK=$(awk '/^bf16_peak_tflops/ {print $2}' "$LOG/gemm-peak.log" 2> /dev/null)
PEAK=${PEAK:-0}
run_section models-tiny 60 python3 -u tests/gpu/check_models.py --build-dir "$OUT" --only tiny
run_section models-bench 240 python3 -u tests/gpu/check_models.py --build-dir "$OUT" \
  --only bench --bf16-peak "$PEAK" "$@"

echo
echo "== summary"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo
echo "| shape | work | result | achieved TFLOP/s | share of the bf16 peak (${PEAK} TFLOP/s) |"
echo "|---|---|---|---|---|"
awk '/^bf16_peak_tflops|^fp32_peak_tflops/ {
    printf "| device | cuBLASLt %s peak | measured | %s | %s |\n", substr($1, 1, 4), $2,
           $1 ~ /^bf16/ ? "100%" : "-" }' "$LOG/gemm-peak.log" 2> /dev/null
awk -v peak="$PEAK" '/^gemm_tflops/ {
    label = ""; for (i = 3; i < NF - 1; i++) label = label " " $i
    share = peak > 0 ? sprintf("%.0f%%", 100 * $NF / peak) : "-"
    printf "| op |%s matmul %s | %s ms | %s | %s |\n", label, $2, $(NF - 1), $NF, share }' \
  "$LOG/op-bench.log" 2> /dev/null
awk '/^attention_ms/ {
    printf "| op | %s tiled attention fp32 (%s) | fwd %s ms, bwd %s ms | %s / %s | - |\n",
           $2, $3, $4, $5, $6, $7 }' "$LOG/op-bench.log" 2> /dev/null
sed -n 's/^row: //p' "$LOG/models-bench.log" 2> /dev/null
exit "$failed"
