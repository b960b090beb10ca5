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

tools = ["squant-opt", "squant-run", "squant-bench", "mlir-runner", "mlir-translate", "llc", "FileCheck", "not", "count"]
llvm_config.add_tool_substitutions(tools, [config.squant_tools_dir, config.llvm_tools_dir])

if os.path.exists(os.path.join(config.mlir_lib_dir, "libmlir_c_runner_utils.so")):
    config.available_features.add("mlir_c_runner_utils")

# GPU execution needs a GPU: present only when the driver reports a device.
if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))

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
