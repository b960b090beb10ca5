// The MLIR 22 parser crashes on dense arrays of index (upstream
// llvm/llvm-project#179045). The squant tools reject such input with a
// located error and exit 1 instead of crashing.
// RUN: not squant-opt %s 2>&1 | FileCheck %s
// RUN: not squant-opt < %s 2>&1 | FileCheck %s --check-prefix=STDIN
// RUN: not squant-run %s --function=f --print 2>&1 | FileCheck %s
// CHECK: known-parser-crash.mlir:[[@LINE+3]]:32: error: dense arrays of 'index' are not supported (the MLIR 22 parser crashes on them: llvm/llvm-project#179045); use i64
// STDIN: <stdin>:[[@LINE+2]]:32: error: dense arrays of 'index'
// In a comment the text is harmless: array<index: 1>
func.func @f() attributes {a = array< index : 1, 2>, s = "array<index>"} {
  return
}
