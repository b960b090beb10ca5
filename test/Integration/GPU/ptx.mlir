// squant-gpu-pipeline to PTX (format=isa): the packed weights and the
// activations are read with 128-bit loads through the read-only path, the
// tables from shared memory, the combine reduces with shuffle butterflies,
// nothing is atomic, and the PTX is self-contained.
//
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=isa" -o %t.90.mlir
// RUN: %python %utils/extract_ptx.py %t.90.mlir -o %t.90.ptx
// RUN: FileCheck %s --input-file=%t.90.ptx --check-prefixes=CHECK,SM90
// RUN: FileCheck %s --input-file=%t.90.ptx --check-prefix=CLEAN
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_80 format=isa" -o %t.80.mlir
// RUN: %python %utils/extract_ptx.py %t.80.mlir -o %t.80.ptx
// RUN: FileCheck %s --input-file=%t.80.ptx --check-prefixes=CHECK,SM80
// RUN: FileCheck %s --input-file=%t.80.ptx --check-prefix=CLEAN
//
// The host side calls the CUDA runtime: the binary is embedded and the
// kernels are launched from LLVM.
// RUN: FileCheck %s --input-file=%t.90.mlir --check-prefix=HOST

// SM90: .version 7.8
// SM90: .target sm_90
// SM80: .version 7.0
// SM80: .target sm_80

// No atomics; no calls into libdevice (nothing to link).
// CLEAN-NOT: {{^[[:space:]]*atom\.}}
// CLEAN-NOT: {{^[[:space:]]*red\.}}
// CLEAN-NOT: .extern

// CHECK: .entry lut_matmul_b4_sq_channel_m1_n4096_k4096
// CHECK: .shared .align {{[0-9]+}} .b8 {{.*}}[8192];
// CHECK: ld.global.nc.b16
// CHECK: st.shared.b32
// CHECK: bar.sync 0;
// CHECK: ld.global.nc.v4.b32
// CHECK: ld.global.nc.v4.b32
// CHECK: ld.shared.b32
// CHECK: fma.rn.f32
// CHECK: bar.sync 0;
// CHECK: st.shared.v4.b32
// CHECK: bar.sync 0;
// CHECK: .entry lut_matmul_combine_m1_n4096_k4096_s{{[0-9]+}}_xf16_csri32i32f32_yf16
// CHECK: ld.global.nc.b32
// CHECK-COUNT-5: shfl.sync.bfly.b32
// CHECK: cvt.rn.f16.f32
// CHECK: st.global.b16

// HOST: llvm.func @matvec_w4_csr
// HOST: llvm.call @mgpuStreamCreate
// HOST: llvm.call @mgpuMemAlloc
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @squant_kernels::@lut_matmul_b4_sq_channel_m1_n4096_k4096
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @squant_kernels::@lut_matmul_combine_m1_n4096_k4096
// HOST: llvm.call @mgpuMemFree
// HOST: llvm.call @mgpuStreamSynchronize
// HOST: gpu.binary @squant_kernels
#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>
func.func @matvec_w4_csr(%x: tensor<1x4096xf16>, %q: tensor<512x4096xi32>, %lut: tensor<4096x16xf16>,
                         %rows: tensor<4097xi32>, %cols: tensor<?xi32>, %vals: tensor<?xf32>) -> tensor<1x4096xf16> {
  %ce = tensor.empty() : tensor<4096x4096xi4>
  %codes = squant.unpack squeezellm ins(%q : tensor<512x4096xi32>) outs(%ce : tensor<4096x4096xi4>) -> tensor<4096x4096xi4>
  %S = sparse_tensor.assemble (%rows, %cols), %vals : (tensor<4097xi32>, tensor<?xi32>), tensor<?xf32> to tensor<4096x4096xf32, #CSR>
  %ye = tensor.empty() : tensor<1x4096xf16>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<1x4096xf16>, tensor<4096x4096xi4>, tensor<4096x16xf16>) outliers(%S : tensor<4096x4096xf32, #CSR>) outs(%ye : tensor<1x4096xf16>) -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}
