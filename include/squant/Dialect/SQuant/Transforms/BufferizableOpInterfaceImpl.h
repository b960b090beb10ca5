//===- BufferizableOpInterfaceImpl.h - squant bufferization -----*- C++ -*-===//

#ifndef SQUANT_DIALECT_SQUANT_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define SQUANT_DIALECT_SQUANT_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;

namespace squant {
/// Attaches BufferizableOpInterface external models to the squant ops.
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);
} // namespace squant
} // namespace mlir

#endif
