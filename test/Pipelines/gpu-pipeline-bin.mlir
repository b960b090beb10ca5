// REQUIRES: ptxas
// format=bin runs ptxas (a cubin per chip), format=fatbin also fatbinary.
//
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_75 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_80 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_86 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_89 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90a format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_100 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_120 format=bin" | FileCheck %s --check-prefix=CHECK-BIN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=fatbin" | FileCheck %s --check-prefix=CHECK-FATBIN
// A cubin is an ELF file.
// CHECK-BIN: gpu.binary @squant_kernels [#gpu.object<#nvvm.target<{{.*}}>, properties = {{.*}}, bin = "\7FELF
// A fatbin starts with the magic 0xBA55ED50.
// CHECK-FATBIN: gpu.binary @squant_kernels [#gpu.object<#nvvm.target<{{.*}}>, properties = {{.*}}, "P\EDU\BA

func.func @unpack(%q: tensor<12x64xi32>) -> tensor<64x128xi3> {
  %e = tensor.empty() : tensor<64x128xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<12x64xi32>) outs(%e : tensor<64x128xi3>) -> tensor<64x128xi3>
  return %c : tensor<64x128xi3>
}
