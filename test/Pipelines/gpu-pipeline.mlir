// squant-gpu-pipeline: PTX for every supported chip (each with the PTX ISA
// version it needs), and clear errors, never an abort, for unknown chips,
// unknown formats and a missing ptxas.
//
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_75" | FileCheck %s --check-prefix=CHECK-SM75
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_80" | FileCheck %s --check-prefix=CHECK-SM80
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_86" | FileCheck %s --check-prefix=CHECK-SM86
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_87" | FileCheck %s --check-prefix=CHECK-SM87
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_89" | FileCheck %s --check-prefix=CHECK-SM89
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90" | FileCheck %s --check-prefix=CHECK-SM90
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90a" | FileCheck %s --check-prefix=CHECK-SM90A
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_100" | FileCheck %s --check-prefix=CHECK-SM100
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_100a" | FileCheck %s --check-prefix=CHECK-SM100A
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_120" | FileCheck %s --check-prefix=CHECK-SM120
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_120a" | FileCheck %s --check-prefix=CHECK-SM120A
// CHECK-SM75: #nvvm.target<O = 3, chip = "sm_75", features = "+ptx63">{{.*}}assembly = "{{.*}}.version 6.3\0A.target sm_75
// CHECK-SM80: #nvvm.target<O = 3, chip = "sm_80", features = "+ptx70">{{.*}}assembly = "{{.*}}.version 7.0\0A.target sm_80
// CHECK-SM86: #nvvm.target<O = 3, chip = "sm_86", features = "+ptx71">{{.*}}assembly = "{{.*}}.version 7.1\0A.target sm_86
// CHECK-SM87: #nvvm.target<O = 3, chip = "sm_87", features = "+ptx74">{{.*}}assembly = "{{.*}}.version 7.4\0A.target sm_87
// CHECK-SM89: #nvvm.target<O = 3, chip = "sm_89", features = "+ptx78">{{.*}}assembly = "{{.*}}.version 7.8\0A.target sm_89
// CHECK-SM90: #nvvm.target<O = 3, chip = "sm_90", features = "+ptx78">{{.*}}assembly = "{{.*}}.version 7.8\0A.target sm_90
// CHECK-SM90A: #nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">{{.*}}assembly = "{{.*}}.version 8.0\0A.target sm_90a
// CHECK-SM100: #nvvm.target<O = 3, chip = "sm_100", features = "+ptx86">{{.*}}assembly = "{{.*}}.version 8.6\0A.target sm_100
// CHECK-SM100A: #nvvm.target<O = 3, chip = "sm_100a", features = "+ptx86">{{.*}}assembly = "{{.*}}.version 8.6\0A.target sm_100a
// CHECK-SM120: #nvvm.target<O = 3, chip = "sm_120", features = "+ptx87">{{.*}}assembly = "{{.*}}.version 8.7\0A.target sm_120
// CHECK-SM120A: #nvvm.target<O = 3, chip = "sm_120a", features = "+ptx87">{{.*}}assembly = "{{.*}}.version 8.7\0A.target sm_120a
//
// RUN: not squant-opt %s --squant-gpu-pipeline="chip=sm_91" 2>&1 | FileCheck %s --check-prefix=CHECK-CHIP
// RUN: not squant-opt %s --squant-gpu-pipeline="chip=gfx90a" 2>&1 | FileCheck %s --check-prefix=CHECK-CHIP
// CHECK-CHIP: error: squant-gpu-pipeline: unsupported chip '{{.*}}'; supported chips: sm_75, sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_120, sm_120a
// CHECK-CHIP-NOT: LLVM ERROR
//
// RUN: not squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=elf" 2>&1 | FileCheck %s --check-prefix=CHECK-FORMAT
// CHECK-FORMAT: error: squant-gpu-pipeline: unsupported format 'elf'; expected isa (PTX), bin (cubin) or fatbin
//
// A missing ptxas (nothing in the given toolkit, $PATH or the CUDA
// variables) is an error before any compilation.
// RUN: mkdir -p %t.empty
// RUN: env -u CUDA_ROOT -u CUDA_HOME -u CUDA_PATH PATH=%t.empty not %squant_obj/bin/squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=bin toolkit=%t.empty" 2>&1 | FileCheck %s --check-prefix=CHECK-NOPTXAS
// RUN: env -u CUDA_ROOT -u CUDA_HOME -u CUDA_PATH PATH=%t.empty not %squant_obj/bin/squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=fatbin toolkit=%t.empty" 2>&1 | FileCheck %s --check-prefix=CHECK-NOPTXAS
// CHECK-NOPTXAS: error: squant-gpu-pipeline: format={{bin|fatbin}} needs the CUDA tool 'ptxas', which was not found in '{{.*}}.empty/bin', $PATH, $CUDA_ROOT/$CUDA_HOME/$CUDA_PATH or /usr/local/cuda; install the CUDA toolkit, pass toolkit=<dir>, or use format=isa (PTX)
// CHECK-NOPTXAS-NOT: LLVM ERROR

func.func @unpack(%q: tensor<12x64xi32>) -> tensor<64x128xi3> {
  %e = tensor.empty() : tensor<64x128xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<12x64xi32>) outs(%e : tensor<64x128xi3>) -> tensor<64x128xi3>
  return %c : tensor<64x128xi3>
}
