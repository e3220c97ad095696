// Non-owning tensor views: how callers hand memory to the library without any framework.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace flashmla {

enum class DType : int {
  kBFloat16 = 0,
  kFloat16 = 1,
  kFloat32 = 2,
  kInt32 = 3,
};

// Bytes per element of a dtype.
int dtype_size(DType dtype);
// "bfloat16", "float16", "float32", "int32".
const char* dtype_name(DType dtype);

enum class DeviceType : int {
  kCPU = 0,
  kCUDA = 1,
};

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// "cpu" or "cuda:N".
std::string device_name(Device device);

constexpr int kMaxTensorDims = 4;

// A view of memory the caller owns: data pointer, dtype, device, shape and strides (in elements).
// The library never frees or keeps the pointer beyond the call that receives it.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  Device device{};
  int ndim = 0;
  int64_t shape[kMaxTensorDims] = {0, 0, 0, 0};
  int64_t stride[kMaxTensorDims] = {0, 0, 0, 0};

  int64_t numel() const;
  // True when strides are the row-major strides of the shape (size-1 dims are ignored).
  bool is_contiguous() const;
  // "[2, 3, 576]".
  std::string shape_string() const;

  // A row-major contiguous view of `data`.
  static TensorView contiguous(void* data, DType dtype, Device device,
                               std::initializer_list<int64_t> shape);
};

}  // namespace flashmla
