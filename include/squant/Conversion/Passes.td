//===- Passes.td - squant conversion passes ----------------*- tablegen -*-===//
//
// Conversions out of the squant dialect (flags convert-squant-to-*), one
// .cpp per pass under lib/Conversion/<Name>/. Alphabetical.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_PASSES_TD
#define SQUANT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// SQuantToCPU
//===----------------------------------------------------------------------===//

def ConvertSQuantToCPU : Pass<"convert-squant-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower squant LUT and KV-cache ops to fused CPU kernels";
  let description = [{
    Replaces every `squant.lut_matmul` on tensors by a call to a kernel
    function (one per distinct signature, shared by identical layers) that
    never materializes dequantized weights. When the codes come from
    `squant.unpack` with 2-, 3- or 4-bit codes, the kernel reads the packed
    words directly; SqueezeLLM words (`[K*B/32, N]`) are first transposed
    into the `row_major` layout (`[N, K*B/32]`, the same bit stream per
    output channel), a tensor op that depends only on the weights: this is
    the load-time re-layout (see docs/cpu-kernels.md).

    Kernels by `target`:

    * `avx512`: the table of a row (2^B <= 16 f32) lives in one zmm
      register; codes are broadcast from memory and shifted per lane
      (`vpsrlvd`); one `vpermps` does 16 look-ups; FMA accumulation in f32;
    * `avx2`: the 16 entries in two ymm registers, two `vpermps` and a blend
      per 8 look-ups (one `vpermps` for B <= 3);
    * `generic`: portable scalar loops (no target intrinsics);
    * `auto` (default): the best of these that the host supports, detected
      when the pass runs.

    Every kernel splits output rows across threads (`scf.parallel`, turned
    into OpenMP by `squant-cpu-pipeline`; `threads=1` emits a sequential
    loop), register-blocks M > 1 so that each decoded weight vector serves
    up to 8 rows of `x`, and adds the CSR outliers of a row in the same pass
    (`sparse_tensor.positions/coordinates/values` give the CSR buffers).
    Codes wider than 4 bits, codes that do not come from `squant.unpack`,
    K tails and per-group tables whose group is not a multiple of the
    vector width use the scalar path of the same kernel.

    `squant.lut_dequant` becomes a row-parallel kernel that reads the codes
    straight from the words of its `squant.unpack` (either layout, no codes
    tensor); an `squant.unpack` whose codes are still used gets its own
    row-parallel kernel. These inner loops are scalar.

    The pass runs on tensors, before bufferization: the kernels take
    memrefs (`bufferization.to_buffer` of the operands) and write a fresh
    buffer that becomes the result (`bufferization.to_tensor`). Target
    intrinsics are called through private declarations named after them
    (`func.call @llvm.x86.avx512.permvar.sf.512`), which keeps every op's
    memory effects known to the buffer deallocation pipeline. `pack`,
    `build_lut` and the memref forms of the LUT ops are left for
    `squant-decompose`.

    The KV-cache ops are lowered in their memref form (bufferize first;
    `squant-cpu-pipeline` runs this pass a second time after
    bufferization), so that `kv_append` updates the caches in place:

    * `kv_append`: quantize-on-append, parallel over (batch row, KV head),
      bit-identical to `squant-decompose` (outlier slots by O selection
      passes instead of an O(D^2) ranking);
    * `kv_attention`: fused decode attention, parallel over blocks of
      tokens and (batch row, KV head) items with a deterministic combine of
      the blocks' online-softmax states; keys dequantized in tiles of 16
      (AVX-512) or 8 tokens with per-channel register tables, RoPE with
      cos/sin computed once per position, all query heads of a KV head
      served by one decoding of each key and value (GQA), values decoded in
      register-table chunks; sinks, KIVI residual windows, tails and the
      `generic` target decode token by token;
    * `kv_dequantize`: a parallel scalar kernel.

    KV ops whose operands have a non-unit innermost stride, and
    `kv_attention` with a dynamic number of heads, are left for
    `squant-decompose`. See docs/cpu-kernels.md.
  }];
  let options = [
    Option<"target", "target", "::mlir::squant::CPUTarget",
           "::mlir::squant::CPUTarget::Auto",
           "Instruction set the kernels are written for",
           [{::llvm::cl::values(
             clEnumValN(::mlir::squant::CPUTarget::Auto, "auto",
                        "detect the host CPU when the pass runs"),
             clEnumValN(::mlir::squant::CPUTarget::AVX512, "avx512",
                        "AVX-512 (F, BW, VL): one zmm table per row"),
             clEnumValN(::mlir::squant::CPUTarget::AVX2, "avx2",
                        "AVX2 + FMA: two ymm tables per row"),
             clEnumValN(::mlir::squant::CPUTarget::Generic, "generic",
                        "portable scalar code"))}]>,
    Option<"threads", "threads", "unsigned", "0",
           "Threads the output rows are split across (0: the OpenMP "
           "runtime's default; 1: a sequential loop)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::sparse_tensor::SparseTensorDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

//===----------------------------------------------------------------------===//
// SQuantToGPU
//===----------------------------------------------------------------------===//

def ConvertSQuantToGPU : Pass<"convert-squant-to-gpu", "ModuleOp"> {
  let summary = "Lower squant ops to fused GPU kernels (gpu.func + gpu.launch_func)";
  let description = [{
    Every squant op (`lut_matmul`, `lut_dequant`, `unpack`, `pack`,
    `build_lut`, `kv_append`, `kv_dequantize`, `kv_attention`) becomes one
    fused kernel in `gpu.module @squant_kernels` and a `gpu.launch_func` at
    the op's position; a split-K or outlier matmul, and decode attention,
    add a second, deterministic combine kernel. Weights are never materialized:
    when the codes come from `squant.unpack squeezellm`, the kernels read the
    packed words themselves (128-bit loads of four adjacent output channels,
    3-bit groups of 32 codes in 3 words decoded natively), look the codes up
    in tables staged in shared memory (one bank per lane), accumulate in f32,
    reduce across warps in shared memory and across K splits with warp
    shuffles, and add the CSR outliers in the combine kernel.

    The strategy (channels per thread, rows per thread, warps along K,
    K splits) is chosen per M bucket (1, 2-4, 5-8, 9-64 and beyond or
    dynamic) and recorded on each kernel as `squant.strategy`; identical
    kernels are shared. Works on the tensor form (operands reach the kernel
    through `bufferization.to_buffer`, the result through
    `bufferization.to_tensor`; CSR outliers through their level buffers) and
    on the memref form. See docs/gpu-kernels.md.

    KV-cache ops (docs/kv-cache.md): `kv_append` quantizes new tokens into
    the cache in place (kvquant: a warp per token vector with warp
    arg-max outlier selection; kivi: a block per batch row and KV head that
    resolves residual evictions and key-block flushes); `kv_dequantize` is
    a thread per token vector; `kv_attention` is flash-decoding: blocks
    own several KV heads with all their query heads (GQA) and a split of
    the tokens, walked in tiles (RoPE cos/sin per tile in shared memory,
    lane-per-token scores from wide loads of the packed keys, warp-shuffle
    online softmax, lane-per-channel P.V), then a combine kernel rescales
    and sums the splits in order. On tensors, `kv_append` writes the
    cache tensors' buffers in place (`bufferization.to_buffer`, then
    `materialize_in_destination`) unless the old cache is used later, in
    which case it updates a copy.

    Ops that cannot be lowered (dynamic N or K, empty shapes, non-identity
    layouts, a dynamic number of KV or query heads) get an error at their
    location.
  }];
  let options = [
    Option<"numSMs", "num-sms", "int64_t", /*default=*/"132",
           "Streaming multiprocessors of the target (sizes the K split)">,
    Option<"splitK", "split-k", "int64_t", /*default=*/"0",
           "Force the number of K splits of lut_matmul (0: choose per shape)">,
    Option<"warpsK", "warps-k", "int64_t", /*default=*/"0",
           "Force the warps per block that split K (0: choose per M bucket)">,
    Option<"kvSplits", "kv-splits", "int64_t", /*default=*/"0",
           "Force the number of token splits (blocks along the sequence) of "
           "kv_attention (0: choose per shape)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::sparse_tensor::SparseTensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def SQuantGPUCheckTarget : Pass<"squant-gpu-check-target", "ModuleOp"> {
  let summary = "Validate a GPU target (chip, output format, CUDA tools)";
  let description = [{
    The first step of `squant-gpu-pipeline`: rejects, with an error at the
    module's location, a chip that squant does not know (the NVPTX backend
    would abort on it, or on a PTX version too old for it), an output
    format other than `isa`, `bin` or `fatbin`, and `bin`/`fatbin` when
    `ptxas` (and for `fatbin`, `fatbinary`) cannot be found in
    `<toolkit>/bin`, `$PATH`, or `$CUDA_ROOT`/`$CUDA_HOME`/`$CUDA_PATH`
    or `/usr/local/cuda`. It changes nothing.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip (sm_75 ... sm_90a, sm_100, sm_100a, sm_120, sm_120a)">,
    Option<"format", "format", "std::string", /*default=*/"\"isa\"",
           "Output format: isa (PTX), bin (cubin) or fatbin">,
    Option<"toolkit", "toolkit", "std::string", /*default=*/"\"\"",
           "CUDA toolkit root searched first for ptxas and fatbinary">
  ];
}

def SQuantGPUHostBuffers : Pass<"squant-gpu-host-buffers", "ModuleOp"> {
  let summary = "Place the host functions' buffers in device memory";
  let description = [{
    After bufferization, host functions allocate kernel outputs and
    workspaces with `memref.alloc` (host memory). This pass rewrites every
    allocation that reaches device code to `gpu.alloc`, its
    `memref.dealloc`s to `gpu.dealloc` and the `memref.copy`s touching it to
    `gpu.memcpy`. A buffer reaches device code when it flows (through views
    and casts) into a kernel launch, a `gpu.memcpy`, a copy with device
    memory on the other side, a result of a public function, or a call
    argument the callee treats as device memory; the buffers of public
    functions are device pointers by contract. Other allocations (e.g. the
    pointer arrays of the deallocation helpers) stay on the host. Runs
    after bufferization and buffer deallocation, before
    `gpu-async-region`. A host `memref.load`/`memref.store` of device
    memory is an error, and so is a host constant (`memref.get_global`)
    that reaches device code other than by a copy.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def SQuantGPULaunchToLoops : Pass<"squant-gpu-launch-to-loops", "ModuleOp"> {
  let summary = "Run GPU kernels sequentially on the host (testing)";
  let description = [{
    Replaces every `gpu.launch_func` by loops that execute the kernel body
    on the host: three loops over the grid and, per block, the kernel body
    cut at each top-level `gpu.barrier` and `gpu.shuffle` into phases, each
    phase a loop over the block's threads. Values live across a cut are
    kept per thread in buffers; a shuffle reads its partner lane's value
    from the buffer. Workgroup memory becomes a host buffer. The result
    runs through `squant-cpu-pipeline` (e.g. with `squant-run`), so kernel
    indexing is tested against the reference on a machine without a GPU.

    Barriers and shuffles must be at the top level of the kernel body, or
    at the top level of the body of an `scf.for` at such a level (a sync
    loop: it runs as a host loop around the phases of its body; its bounds
    must be the same for all threads of a block, as a GPU requires, and
    are read from thread 0; its iteration arguments are kept per thread).
    Other nesting, private memory and other cross-lane ops are reported as
    errors. Alignment hints on vector loads and stores are dropped (host
    buffers are not 16-byte aligned).

    With `reverse`, the blocks of every grid and the threads of every phase
    run in reverse order: a kernel whose result depends on the order of
    threads between two barriers (a race on a GPU) then gives a different
    result, which a test comparing both orders catches.
  }];
  let options = [
    Option<"reverse", "reverse", "bool", /*default=*/"false",
           "Run blocks and the threads of each phase in reverse order">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def SQuantNVVMExp2 : Pass<"squant-nvvm-exp2", "ModuleOp"> {
  let summary = "Lower f32 math.exp2 in GPU modules to ex2.approx.f32";
  let description = [{
    Rewrites every f32 `math.exp2` inside a `gpu.module` to a call of the
    NVVM intrinsic `llvm.nvvm.ex2.approx.f32` (the PTX instruction
    `ex2.approx.f32`, relative error about 2^-22), as flash-attention
    kernels do for their softmax. Without it, the NVVM lowering would call
    libdevice's `__nv_exp2f` (unresolved when the PTX is emitted without a
    CUDA toolkit), and `llvm.intr.exp2` is rejected by
    `convert-gpu-to-nvvm`. Kernel bodies keep `math.exp2` so that
    `squant-gpu-launch-to-loops` can run them on the host. Runs before
    `convert-math-to-llvm` in `squant-gpu-pipeline`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def SQuantNVVMInvariantLoads : Pass<"squant-nvvm-invariant-loads", "ModuleOp"> {
  let summary = "Mark kernel loads from read-only arguments invariant";
  let description = [{
    Runs on the LLVM dialect inside `gpu.module`s (after
    `convert-gpu-to-nvvm`). A load in a kernel whose address is a
    `getelementptr` chain rooted at a kernel argument carrying
    `llvm.readonly` gets the `invariant` flag, and read-only pointer
    arguments get `noalias`; NVPTX selects either as `ld.global.nc` (the
    read-only data cache). `convert-squant-to-gpu`
    marks exactly the buffers a kernel only reads; the memref calling
    convention cannot carry `noalias`, which NVPTX would otherwise need.
  }];
}

#endif // SQUANT_CONVERSION_PASSES_TD
