// Error checking for CUDA runtime calls, and a guard that makes a device current for a scope.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "flashmla/status.h"

namespace flashmla {
namespace sm90 {

inline Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Status(StatusCode::kCudaError,
                std::string(what) + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

// Returns from the enclosing function with a kCudaError status if `expr` fails.
#define FLASHMLA_CUDA_RETURN(expr)                                       \
  do {                                                                   \
    const ::flashmla::Status _st = ::flashmla::sm90::cuda_status((expr), #expr); \
    if (!_st.ok()) return _st;                                           \
  } while (0)

// Checks the launch that just happened (configuration errors surface here, not at sync).
#define FLASHMLA_CHECK_LAUNCH(name)                                                 \
  do {                                                                              \
    const ::flashmla::Status _st = ::flashmla::sm90::cuda_status(cudaGetLastError(), name); \
    if (!_st.ok()) return _st;                                                      \
  } while (0)

// Makes `device` current for the guard's lifetime so that launches target the tensors' device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device) {
      error_ = cudaSetDevice(device);
    }
  }
  ~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  cudaError_t error() const { return error_; }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  cudaError_t error_ = cudaSuccess;
};

}  // namespace sm90
}  // namespace flashmla
