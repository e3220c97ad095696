// Per-device properties the backend needs, read once per device and cached.
#include <mutex>
#include <string>

#include "sm90/cuda_check.h"
#include "sm90/sm90_backend.h"

namespace flashmla {
namespace sm90 {

namespace {

constexpr int kMaxDevices = 64;

struct DeviceProps {
  std::once_flag once;
  cudaError_t error = cudaSuccess;
  int major = 0;
  int minor = 0;
  int sm_count = 0;
};

DeviceProps g_props[kMaxDevices];

void read_props(int device, DeviceProps* p) {
  p->error = cudaDeviceGetAttribute(&p->major, cudaDevAttrComputeCapabilityMajor, device);
  if (p->error == cudaSuccess)
    p->error = cudaDeviceGetAttribute(&p->minor, cudaDevAttrComputeCapabilityMinor, device);
  if (p->error == cudaSuccess)
    p->error = cudaDeviceGetAttribute(&p->sm_count, cudaDevAttrMultiProcessorCount, device);
}

}  // namespace

Status device_sm_count(int device_index, int* sm_count) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    return Status(StatusCode::kUnsupportedDevice,
                  std::string("no usable CUDA device: ") + cudaGetErrorString(err));
  if (device_index < 0 || device_index >= count || device_index >= kMaxDevices)
    return Status(StatusCode::kUnsupportedDevice,
                  "cuda:" + std::to_string(device_index) + " does not exist (" +
                      std::to_string(count) + " CUDA devices present)");
  DeviceProps& p = g_props[device_index];
  std::call_once(p.once, read_props, device_index, &p);
  if (p.error != cudaSuccess) return cuda_status(p.error, "cudaDeviceGetAttribute");
  if (p.major != 9)
    return Status(StatusCode::kUnsupportedDevice,
                  "cuda:" + std::to_string(device_index) + " has compute capability " +
                      std::to_string(p.major) + "." + std::to_string(p.minor) +
                      "; the flashmla kernels need a Hopper GPU (sm_90: H100, H200, H800, H20)");
  *sm_count = p.sm_count;
  return Status::Ok();
}

}  // namespace sm90
}  // namespace flashmla
