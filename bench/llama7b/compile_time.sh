#!/usr/bin/env bash
# Compile time of a LLaMA-7B-shaped decoder (hidden 4096, 11008, 32 heads,
# vocab 32000) with 1, 8 and 32 layers, from config.json alone (dense f16
# weights assumed, none needed): identical layers share one function, so the
# time should not grow with the layer count.
#   bash bench/llama7b/compile_time.sh [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${SQUANT_BUILD_DIR:-$ROOT/build}/bin"
OUT="${1:-$ROOT/build/bench-compile-time}"
mkdir -p "$OUT"
echo "| layers | squant-compile --emit=so (s) | layer functions | .so size (bytes) |"
echo "|---|---|---|---|"
for n in 1 8 32; do
  python3 "$ROOT/bench/llama7b/make_config.py" "$OUT/l$n" "$n"
  start=$(date +%s.%N)
  "$BIN/squant-compile" "$OUT/l$n/config.json" --no-weights --weight-dtype=f16 \
    --emit=so -o "$OUT/l$n.out" 2> "$OUT/l$n.log"
  end=$(date +%s.%N)
  funcs=$(grep -o '"layer_functions": [0-9]*' "$OUT/l$n.out/manifest.json" | awk '{print $2}')
  size=$(stat -c %s "$OUT/l$n.out/model.so")
  printf "| %d | %.2f | %s | %s |\n" "$n" "$(echo "$end - $start" | bc)" "$funcs" "$size"
done
