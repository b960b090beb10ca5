#!/usr/bin/env bash
# Runs the LUT matmul benchmark suite and writes the table and the JSON report.
#
#   bash bench/run.sh [OUT_DIR] [extra squant-bench options...]
#
# Default suite: shapes 4096x4096, 11008x4096, 4096x11008, 4096x14336 (N x K),
# 3- and 4-bit codes, M in {1, 4, 16}, without and with 0.45% CSR outliers,
# 2 threads; the reference lowering is timed for every M (it is slow: expect
# several minutes). Ratios are measured in the same run: dense f32 through the
# same pipeline, kernels=reference, and the streaming-read roofline.
# Timings are only meaningful on an otherwise idle machine: the script prints
# the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/out}"
shift || true
BUILD_DIR="${SQUANT_BUILD_DIR:-build}"
[ -x "$BUILD_DIR/bin/squant-bench" ] || cmake --build "$BUILD_DIR" --target squant-bench -j "${SQUANT_JOBS:-2}"
mkdir -p "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/table.txt"
"$BUILD_DIR/bin/squant-bench" --bench-threads="${SQUANT_BENCH_THREADS:-2}" \
  --shapes=4096x4096,11008x4096,4096x11008,4096x14336 --bits=3,4 --rows=1,4,16 \
  --outliers=0,0.0045 --json="$OUT/results.json" "$@" | tee -a "$OUT/table.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/table.txt"
echo "wrote $OUT/table.txt and $OUT/results.json"
