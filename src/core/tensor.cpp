#include "flashmla/tensor.h"

namespace flashmla {

int dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
    case DType::kFloat16: return 2;
    case DType::kFloat32:
    case DType::kInt32: return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
  }
  return "unknown dtype";
}

std::string device_name(Device device) {
  if (device.type == DeviceType::kCPU) return "cpu";
  if (device.type == DeviceType::kCUDA) return "cuda:" + std::to_string(device.index);
  return "unknown device";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && stride[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::string TensorView::shape_string() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

TensorView TensorView::contiguous(void* data, DType dtype, Device device,
                                  std::initializer_list<int64_t> shape) {
  TensorView t;
  t.data = data;
  t.dtype = dtype;
  t.device = device;
  t.ndim = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) {
    if (i < kMaxTensorDims) t.shape[i] = s;
    ++i;
  }
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (d < kMaxTensorDims) t.stride[d] = stride;
    if (d < kMaxTensorDims) stride *= t.shape[d];
  }
  return t;
}

}  // namespace flashmla
