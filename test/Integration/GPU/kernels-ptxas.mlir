// REQUIRES: ptxas
// The other kernels and buckets (M = 3, 8, 64 and dynamic; 2- and 8-bit;
// global, per-group tables; unpacked codes; CSR outliers; f32 and bf16;
// unpack, pack, dequant, build_lut) assemble for sm_80 and sm_90 with no
// spills and no stack frame.
//
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_80 format=isa" -o %t.80.mlir
// RUN: %python %utils/extract_ptx.py %t.80.mlir -o %t.80.ptx
// RUN: %python %utils/ptxas_report.py --ptxas %ptxas --arch sm_80 --no-spill %t.80.ptx | FileCheck %s
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=isa" -o %t.90.mlir
// RUN: %python %utils/extract_ptx.py %t.90.mlir -o %t.90.ptx
// RUN: %python %utils/ptxas_report.py --ptxas %ptxas --arch sm_90 --no-spill %t.90.ptx | FileCheck %s
//
// CHECK-DAG: build_lut_affine_n{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_dequant_b3_sq{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b2_sq_global_m3{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b3_sq_channel_m8{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b4_sq_group32_mdyn{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b4_sq_channel_m64{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b8_sq_channel_m1{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_b4_codes_channel_m2{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: lut_matmul_combine_mdyn{{.*}}csr{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: pack_squeezellm_b3{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK-DAG: unpack_row_major_b4{{.*}}: {{[0-9]+}} registers, 0 bytes spilled, 0 bytes stack
// CHECK: OK {{[0-9]+}} kernels assembled

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>

func.func @m3_w2_global(%x: tensor<3x4096xf32>, %q: tensor<256x4096xi32>, %lut: tensor<4xf32>) -> tensor<3x4096xf32> {
  %ce = tensor.empty() : tensor<4096x4096xi2>
  %c = squant.unpack squeezellm ins(%q : tensor<256x4096xi32>) outs(%ce : tensor<4096x4096xi2>) -> tensor<4096x4096xi2>
  %ye = tensor.empty() : tensor<3x4096xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<3x4096xf32>, tensor<4096x4096xi2>, tensor<4xf32>) outs(%ye : tensor<3x4096xf32>) -> tensor<3x4096xf32>
  return %y : tensor<3x4096xf32>
}

func.func @m8_w3(%x: tensor<8x4096xbf16>, %q: tensor<384x11008xi32>, %lut: tensor<11008x8xf32>) -> tensor<8x11008xbf16> {
  %ce = tensor.empty() : tensor<11008x4096xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<384x11008xi32>) outs(%ce : tensor<11008x4096xi3>) -> tensor<11008x4096xi3>
  %ye = tensor.empty() : tensor<8x11008xbf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<8x4096xbf16>, tensor<11008x4096xi3>, tensor<11008x8xf32>) outs(%ye : tensor<8x11008xbf16>) -> tensor<8x11008xbf16>
  return %y : tensor<8x11008xbf16>
}

func.func @dyn_w4_groups_csr(%x: tensor<?x4096xf16>, %q: tensor<512x4096xi32>, %lut: tensor<4096x32x16xf16>,
                             %rows: tensor<4097xi32>, %cols: tensor<?xi32>, %vals: tensor<?xf32>) -> tensor<?x4096xf16> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x4096xf16>
  %ce = tensor.empty() : tensor<4096x4096xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<512x4096xi32>) outs(%ce : tensor<4096x4096xi4>) -> tensor<4096x4096xi4>
  %S = sparse_tensor.assemble (%rows, %cols), %vals : (tensor<4097xi32>, tensor<?xi32>), tensor<?xf32> to tensor<4096x4096xf32, #CSR>
  %ye = tensor.empty(%m) : tensor<?x4096xf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<?x4096xf16>, tensor<4096x4096xi4>, tensor<4096x32x16xf16>) outliers(%S : tensor<4096x4096xf32, #CSR>) outs(%ye : tensor<?x4096xf16>) -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

func.func @m64_w4(%x: tensor<64x4096xf16>, %q: tensor<512x4096xi32>, %lut: tensor<4096x16xf16>) -> tensor<64x4096xf16> {
  %ce = tensor.empty() : tensor<4096x4096xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<512x4096xi32>) outs(%ce : tensor<4096x4096xi4>) -> tensor<4096x4096xi4>
  %ye = tensor.empty() : tensor<64x4096xf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<64x4096xf16>, tensor<4096x4096xi4>, tensor<4096x16xf16>) outs(%ye : tensor<64x4096xf16>) -> tensor<64x4096xf16>
  return %y : tensor<64x4096xf16>
}

func.func @m1_w8(%x: tensor<1x4096xf16>, %q: tensor<1024x4096xi32>, %lut: tensor<4096x256xf16>) -> tensor<1x4096xf16> {
  %ce = tensor.empty() : tensor<4096x4096xi8>
  %c = squant.unpack squeezellm ins(%q : tensor<1024x4096xi32>) outs(%ce : tensor<4096x4096xi8>) -> tensor<4096x4096xi8>
  %ye = tensor.empty() : tensor<1x4096xf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x4096xf16>, tensor<4096x4096xi8>, tensor<4096x256xf16>) outs(%ye : tensor<1x4096xf16>) -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

func.func @m2_codes(%x: tensor<2x4096xf16>, %c: tensor<4096x4096xi4>, %lut: tensor<4096x16xf16>) -> tensor<2x4096xf16> {
  %ye = tensor.empty() : tensor<2x4096xf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<2x4096xf16>, tensor<4096x4096xi4>, tensor<4096x16xf16>) outs(%ye : tensor<2x4096xf16>) -> tensor<2x4096xf16>
  return %y : tensor<2x4096xf16>
}

func.func @dequant_w3(%q: tensor<384x4096xi32>, %lut: tensor<4096x8xf16>) -> tensor<4096x4096xf16> {
  %ce = tensor.empty() : tensor<4096x4096xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<384x4096xi32>) outs(%ce : tensor<4096x4096xi3>) -> tensor<4096x4096xi3>
  %we = tensor.empty() : tensor<4096x4096xf16>
  %w = squant.lut_dequant ins(%c, %lut : tensor<4096x4096xi3>, tensor<4096x8xf16>) outs(%we : tensor<4096x4096xf16>) -> tensor<4096x4096xf16>
  return %w : tensor<4096x4096xf16>
}

func.func @pack_unpack(%c: tensor<4096x4096xi3>, %r: tensor<4096x512xi32>) -> (tensor<384x4096xi32>, tensor<4096x4096xi4>) {
  %pe = tensor.empty() : tensor<384x4096xi32>
  %p = squant.pack squeezellm ins(%c : tensor<4096x4096xi3>) outs(%pe : tensor<384x4096xi32>) -> tensor<384x4096xi32>
  %ue = tensor.empty() : tensor<4096x4096xi4>
  %u = squant.unpack row_major ins(%r : tensor<4096x512xi32>) outs(%ue : tensor<4096x4096xi4>) -> tensor<4096x4096xi4>
  return %p, %u : tensor<384x4096xi32>, tensor<4096x4096xi4>
}

func.func @gptq_tables(%s: tensor<4096x32xf16>, %z: tensor<4096x32xi8>) -> tensor<4096x32x16xf16> {
  %e = tensor.empty() : tensor<4096x32x16xf16>
  %l = squant.build_lut affine scale(%s : tensor<4096x32xf16>) zero(%z : tensor<4096x32xi8>) outs(%e : tensor<4096x32x16xf16>) -> tensor<4096x32x16xf16>
  return %l : tensor<4096x32x16xf16>
}
