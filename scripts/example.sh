#!/usr/bin/env bash
# Builds squant (installing packages when missing) and runs the bundled
# example: a SqueezeLLM 4-bit linear layer with sparse outliers, compiled
# through squant-cpu-pipeline and executed on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SQUANT_BUILD_DIR:-build}"
bash scripts/setup.sh
ex=examples/squeezellm-linear
"$BUILD_DIR/bin/squant-run" "$ex/linear.mlir" --function=linear \
  --inputs="$ex/layer.safetensors" --outputs="$BUILD_DIR/example-y.safetensors" --print
echo "(results also written to $BUILD_DIR/example-y.safetensors)"
