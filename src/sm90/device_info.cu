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
  int memory_clock_khz = 0;  // 0 where the driver does not report it
  int memory_bus_bits = 0;
};

DeviceProps g_props[kMaxDevices];

void read_props(int device, DeviceProps* p) {
  p->error = cudaDeviceGetAttribute(&p->major, cudaDevAttrComputeCapabilityMajor, device);
  if (p->error == cudaSuccess)
    p->error = cudaDeviceGetAttribute(&p->minor, cudaDevAttrComputeCapabilityMinor, device);
  if (p->error == cudaSuccess)
    p->error = cudaDeviceGetAttribute(&p->sm_count, cudaDevAttrMultiProcessorCount, device);
  // Only for tuning choices: a driver that does not report them leaves them 0, not an error.
  if (p->error == cudaSuccess &&
      (cudaDeviceGetAttribute(&p->memory_clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
       cudaDeviceGetAttribute(&p->memory_bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess)) {
    (void)cudaGetLastError();
    p->memory_clock_khz = 0;
    p->memory_bus_bits = 0;
  }
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

double device_peak_gbs_per_sm(int device_index) {
  int sm_count = 0;
  if (!device_sm_count(device_index, &sm_count).ok() || sm_count <= 0) return 0.0;
  const DeviceProps& p = g_props[device_index];
  // Double data rate: two transfers per memory clock over the whole bus.
  const double bytes_per_s = 2.0 * p.memory_clock_khz * 1e3 * (p.memory_bus_bits / 8.0);
  return bytes_per_s / 1e9 / sm_count;
}

}  // namespace sm90
}  // namespace flashmla
