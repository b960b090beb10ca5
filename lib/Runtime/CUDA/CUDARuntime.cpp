//===- CUDARuntime.cpp - squant's CUDA host runtime (mgpu* ABI) -----------===//
//
// The mgpu* functions called by code that MLIR's gpu-to-llvm produced, on
// the CUDA driver API. All work happens in the primary context of the
// default device, made current on entry.
//
//===----------------------------------------------------------------------===//

#include "squant/Runtime/CUDARuntime.h"

#include <cuda.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace {

void defaultErrorHandler(const char *message) {
  std::fprintf(stderr, "squant_cuda_runtime: %s\n", message);
  std::fflush(stderr);
  std::exit(EXIT_FAILURE);
}

std::atomic<SQuantCudaErrorHandler> errorHandler{defaultErrorHandler};
std::atomic<int32_t> defaultDevice{0};

void fail(const std::string &message) { errorHandler.load()(message.c_str()); }

/// Reports a failed CUDA call; returns true when `result` is an error.
bool check(CUresult result, const char *call) {
  if (result == CUDA_SUCCESS)
    return false;
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  std::string message = std::string(call) + " failed: CUDA error " +
                        std::to_string(static_cast<int>(result));
  if (name)
    message += std::string(" ") + name;
  if (text)
    message += std::string(" (") + text + ")";
  if (result == CUDA_ERROR_STUB_LIBRARY || result == CUDA_ERROR_NO_DEVICE ||
      result == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)
    message += "; no usable NVIDIA driver or GPU on this machine";
  fail(message);
  return true;
}

#define SQUANT_CU(call) check((call), #call)

/// Makes the primary context of the default device current (retained once
/// per device for the life of the process).
bool enterContext() {
  static std::mutex mutex;
  static CUcontext contexts[64] = {};
  int32_t device = defaultDevice.load();
  if (device < 0 || device >= 64) {
    fail("invalid device ordinal " + std::to_string(device));
    return false;
  }
  CUcontext ctx;
  {
    std::lock_guard<std::mutex> lock(mutex);
    static bool initialized = false;
    if (!initialized) {
      if (SQUANT_CU(cuInit(0)))
        return false;
      initialized = true;
    }
    if (!contexts[device]) {
      CUdevice dev;
      if (SQUANT_CU(cuDeviceGet(&dev, device)) ||
          SQUANT_CU(cuDevicePrimaryCtxRetain(&contexts[device], dev)))
        return false;
    }
    ctx = contexts[device];
  }
  CUcontext current = nullptr;
  cuCtxGetCurrent(&current);
  if (current != ctx && SQUANT_CU(cuCtxSetCurrent(ctx)))
    return false;
  return true;
}

CUstream asStream(void *s) { return static_cast<CUstream>(s); }

} // namespace

extern "C" {

void squantCudaSetErrorHandler(SQuantCudaErrorHandler handler) {
  errorHandler.store(handler ? handler : defaultErrorHandler);
}

int32_t squantCudaDeviceCount() {
  if (cuInit(0) != CUDA_SUCCESS)
    return -1;
  int count = 0;
  if (cuDeviceGetCount(&count) != CUDA_SUCCESS)
    return -1;
  return count;
}

void *mgpuModuleLoad(void *data, size_t /*size: cubin/fatbin carry theirs*/) {
  if (!enterContext())
    return nullptr;
  CUmodule module = nullptr;
  SQUANT_CU(cuModuleLoadData(&module, data));
  return module;
}

void *mgpuModuleLoadJIT(void *data, int32_t optLevel) {
  if (!enterContext())
    return nullptr;
  // PTX: JIT-compiled by the driver; keep its log for the error message.
  char log[8192] = {};
  CUjit_option options[] = {CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel)),
                    log, reinterpret_cast<void *>(sizeof(log))};
  CUmodule module = nullptr;
  CUresult result = cuModuleLoadDataEx(&module, data, 3, options, values);
  if (result != CUDA_SUCCESS) {
    const char *name = nullptr;
    cuGetErrorName(result, &name);
    fail(std::string("cuModuleLoadDataEx (PTX JIT) failed: ") +
         (name ? name : "unknown error") + "\n" + log);
    return nullptr;
  }
  return module;
}

void mgpuModuleUnload(void *module) {
  if (module)
    SQUANT_CU(cuModuleUnload(static_cast<CUmodule>(module)));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = nullptr;
  std::string call = std::string("cuModuleGetFunction(\"") + name + "\")";
  check(cuModuleGetFunction(&function, static_cast<CUmodule>(module), name),
        call.c_str());
  return function;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  // An empty grid (e.g. a dynamic M of 0) launches nothing.
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return;
  if (!enterContext())
    return;
  SQUANT_CU(cuLaunchKernel(static_cast<CUfunction>(function), gridX, gridY,
                           gridZ, blockX, blockY, blockZ, smem,
                           asStream(stream), params, extra));
}

