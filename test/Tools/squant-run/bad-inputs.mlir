// Hostile and malformed inputs to squant-run: each gets a clear message and a
// non-zero exit, never a crash (`not` fails on a crash).
//
// RUN: rm -rf %t && %python %utils/make_bad_safetensors.py %t
// RUN: squant-run %s --function=double --inputs=%t/good.safetensors --print | FileCheck %s --check-prefix=CHECK-GOOD
// CHECK-GOOD: y: [1, 4] f32
// CHECK-GOOD-NEXT: 2 4 6 8
//
// RUN: not squant-run %s --function=double --inputs=%t/truncated.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-TRUNC
// CHECK-TRUNC: squant-run: error: {{.*}}truncated.safetensors: tensor 'x': data_offsets [0, 16] lie outside the 11-byte data section (truncated file?)
// RUN: not squant-run %s --function=double --inputs=%t/tiny.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-TINY
// CHECK-TINY: tiny.safetensors: truncated file: 5 bytes, a safetensors header needs 8 (length) + the JSON
// RUN: not squant-run %s --function=double --inputs=%t/empty.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-EMPTY
// CHECK-EMPTY: empty.safetensors: truncated file: 0 bytes, a safetensors header needs 8
// RUN: not squant-run %s --function=double --inputs=%t/huge_header_length.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-HUGE
// CHECK-HUGE: header length 4611686018427387904 exceeds the 100 MB limit
// RUN: not squant-run %s --function=double --inputs=%t/header_past_end.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-PAST
// CHECK-PAST: header length 1000 exceeds the 2 bytes that follow it (truncated file?)
// RUN: not squant-run %s --function=double --inputs=%t/bad_json.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-JSON
// CHECK-JSON: bad_json.safetensors: invalid JSON header:
// RUN: not squant-run %s --function=double --inputs=%t/not_object.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-NOTOBJ
// CHECK-NOTOBJ: JSON header is not an object
// RUN: not squant-run %s --function=double --inputs=%t/unknown_dtype.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-DTYPE
// CHECK-DTYPE: tensor 'x': unknown dtype 'F7'
// RUN: not squant-run %s --function=double --inputs=%t/negative_shape.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-NEG
// CHECK-NEG: tensor 'x': shape entries must be non-negative integers
// RUN: not squant-run %s --function=double --inputs=%t/overflow_shape.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-OVF
// CHECK-OVF: tensor 'x': shape size overflows int64
// RUN: not squant-run %s --function=double --inputs=%t/size_mismatch.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-SIZE
// CHECK-SIZE: tensor 'x': shape and dtype F32 need 8 bytes but data_offsets span 4
// RUN: not squant-run %s --function=double --inputs=%t/offsets_outside.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-OUTSIDE
// CHECK-OUTSIDE: tensor 'x': data_offsets [4, 8] lie outside the 4-byte data section
// RUN: not squant-run %s --function=double --inputs=%t/offsets_reversed.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-REV
// CHECK-REV: tensor 'x': 'data_offsets' must be integers with 0 <= begin <= end
// RUN: not squant-run %s --function=double --inputs=%t/overlap.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-OVERLAP
// CHECK-OVERLAP: tensors 'a' and 'b' overlap
// RUN: not squant-run %s --function=double --inputs=%t/missing_offsets.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-NOOFF
// CHECK-NOOFF: tensor 'x': missing 'data_offsets' [begin, end]
// RUN: not squant-run %s --function=double --inputs=%t/bad_metadata.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-META
// CHECK-META: '__metadata__' value of 'k' is not a string
// RUN: not squant-run %s --function=double --inputs=%t/does_not_exist.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-MISSINGFILE
// CHECK-MISSINGFILE: does_not_exist.safetensors: cannot open
// RUN: mkdir -p %t/dir.safetensors && not squant-run %s --function=double --inputs=%t/dir.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-DIR
// CHECK-DIR: dir.safetensors: not a regular file
//
// Well-formed files that do not fit the function: the diagnostic points at
// the argument.
// RUN: not squant-run %s --function=double --inputs=%t/wrong_dtype.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-WDTYPE
// CHECK-WDTYPE: bad-inputs.mlir:[[@LINE+30]]:{{[0-9]+}}: error: argument #0: tensor 'x' has dtype F16, which cannot be bound to element type f32
// RUN: not squant-run %s --function=double --inputs=%t/wrong_shape.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-WSHAPE
// CHECK-WSHAPE: error: argument #0: tensor 'x' has shape [2, 2], expected [1, 4]
// RUN: not squant-run %s --function=double --inputs=%t/wrong_name.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-WNAME
// CHECK-WNAME: error: argument #0: tensor 'x' not found in {{.*}}wrong_name.safetensors
// RUN: not squant-run %s --function=codes --inputs=%t/codes_out_of_range.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-CODES
// CHECK-CODES: error: argument #0: value 9 of element 2 of tensor 'c' does not fit in i3
// RUN: squant-run %s --function=codes --inputs=%t/codes_ok.safetensors --print | FileCheck %s --check-prefix=CHECK-CODESOK
// CHECK-CODESOK: r: [1, 4] f32
// CHECK-CODESOK-NEXT: 1 2 7 3
//
// Bad command lines and functions.
// RUN: not squant-run %s --function=nope --inputs=%t/good.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-UNKNOWN
// CHECK-UNKNOWN: error: unknown function 'nope' (functions: double, codes, unnamed)
// RUN: not squant-run %s --function=double --print 2>&1 | FileCheck %s --check-prefix=CHECK-NOINPUTS
// CHECK-NOINPUTS: error: 'double' takes arguments: pass --inputs=FILE
// RUN: not squant-run %s --function=double --inputs=%t/good.safetensors 2>&1 | FileCheck %s --check-prefix=CHECK-NOOUT
// CHECK-NOOUT: squant-run: error: nothing to do with the results: pass --outputs=FILE and/or --print
// RUN: not squant-run %s --function=unnamed --inputs=%t/good.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-UNNAMED
// CHECK-UNNAMED: error: argument #0 has no name: give it a {squant.name = "..."} attribute or pass --arg
// RUN: squant-run %s --function=unnamed --arg=x --inputs=%t/good.safetensors --print | FileCheck %s --check-prefix=CHECK-ARGOK
// CHECK-ARGOK: result0: [1, 4] f32
// CHECK-ARGOK-NEXT: 2 4 6 8
// RUN: not squant-run %s --function=unnamed --arg=x,y --inputs=%t/good.safetensors --print 2>&1 | FileCheck %s --check-prefix=CHECK-ARGS
// CHECK-ARGS: error: --arg names 2 tensors but 'unnamed' takes 1 arguments
// RUN: not squant-run %s --function=double --inputs=%t/good.safetensors --print --pipeline-options="kernels=bogus" 2>&1 | FileCheck %s --check-prefix=CHECK-OPTS
// CHECK-OPTS: squant-run: error: invalid --pipeline-options 'kernels=bogus'
// RUN: not squant-run %t/nothing.mlir --function=double --print 2>&1 | FileCheck %s --check-prefix=CHECK-NOFILE
// CHECK-NOFILE: squant-run: error: cannot open input file '{{.*}}nothing.mlir': No such file or directory

func.func @double(%x: tensor<1x4xf32> {squant.name = "x"}) -> (tensor<1x4xf32> {squant.name = "y"}) {
  %e = tensor.empty() : tensor<1x4xf32>
  %y = linalg.add ins(%x, %x : tensor<1x4xf32>, tensor<1x4xf32>) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

func.func @codes(%c: tensor<1x4xi3> {squant.name = "c"}) -> (tensor<1x4xf32> {squant.name = "r"}) {
  %t = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>
  %e = tensor.empty() : tensor<1x4xf32>
  %r = squant.lut_dequant ins(%c, %t : tensor<1x4xi3>, tensor<8xf32>) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %r : tensor<1x4xf32>
}

func.func @unnamed(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %e = tensor.empty() : tensor<1x4xf32>
  %y = linalg.add ins(%x, %x : tensor<1x4xf32>, tensor<1x4xf32>) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}
