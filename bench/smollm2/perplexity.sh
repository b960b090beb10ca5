#!/usr/bin/env bash
# SqueezeLLM's table in miniature on SmolLM2-135M-Instruct: perplexity of the
# shipped Q4_1 GGUF, its dequantized fp32 weights, nuq4, nuq3, nuq3 + 0.45%
# outliers, RTN4 and RTN3 (per-output-channel, SqueezeLLM format), all
# requantized from the dequantized Q4_1 weights and all computed by
# squant-compiled code, on held-out text (KJV Book of Ruth).
#   bash bench/smollm2/perplexity.sh [OUT_DIR] [CTX] [WINDOWS]
source "$(dirname "$0")/common.sh"
OUT="${1:-$BUILD_DIR/bench-perplexity}"
CTX="${2:-128}"
WINDOWS="${3:-8}"
mkdir -p "$OUT"
kjv_text > "$OUT/ruth.txt"
G="$SMOLLM2_GGUF"

declare -a NAMES=() DIRS=()
add() { NAMES+=("$1"); DIRS+=("$2"); }
"$BIN/squant-compile" "$G" -o "$OUT/q4_1.out" --quiet
add "Q4_1 (shipped GGUF, ggml affine 4-bit, g32)" "$OUT/q4_1.out"
quant() { # name dir args...
  local name="$1" dir="$2"; shift 2
  [ -f "$OUT/$dir/model.safetensors" ] ||
    "$BIN/squant-quantize" "$G" -o "$OUT/$dir" "$@" 2>/dev/null | tee -a "$OUT/quantize.log"
  "$BIN/squant-compile" "$OUT/$dir" -o "$OUT/$dir.out" --tokenizer="$G" --quiet
  add "$name" "$OUT/$dir.out"
}
quant "fp32 (dequantized Q4_1 weights)" fp32 --method=none
quant "nuq4 (k-means, per channel)" nuq4 --bits=4
quant "nuq3 (k-means, per channel)" nuq3 --bits=3
quant "nuq3 + 0.45% outliers" nuq3s --bits=3 --outlier-fraction=0.0045
if "$PY" -c "import torch, transformers" 2>/dev/null; then
  # SqueezeLLM's sensitivity-weighted k-means: squared gradients (Fisher
  # diagonal) on calibration text disjoint from the evaluation text.
  kjv_calibration_text > "$OUT/calibration.txt"
  [ -f "$OUT/fisher.safetensors" ] ||
    "$PY" "$(dirname "$0")/fisher.py" "$G" "$OUT/calibration.txt" \
      "$OUT/fisher.safetensors" --ctx 128 --windows 16 2>/dev/null | tail -1
  S="--sensitivity=$OUT/fisher.safetensors"
  quant "nuq4, Fisher-weighted (SqueezeLLM)" wnuq4 --bits=4 "$S"
  quant "nuq3, Fisher-weighted (SqueezeLLM)" wnuq3 --bits=3 "$S"
  quant "nuq3 + 0.45% outliers, Fisher-weighted (SqueezeLLM)" wnuq3s --bits=3 \
    --outlier-fraction=0.0045 "$S"
else
  echo "(Fisher-weighted rows skipped: pip install torch transformers accelerate)"
fi
quant "RTN4 (uniform, per channel)" rtn4 --method=rtn --bits=4
quant "RTN3 (uniform, per channel)" rtn3 --method=rtn --bits=3

{
  echo "| model | perplexity |"
  echo "|---|---|"
} > "$OUT/table.md"
for i in "${!NAMES[@]}"; do
  log="$OUT/ppl-$i.log"
  if "$BIN/squant-run" --model="${DIRS[$i]}" --perplexity="$OUT/ruth.txt" \
       --ctx="$CTX" --max-chunks="$WINDOWS" > "$log" 2>&1; then
    line=$(grep '^perplexity:' "$log")
    ppl=$(echo "$line" | awk '{print $2}')
  else
    line="failed (exit $?, see $log)"
    ppl="failed"
  fi
  echo "${NAMES[$i]}: $line"
  echo "| ${NAMES[$i]} | $ppl |" >> "$OUT/table.md"
done
echo "($WINDOWS windows of $CTX tokens of the KJV Book of Ruth; $(uname -m), $(nproc) cores)" >> "$OUT/table.md"
cat "$OUT/table.md"