void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra, size_t /*paramsCount*/) {
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return;
  if (!enterContext())
    return;
  CUlaunchAttribute cluster = {};
  cluster.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  cluster.value.clusterDim.x = static_cast<unsigned>(clusterX);
  cluster.value.clusterDim.y = static_cast<unsigned>(clusterY);
  cluster.value.clusterDim.z = static_cast<unsigned>(clusterZ);
  CUlaunchConfig config = {};
  config.gridDimX = static_cast<unsigned>(gridX);
  config.gridDimY = static_cast<unsigned>(gridY);
  config.gridDimZ = static_cast<unsigned>(gridZ);
  config.blockDimX = static_cast<unsigned>(blockX);
  config.blockDimY = static_cast<unsigned>(blockY);
  config.blockDimZ = static_cast<unsigned>(blockZ);
  config.sharedMemBytes = static_cast<unsigned>(smem);
  config.hStream = asStream(stream);
  config.attrs = &cluster;
  config.numAttrs = 1;
  SQUANT_CU(cuLaunchKernelEx(&config, static_cast<CUfunction>(function),
                             params, extra));
}

void *mgpuStreamCreate() {
  if (!enterContext())
    return nullptr;
  CUstream stream = nullptr;
  SQUANT_CU(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  SQUANT_CU(cuStreamDestroy(asStream(stream)));
}

void mgpuStreamSynchronize(void *stream) {
  SQUANT_CU(cuStreamSynchronize(asStream(stream)));
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  SQUANT_CU(cuStreamWaitEvent(asStream(stream), static_cast<CUevent>(event), 0));
}

void *mgpuEventCreate() {
  if (!enterContext())
    return nullptr;
  CUevent event = nullptr;
  SQUANT_CU(cuEventCreate(&event, CU_EVENT_DISABLE_TIMING));
  return event;
}

void mgpuEventDestroy(void *event) {
  SQUANT_CU(cuEventDestroy(static_cast<CUevent>(event)));
}

void mgpuEventSynchronize(void *event) {
  SQUANT_CU(cuEventSynchronize(static_cast<CUevent>(event)));
}

void mgpuEventRecord(void *event, void *stream) {
  SQUANT_CU(cuEventRecord(static_cast<CUevent>(event), asStream(stream)));
}

void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared) {
  if (sizeBytes == 0 || !enterContext())
    return nullptr;
  CUdeviceptr ptr = 0;
  if (isHostShared)
    SQUANT_CU(cuMemAllocManaged(&ptr, sizeBytes, CU_MEM_ATTACH_GLOBAL));
  else
    // Stream-ordered: the allocation follows the work already queued.
    SQUANT_CU(cuMemAllocAsync(&ptr, sizeBytes, asStream(stream)));
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr)
    return;
  // Managed (host_shared) memory came from cuMemAllocManaged.
  unsigned managed = 0;
  cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED,
                        reinterpret_cast<CUdeviceptr>(ptr));
  if (managed) {
    SQUANT_CU(cuStreamSynchronize(asStream(stream)));
    SQUANT_CU(cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)));
    return;
  }
  SQUANT_CU(cuMemFreeAsync(reinterpret_cast<CUdeviceptr>(ptr), asStream(stream)));
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  if (sizeBytes == 0)
    return;
  // Unified addressing: the driver infers the direction.
  SQUANT_CU(cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                          reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                          asStream(stream)));
}

void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream) {
  SQUANT_CU(cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                             asStream(stream)));
}

void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream) {
  SQUANT_CU(cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                             asStream(stream)));
}

void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes) {
  if (!enterContext())
    return;
  SQUANT_CU(cuMemHostRegister(ptr, sizeBytes, 0));
}

namespace {
/// A ranked memref descriptor: {allocated, aligned, offset, sizes[rank],
/// strides[rank]}, as MLIR's C interface lays it out.
struct Descriptor {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[];
};

/// The bytes a dense, row-major memref spans; reports non-dense ones.
bool denseSpan(int64_t rank, const Descriptor *d, int64_t elementSize,
               char *&begin, uint64_t &bytes) {
  const int64_t *sizes = d->sizesAndStrides;
  const int64_t *strides = d->sizesAndStrides + rank;
  int64_t expected = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    if (sizes[i] != 1 && strides[i] != expected) {
      fail("host registration needs a dense row-major memref");
      return false;
    }
    expected *= sizes[i];
  }
  begin = d->aligned + d->offset * elementSize;
  bytes = static_cast<uint64_t>(expected) * elementSize;
  return true;
}
} // namespace

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  char *begin;
  uint64_t bytes;
  if (denseSpan(rank, static_cast<Descriptor *>(descriptor), elementSizeBytes,
                begin, bytes) &&
      bytes)
    mgpuMemHostRegister(begin, bytes);
}

void mgpuMemHostUnregister(void *ptr) {
  if (!enterContext())
    return;
  SQUANT_CU(cuMemHostUnregister(ptr));
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes) {
  char *begin;
  uint64_t bytes;
  if (denseSpan(rank, static_cast<Descriptor *>(descriptor), elementSizeBytes,
                begin, bytes) &&
      bytes)
    mgpuMemHostUnregister(begin);
}

void mgpuSetDefaultDevice(int32_t device) { defaultDevice.store(device); }

} // extern "C"
