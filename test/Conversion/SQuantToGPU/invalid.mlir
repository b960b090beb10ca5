// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu -verify-diagnostics

func.func @dynamic_n(%x: tensor<1x64xf32>, %c: tensor<?x64xi4>, %l: tensor<?x16xf32>, %y: tensor<1x?xf32>) -> tensor<1x?xf32> {
  // expected-error @+1 {{'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need static N and K (codes shape)}}
  %r = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<?x64xi4>, tensor<?x16xf32>) outs(%y : tensor<1x?xf32>) -> tensor<1x?xf32>
  return %r : tensor<1x?xf32>
}

// -----

func.func @dynamic_groups(%x: tensor<1x64xf32>, %c: tensor<8x64xi4>, %l: tensor<8x?x16xf32>, %y: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error @+1 {{'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need a static number of table groups}}
  %r = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x?x16xf32>) outs(%y : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %r : tensor<1x8xf32>
}

// -----

func.func @strided(%x: memref<1x64xf32, strided<[128, 1]>>, %c: memref<8x64xi4>, %l: memref<8x16xf32>, %y: memref<1x8xf32>) {
  // expected-error @+1 {{'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need identity-layout memrefs in the default memory space}}
  squant.lut_matmul ins(%x, %c, %l : memref<1x64xf32, strided<[128, 1]>>, memref<8x64xi4>, memref<8x16xf32>) outs(%y : memref<1x8xf32>)
  return
}

// -----

func.func @dequant_dynamic(%c: tensor<8x?xi4>, %l: tensor<8x16xf32>, %w: tensor<8x?xf32>) -> tensor<8x?xf32> {
  // expected-error @+1 {{'squant.lut_dequant' op cannot be lowered to GPU kernels: the GPU kernels need static N and K (codes shape)}}
  %r = squant.lut_dequant ins(%c, %l : tensor<8x?xi4>, tensor<8x16xf32>) outs(%w : tensor<8x?xf32>) -> tensor<8x?xf32>
  return %r : tensor<8x?xf32>
}

// -----

func.func @dequant_groups(%c: tensor<8x64xi4>, %l: tensor<8x?x16xf32>, %w: tensor<8x64xf32>) -> tensor<8x64xf32> {
  // expected-error @+1 {{'squant.lut_dequant' op cannot be lowered to GPU kernels: the GPU kernels need a static number of table groups}}
  %r = squant.lut_dequant ins(%c, %l : tensor<8x64xi4>, tensor<8x?x16xf32>) outs(%w : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}

// -----

func.func @dequant_space(%c: memref<8x64xi4, 1>, %l: memref<8x16xf32>, %w: memref<8x64xf32>) {
  // expected-error @+1 {{'squant.lut_dequant' op cannot be lowered to GPU kernels: the GPU kernels need identity-layout memrefs in the default memory space}}
  squant.lut_dequant ins(%c, %l : memref<8x64xi4, 1>, memref<8x16xf32>) outs(%w : memref<8x64xf32>)
  return
}

// -----

func.func @unpack_dynamic(%q: tensor<8x?xi32>, %c: tensor<?x64xi4>) -> tensor<?x64xi4> {
  // expected-error @+1 {{'squant.unpack' op cannot be lowered to GPU kernels: the GPU kernels need static N and K (codes shape)}}
  %r = squant.unpack squeezellm ins(%q : tensor<8x?xi32>) outs(%c : tensor<?x64xi4>) -> tensor<?x64xi4>
  return %r : tensor<?x64xi4>
}

// -----

func.func @unpack_strided(%q: memref<8x8xi32, strided<[16, 1]>>, %c: memref<8x64xi4>) {
  // expected-error @+1 {{'squant.unpack' op cannot be lowered to GPU kernels: the GPU kernels need identity-layout memrefs in the default memory space}}
  squant.unpack squeezellm ins(%q : memref<8x8xi32, strided<[16, 1]>>) outs(%c : memref<8x64xi4>)
  return
}

// -----

func.func @pack_dynamic(%c: tensor<?x64xi4>, %q: tensor<8x?xi32>) -> tensor<8x?xi32> {
  // expected-error @+1 {{'squant.pack' op cannot be lowered to GPU kernels: the GPU kernels need static N and K (codes shape)}}
  %r = squant.pack squeezellm ins(%c : tensor<?x64xi4>) outs(%q : tensor<8x?xi32>) -> tensor<8x?xi32>
  return %r : tensor<8x?xi32>
}

// -----

func.func @pack_strided(%c: memref<8x64xi4, strided<[128, 1]>>, %q: memref<8x8xi32>) {
  // expected-error @+1 {{'squant.pack' op cannot be lowered to GPU kernels: the GPU kernels need identity-layout memrefs in the default memory space}}
  squant.pack squeezellm ins(%c : memref<8x64xi4, strided<[128, 1]>>) outs(%q : memref<8x8xi32>)
  return
}

// -----

func.func @build_dynamic(%s: tensor<?xf32>, %t: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'squant.build_lut' op cannot be lowered to GPU kernels: the GPU kernels need a static table shape}}
  %r = squant.build_lut nf4 scale(%s : tensor<?xf32>) outs(%t : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %r : tensor<?x16xf32>
}

// -----

func.func @build_strided(%s: memref<8xf32, strided<[2]>>, %t: memref<8x16xf32>) {
  // expected-error @+1 {{'squant.build_lut' op cannot be lowered to GPU kernels: the GPU kernels need identity-layout memrefs in the default memory space}}
  squant.build_lut nf4 scale(%s : memref<8xf32, strided<[2]>>) outs(%t : memref<8x16xf32>)
  return
}

// -----

func.func @empty_k(%x: tensor<1x0xf32>, %c: tensor<8x0xi4>, %l: tensor<8x16xf32>, %y: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error @+1 {{'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need N > 0 and K > 0}}
  %r = squant.lut_matmul ins(%x, %c, %l : tensor<1x0xf32>, tensor<8x0xi4>, tensor<8x16xf32>) outs(%y : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %r : tensor<1x8xf32>
}

// -----

func.func @empty_unpack(%q: tensor<0x8xi32>, %c: tensor<8x0xi4>) -> tensor<8x0xi4> {
  // expected-error @+1 {{'squant.unpack' op cannot be lowered to GPU kernels: the GPU kernels need N > 0 and K > 0}}
  %r = squant.unpack squeezellm ins(%q : tensor<0x8xi32>) outs(%c : tensor<8x0xi4>) -> tensor<8x0xi4>
  return %r : tensor<8x0xi4>
}

// -----

func.func @empty_table(%s: tensor<0xf32>, %t: tensor<0x16xf32>) -> tensor<0x16xf32> {
  // expected-error @+1 {{'squant.build_lut' op cannot be lowered to GPU kernels: the GPU kernels need a non-empty table}}
  %r = squant.build_lut nf4 scale(%s : tensor<0xf32>) outs(%t : tensor<0x16xf32>) -> tensor<0x16xf32>
  return %r : tensor<0x16xf32>
}

// -----

func.func @x_dynamic_k(%x: tensor<1x?xf32>, %c: tensor<8x64xi4>, %l: tensor<8x16xf32>, %y: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error @+1 {{'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need a static K (x shape)}}
  %r = squant.lut_matmul ins(%x, %c, %l : tensor<1x?xf32>, tensor<8x64xi4>, tensor<8x16xf32>) outs(%y : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %r : tensor<1x8xf32>
}

// -----

func.func @dequant_empty(%c: tensor<0x64xi4>, %l: tensor<0x16xf32>, %w: tensor<0x64xf32>) -> tensor<0x64xf32> {
  // expected-error @+1 {{'squant.lut_dequant' op cannot be lowered to GPU kernels: the GPU kernels need N > 0 and K > 0}}
  %r = squant.lut_dequant ins(%c, %l : tensor<0x64xi4>, tensor<0x16xf32>) outs(%w : tensor<0x64xf32>) -> tensor<0x64xf32>
  return %r : tensor<0x64xf32>
}

// -----

func.func @pack_empty(%c: tensor<0x64xi4>, %q: tensor<8x0xi32>) -> tensor<8x0xi32> {
  // expected-error @+1 {{'squant.pack' op cannot be lowered to GPU kernels: the GPU kernels need N > 0 and K > 0}}
  %r = squant.pack squeezellm ins(%c : tensor<0x64xi4>) outs(%q : tensor<8x0xi32>) -> tensor<8x0xi32>
  return %r : tensor<8x0xi32>
}
