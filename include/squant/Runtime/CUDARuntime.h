//===- CUDARuntime.h - squant's CUDA host runtime (mgpu* ABI) ---*- C++ -*-===//
//
// libsquant_cuda_runtime.so implements, on the CUDA driver API, the host
// functions that MLIR's gpu-to-llvm lowering calls (module load, kernel
// lookup and launch, streams, events, device memory). Debian's MLIR ships no
// libmlir_cuda_runtime.so; programs compiled by squant-gpu-pipeline link (or
// mlir-runner -shared-libs=) this library instead.
//
// Types are spelled as the calls in LLVM IR expect them (index = intptr_t,
// pointers for CUDA handles). Every CUDA error is fatal by default: the
// message names the call and the CUDA error, then the process exits with
// status 1. Hosts that want to recover install their own handler.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_CUDARUNTIME_H
#define SQUANT_RUNTIME_CUDARUNTIME_H

#include <cstddef>
#include <cstdint>

extern "C" {

/// Called with a message when a CUDA call fails. The default handler prints
/// the message to stderr and exits with status 1.
typedef void (*SQuantCudaErrorHandler)(const char *message);
void squantCudaSetErrorHandler(SQuantCudaErrorHandler handler);

/// Number of CUDA devices, or -1 when the driver cannot be initialized (no
/// GPU, no driver). Never calls the error handler.
int32_t squantCudaDeviceCount();

// The mgpu* ABI of MLIR's gpu-to-llvm (MLIR 22).
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int32_t optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra, size_t paramsCount);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate();
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream);
void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream);
void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes);
void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes);
void mgpuMemHostUnregister(void *ptr);
void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes);
void mgpuSetDefaultDevice(int32_t device);
}

#endif // SQUANT_RUNTIME_CUDARUNTIME_H
