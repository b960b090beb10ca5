#!/usr/bin/env bash
# Perplexity of SmolLM2-135M-Instruct (the shipped Q4_1 GGUF, run natively)
# with an fp32 / fp16 KV cache against the quantized caches
# (--kv-cache=kvquantB|kiviB), on the same held-out text and windows as
# perplexity.sh (KJV Book of Ruth). kvquant tables are calibrated on Jonah +
# Esther (disjoint from the evaluation text). Also prints each cache's bytes
# per token per layer (squant-run's allocation, cross-checked by
# squant-opt --squant-kv-memory-report on the compiled IR).
#   bash bench/smollm2/kv_perplexity.sh [OUT_DIR] [CTX] [WINDOWS]
source "$(dirname "$0")/common.sh"
OUT="${1:-$BUILD_DIR/bench-kv-perplexity}"
CTX="${2:-128}"
WINDOWS="${3:-8}"
mkdir -p "$OUT"
kjv_text > "$OUT/ruth.txt"
kjv_calibration_text > "$OUT/calibration.txt"
G="$SMOLLM2_GGUF"

{
  echo "| KV cache | options | bytes/token/layer | fp16 bytes / these | perplexity |"
  echo "|---|---|---|---|---|"
} > "$OUT/table.md"
run() { # name compile-options...
  local name="$1"; shift
  local dir="$OUT/$name.out" log="$OUT/$name.log"
  "$BIN/squant-compile" "$G" -o "$dir" --quiet "$@"
  local bytes="" report
  if [[ "$*" == *kvquant* || "$*" == *kivi* ]]; then
    "$BIN/squant-compile" "$G" -o "$OUT/$name.mlir" --emit=mlir --quiet "$@"
    report=$("$BIN/squant-opt" --squant-kv-memory-report \
      --mlir-print-op-on-diagnostic=false "$OUT/$name.mlir" -o /dev/null 2>&1 |
      grep -m1 'bytes/token/layer' || true)
    bytes=$(echo "$report" | sed -E 's/.*: ([0-9.]+) bytes\/token\/layer.*/\1/')
  else
    bytes=$(( 2 * 3 * 64 * $( [[ "$*" == *f16* ]] && echo 2 || echo 4 ) ))
  fi
  local ppl
  if "$BIN/squant-run" --model="$dir" --perplexity="$OUT/ruth.txt" \
       --ctx="$CTX" --max-chunks="$WINDOWS" \
       --kv-calibration="$OUT/calibration.txt" > "$log" 2>&1; then
    ppl=$(grep '^perplexity:' "$log" | awk '{print $2}')
  else
    ppl="failed (see $log)"
  fi
  local ratio
  ratio=$(awk -v b="$bytes" 'BEGIN { printf "%.2fx", 768 / b }')
  echo "$name $*: $bytes bytes/token/layer, perplexity $ppl"
  grep -h 'KV cache #' "$log" || true
  echo "| $name | ${*:-} | $bytes | $ratio | $ppl |" >> "$OUT/table.md"
}
run f32 --kv-cache=f32
run f16 --kv-cache=f16
run kvquant4 --kv-cache=kvquant4
run kvquant3 --kv-cache=kvquant3
run kvquant2 --kv-cache=kvquant2
run kvquant3-no-outliers --kv-cache=kvquant3 --kv-outliers=0
run kivi4 --kv-cache=kivi4
run kivi2 --kv-cache=kivi2
run kivi4-r32 --kv-cache=kivi4 --kv-residual=32
run kivi2-r32 --kv-cache=kivi2 --kv-residual=32
echo "($WINDOWS windows of $CTX tokens of the KJV Book of Ruth; $(uname -m), $(nproc) cores)" >> "$OUT/table.md"
cat "$OUT/table.md"
