// squant-gpu-pipeline on a decode step over a KVQuant cache (LLaMA-7B GQA
// shapes: 8 KV heads, 32 query heads, head dim 128, 3-bit, a sink and 2
// outlier slots) and a KIVI append, to PTX (format=isa):
//  * the packed codes are read with 128-bit read-only loads
//    (ld.global.nc.v4.b32: 48-byte token vectors in three loads);
//  * barriers, warp butterflies (shfl.sync.bfly), exp2 on the hardware
//    unit (ex2.approx.f32, no libdevice), shared-memory tables;
//  * f32 arithmetic is not contracted (mul.rn/add.rn/sub.rn, div.rn): the
//    cache the append kernels write is bit-exact with the reference;
//  * no atomics anywhere, no external calls.
//
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_90 format=isa" -o %t.90.mlir
// RUN: %python %utils/extract_ptx.py %t.90.mlir -o %t.90.ptx
// RUN: FileCheck %s --input-file=%t.90.ptx
// RUN: FileCheck %s --input-file=%t.90.ptx --check-prefix=CLEAN
// RUN: FileCheck %s --input-file=%t.90.mlir --check-prefix=HOST
// RUN: squant-opt %s --squant-gpu-pipeline="chip=sm_80 format=isa" -o %t.80.mlir
// RUN: %python %utils/extract_ptx.py %t.80.mlir -o %t.80.ptx
// RUN: FileCheck %s --input-file=%t.80.ptx
// RUN: FileCheck %s --input-file=%t.80.ptx --check-prefix=CLEAN

// CLEAN-NOT: {{^[[:space:]]*atom\.}}
// CLEAN-NOT: {{^[[:space:]]*red\.}}
// CLEAN-NOT: .extern


// The kivi append: min/max groups, an IEEE division for the scale.
// CHECK-LABEL: .entry kv_append_kivi_b2
// CHECK: div.rn.f32
// CHECK: bar.sync 0;
// CHECK: bar.sync 0;
// CHECK: ret;
//
// The attention kernel: a register budget, shared memory, wide loads of
// the packed key and value codes, the online softmax.
// CHECK-LABEL: .entry kv_attention_kvq_b3_g0_s1_r0_o2_d128_h8_l4096
// CHECK: .maxnreg 144
// CHECK: .shared .align 16 .b8
// CHECK: bar.sync 0;
// CHECK: ld.global.nc.v4.b32
// CHECK-NEXT: ld.global.nc.v4.b32
// CHECK-NEXT: ld.global.nc.v4.b32
// CHECK: st.shared.b32
// CHECK: ld.global.nc.v4.b32
// CHECK-NEXT: ld.global.nc.v4.b32
// CHECK-NEXT: ld.global.nc.v4.b32
// CHECK: ld.shared.v4.b32
// CHECK: mul.rn.f32
// CHECK: fma.rn.f32
// CHECK: bar.sync 0;
// CHECK: shfl.sync.bfly.b32
// CHECK: ex2.approx.f32
// CHECK: shfl.sync.bfly.b32
// CHECK: bar.sync 0;
// CHECK: ret;
//
// The combine kernel: a plain loop over the splits.
// CHECK-LABEL: .entry kv_attention_combine_hq32_d128_s{{[0-9]+}}_of16
// CHECK-NOT: bar.sync
// CHECK-NOT: shfl.sync
// CHECK: ex2.approx.f32
// CHECK: div.rn.f32
// CHECK: cvt.rn.f16.f32
// CHECK: ret;
//
// The kvquant append: nearest entries (sub.rn, no contraction), warp
// arg-max butterflies, a barrier, 32-bit stores of packed codes.
// CHECK-LABEL: .entry kv_append_kvq_b3
// CHECK: sub.rn.f32
// CHECK: shfl.sync.bfly.b32
// CHECK: bar.sync 0;
// CHECK: st.global.b32
// CHECK: ret;


