//===- GPUTarget.cpp - NVIDIA chips squant can target ---------------------===//

#include "squant/Conversion/SQuantToGPU/GPUTarget.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"

#include <cstdlib>

using namespace mlir::squant;

namespace {
// PTX ISA versions: the minimum each chip requires (PTX ISA release notes;
// the same minimum LLVM's NVPTX backend enforces). Older drivers JIT the
// PTX of format=isa only when they know its version, so no chip asks for
// more than it needs.
const GPUChipInfo kChips[] = {
    {"sm_75", "+ptx63", 40, "T4"},
    {"sm_80", "+ptx70", 108, "A100"},
    {"sm_86", "+ptx71", 84, "RTX A6000"},
    {"sm_87", "+ptx74", 16, "Jetson AGX Orin"},
    {"sm_89", "+ptx78", 142, "L40S"},
    {"sm_90", "+ptx78", 132, "H100 SXM"},
    {"sm_90a", "+ptx80", 132, "H100 SXM"},
    {"sm_100", "+ptx86", 148, "B200"},
    {"sm_100a", "+ptx86", 148, "B200"},
    {"sm_120", "+ptx87", 170, "RTX 5090"},
    {"sm_120a", "+ptx87", 170, "RTX 5090"},
};
} // namespace

const GPUChipInfo *mlir::squant::lookupGPUChip(llvm::StringRef chip) {
  for (const GPUChipInfo &info : kChips)
    if (info.chip == chip)
      return &info;
  return nullptr;
}

std::string mlir::squant::listSupportedGPUChips() {
  std::string s;
  for (const GPUChipInfo &info : kChips) {
    if (!s.empty())
      s += ", ";
    s += info.chip.str();
  }
  return s;
}

std::optional<std::string> mlir::squant::findCUDATool(llvm::StringRef tool,
                                                      llvm::StringRef toolkit) {
  auto inRoot = [&](llvm::StringRef root) -> std::optional<std::string> {
    if (root.empty())
      return std::nullopt;
    llvm::SmallString<256> path(root);
    llvm::sys::path::append(path, "bin", tool);
    if (llvm::sys::fs::can_execute(path))
      return std::string(path);
    return std::nullopt;
  };
  if (auto p = inRoot(toolkit))
    return p;
  if (std::optional<std::string> p =
          llvm::sys::Process::FindInEnvPath("PATH", tool))
    return p;
  // MLIR's NVVM::getCUDAToolkitPath(): the first of these that is set.
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *root = std::getenv(var)) {
      if (auto p = inRoot(root))
        return p;
      break;
    }
  // squant-gpu-pipeline's default toolkit, only when none was given.
  if (toolkit.empty())
    return inRoot("/usr/local/cuda");
  return std::nullopt;
}

std::string mlir::squant::getDefaultCUDAToolkit() {
  // Empty when MLIR's own search (PATH, then the CUDA_* variables) finds
  // ptxas; otherwise /usr/local/cuda when it holds one.
  if (llvm::sys::Process::FindInEnvPath("PATH", "ptxas"))
    return "";
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *root = std::getenv(var)) {
      llvm::SmallString<256> path(root);
      llvm::sys::path::append(path, "bin", "ptxas");
      if (llvm::sys::fs::can_execute(path))
        return "";
      break;
    }
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda";
  return "";
}
