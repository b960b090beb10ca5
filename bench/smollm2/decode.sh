#!/usr/bin/env bash
# Decode tokens/s of SmolLM2-135M-Instruct (the shipped Q4_1 GGUF): squant
# (compiled by squant-compile with squant-cpu-pipeline's defaults: the fast
# kernels, OpenMP over all cores; run by squant-run) against llama.cpp
# (llama-cpp-python, 1 and 2 threads) on the same file, same prompt, greedy,
# in the same run.
#   bash bench/smollm2/decode.sh [NEW_TOKENS]
source "$(dirname "$0")/common.sh"
N="${1:-32}"
OUT="$BUILD_DIR/bench-decode"
mkdir -p "$OUT"
"$BIN/squant-compile" "$SMOLLM2_GGUF" -o "$OUT/smollm2" --quiet
PROMPT="<|im_start|>user
Write a short story about a robot who learns to paint.<|im_end|>
<|im_start|>assistant
"
ids=$("$BIN/squant-run" --model="$OUT/smollm2" --prompt="$PROMPT" --tokenize | sed 's/.*: //' | tr ' ' ',')
echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== squant (fast CPU kernels, OpenMP default threads)"
"$BIN/squant-run" --model="$OUT/smollm2" --tokens="$ids" --max-new-tokens="$N" --ignore-eos 2>/dev/null | grep -E "generated|prefill|decode|peak"
if "$PY" -c "import llama_cpp" 2>/dev/null; then
  for t in 1 2; do
    echo "== llama.cpp ($t thread(s))"
    "$PY" "$(dirname "$0")/llamacpp_decode.py" "$SMOLLM2_GGUF" --tokens "$ids" --max-new-tokens "$N" --threads "$t"
  done
else
  echo "== llama.cpp: not measured (pip install llama-cpp-python)"
fi