// HOST: llvm.func @decode_step
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @squant_kernels::@kv_append_kvq_b3
// HOST: llvm.call @mgpuMemAlloc
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @squant_kernels::@kv_attention_kvq_b3
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @squant_kernels::@kv_attention_combine
// HOST: llvm.call @mgpuMemFree
// HOST: gpu.binary @squant_kernels

#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
func.func @decode_step(%k: tensor<1x8x1x128xf16>, %v: tensor<1x8x1x128xf16>, %q: tensor<1x32x128xf16>, %pos: index, %len: index,
    %klut: tensor<8x128x8xf32>, %vlut: tensor<8xf32>,
    %kc: tensor<1x8x4096x48xi8>, %vc: tensor<1x8x4096x48xi8>, %vs: tensor<1x8x4096xf16>,
    %kov: tensor<1x8x4096x2xf16>, %koi: tensor<1x8x4096x2xi8>, %vov: tensor<1x8x4096x2xf16>, %voi: tensor<1x8x4096x2xi8>,
    %ks: tensor<1x8x1x128xf16>, %vsk: tensor<1x8x1x128xf16>) -> tensor<1x32x128xf16> {
  %c:9 = squant.kv_append #kvq keys(%k : tensor<1x8x1x128xf16>) values(%v : tensor<1x8x1x128xf16>) at(%pos)
     tables(%klut, %vlut : tensor<8x128x8xf32>, tensor<8xf32>)
     cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : tensor<1x8x4096x48xi8>, tensor<1x8x4096x48xi8>, tensor<1x8x4096xf16>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x1x128xf16>, tensor<1x8x1x128xf16>)
     -> tensor<1x8x4096x48xi8>, tensor<1x8x4096x48xi8>, tensor<1x8x4096xf16>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x1x128xf16>, tensor<1x8x1x128xf16>
  %e = tensor.empty() : tensor<1x32x128xf16>
  %o = squant.kv_attention #kvq query(%q : tensor<1x32x128xf16>) len(%len) position(%pos)
     tables(%klut, %vlut : tensor<8x128x8xf32>, tensor<8xf32>)
     cache(%c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7, %c#8 : tensor<1x8x4096x48xi8>, tensor<1x8x4096x48xi8>, tensor<1x8x4096xf16>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>, tensor<1x8x1x128xf16>, tensor<1x8x1x128xf16>)
     rope(half) outs(%e : tensor<1x32x128xf16>) -> tensor<1x32x128xf16>
  return %o : tensor<1x32x128xf16>
}

#kivi = #squant.kv_format<kivi, bits = 2, group = 32, residual = 64>
func.func @append_kivi(%k: tensor<1x4x1x128xf16>, %v: tensor<1x4x1x128xf16>, %pos: index,
    %kc: tensor<1x4x256x32xi8>, %vc: tensor<1x4x256x32xi8>, %ks: tensor<1x4x8x128xf16>, %kz: tensor<1x4x8x128xf16>,
    %vs: tensor<1x4x256x4xf16>, %vz: tensor<1x4x256x4xf16>, %kr: tensor<1x4x64x128xf16>, %vr: tensor<1x4x64x128xf16>) -> tensor<1x4x256x32xi8> {
  %r:8 = squant.kv_append #kivi keys(%k : tensor<1x4x1x128xf16>) values(%v : tensor<1x4x1x128xf16>) at(%pos)
     cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : tensor<1x4x256x32xi8>, tensor<1x4x256x32xi8>, tensor<1x4x8x128xf16>, tensor<1x4x8x128xf16>, tensor<1x4x256x4xf16>, tensor<1x4x256x4xf16>, tensor<1x4x64x128xf16>, tensor<1x4x64x128xf16>)
     -> tensor<1x4x256x32xi8>, tensor<1x4x256x32xi8>, tensor<1x4x8x128xf16>, tensor<1x4x8x128xf16>, tensor<1x4x256x4xf16>, tensor<1x4x256x4xf16>, tensor<1x4x64x128xf16>, tensor<1x4x64x128xf16>
  return %r#0 : tensor<1x4x256x32xi8>
}
