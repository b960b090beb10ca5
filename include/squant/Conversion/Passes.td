//===- Passes.td - squant conversion passes ----------------*- tablegen -*-===//
//
// Conversions out of the squant dialect (flags convert-squant-to-*), one
// .cpp per pass under lib/Conversion/<Name>/. Alphabetical.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_PASSES_TD
#define SQUANT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // SQUANT_CONVERSION_PASSES_TD
