// RUN: not squant-opt %s --convert-squant-to-gpu="warps-k=64" 2>&1 | FileCheck %s
// RUN: not squant-opt %s --convert-squant-to-gpu="num-sms=0" 2>&1 | FileCheck %s
// RUN: not squant-opt %s --convert-squant-to-gpu="kv-splits=-1" 2>&1 | FileCheck %s
// CHECK: error: convert-squant-to-gpu: expected num-sms > 0, split-k >= 0, 0 <= warps-k <= 32 and kv-splits >= 0
func.func @f() {
  return
}
