#!/usr/bin/env bash
# Installs what squant needs on Debian 12 (when missing), then configures and
# builds it in ./build (or $SQUANT_BUILD_DIR). Idempotent: a second run only
# rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SQUANT_BUILD_DIR:-build}"

PACKAGES=(cmake ninja-build g++ python3 libgtest-dev libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools libomp-22-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "squant: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    ${SQUANT_CMAKE_ARGS:-}
fi
JOBS="${SQUANT_JOBS:-$(nproc)}"
cmake --build "$BUILD_DIR" -j "$JOBS"
