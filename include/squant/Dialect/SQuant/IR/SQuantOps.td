//===- SQuantOps.td - squant operations (root) -------------*- tablegen -*-===//
//
// Common base classes; the ops themselves live in one file per area.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_TD

include "squant/Dialect/SQuant/IR/SQuantBase.td"
include "squant/Dialect/SQuant/IR/SQuantAttrs.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

/// A ranked tensor (value semantics) or a ranked memref (after bufferization).
def SQuant_Shaped : AnyTypeOf<[AnyRankedTensor, AnyMemRef],
                              "ranked tensor or memref">;

class SQuant_Op<string mnemonic, list<Trait> traits = []>
    : Op<SQuant_Dialect, mnemonic, traits>;

/// Destination-style op with one `init` operand: on tensors it returns one
/// result of the init's type; on memrefs it returns nothing and writes init.
class SQuant_DpsOp<string mnemonic, list<Trait> traits = []>
    : SQuant_Op<mnemonic, !listconcat([
        DestinationStyleOpInterface,
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>], traits)> {
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let hasVerifier = 1;
  code dpsExtraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() { return getInitMutable(); }
    /// True when the op works on tensors (before bufferization).
    bool hasPureTensorSemantics() {
      return ::llvm::isa<::mlir::RankedTensorType>(getInit().getType());
    }
  }];
  let extraClassDeclaration = dpsExtraClassDeclaration;
}

include "squant/Dialect/SQuant/IR/SQuantLUTOps.td"
include "squant/Dialect/SQuant/IR/SQuantKVCacheOps.td"

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_TD
