// CUDA plumbing of the benchmark: every runtime and cuBLAS call checked and turned into a
// flashmla::Status that names the call and the place, and RAII owners for device resources so that
// an error part-way through a configuration frees what it allocated.
#pragma once

#if defined(FLASHMLA_WITH_CUDA)

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "flashmla/flashmla.h"

namespace bench {
namespace gpu {

flashmla::Status cuda_error(cudaError_t err, const char* call, const char* file, int line);
flashmla::Status cublas_error(cublasStatus_t err, const char* call, const char* file, int line);

#define BENCH_CUDA(call)                                                      \
  do {                                                                        \
    const cudaError_t bench_err_ = (call);                                    \
    if (bench_err_ != cudaSuccess)                                            \
      return ::bench::gpu::cuda_error(bench_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define BENCH_CUBLAS(call)                                                      \
  do {                                                                          \
    const cublasStatus_t bench_err_ = (call);                                   \
    if (bench_err_ != CUBLAS_STATUS_SUCCESS)                                    \
      return ::bench::gpu::cublas_error(bench_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define BENCH_RETURN_IF_ERROR(expr)              \
  do {                                           \
    const ::flashmla::Status bench_st_ = (expr); \
    if (!bench_st_.ok()) return bench_st_;       \
  } while (0)

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0;
  int minor = 0;
  int sm_count = 0;
  size_t total_memory = 0;
};

// Looks for CUDA device 0 and checks that it is compute capability 9.x (what the library runs on).
// Returns false with *why_not set when there is none (no driver, no device, another architecture).
bool find_hopper_device(DeviceInfo* info, std::string* why_not);

// "NVIDIA H100 80GB HBM3" -> "h100": the first word after the vendor, lower-case.
std::string short_gpu_name(const std::string& device_name);

// Device memory that frees itself.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  ~DeviceBuffer();

  // `what` names the buffer in the error message (with its size).
  flashmla::Status allocate(size_t bytes, const char* what);
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void reset();
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  flashmla::Status create();
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Pairs of events around timed work on one stream.
class EventTimer {
 public:
  EventTimer() = default;
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  ~EventTimer();

  // Room for `count` timed intervals.
  flashmla::Status create(int count);
  flashmla::Status start(int i, cudaStream_t stream);
  flashmla::Status stop(int i, cudaStream_t stream);
  // Synchronises on the last event and returns every interval in seconds.
  flashmla::Status elapsed_s(std::vector<double>* seconds);

 private:
  std::vector<cudaEvent_t> events_;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle();
  flashmla::Status create(cudaStream_t stream);
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// "1.23 GB".
std::string format_bytes(double bytes);

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
