// The C ABI of include/flashmla/c_api.h: converts the C structs into the C++ views, calls the C++
// API and turns its Status into a code plus a message. Catches everything: a C caller (or a Python
// interpreter through ctypes) cannot survive a C++ exception unwinding into it.
#include "flashmla/c_api.h"

#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <utility>

#include "flashmla/flashmla.h"

namespace {

using flashmla::DecodeArgs;
using flashmla::Device;
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::MetadataArgs;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

// The C header spells the C++ enums' values as macros; these keep the two in step.
static_assert(FLASHMLA_OK == static_cast<int>(StatusCode::kOk), "status codes");
static_assert(FLASHMLA_STATUS_INVALID_ARGUMENT == static_cast<int>(StatusCode::kInvalidArgument),
              "status codes");
static_assert(FLASHMLA_STATUS_UNSUPPORTED_DEVICE ==
                  static_cast<int>(StatusCode::kUnsupportedDevice),
              "status codes");
static_assert(FLASHMLA_STATUS_CUDA_ERROR == static_cast<int>(StatusCode::kCudaError),
              "status codes");
static_assert(FLASHMLA_STATUS_INVALID_INPUT_DATA == static_cast<int>(StatusCode::kInvalidInputData),
              "status codes");
static_assert(FLASHMLA_STATUS_INTERNAL_ERROR == static_cast<int>(StatusCode::kInternalError),
              "status codes");
static_assert(FLASHMLA_DTYPE_BFLOAT16 == static_cast<int>(DType::kBFloat16), "dtype codes");
static_assert(FLASHMLA_DTYPE_FLOAT16 == static_cast<int>(DType::kFloat16), "dtype codes");
static_assert(FLASHMLA_DTYPE_FLOAT32 == static_cast<int>(DType::kFloat32), "dtype codes");
static_assert(FLASHMLA_DTYPE_INT32 == static_cast<int>(DType::kInt32), "dtype codes");
static_assert(FLASHMLA_DEVICE_CPU == static_cast<int>(DeviceType::kCPU), "device codes");
static_assert(FLASHMLA_DEVICE_CUDA == static_cast<int>(DeviceType::kCUDA), "device codes");
static_assert(FLASHMLA_MAX_DIMS == flashmla::kMaxTensorDims, "tensor rank");

// Copies `message` into the caller's buffer, truncated to fit and always terminated.
void write_message(const std::string& message, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  const size_t n = message.size() < err_len - 1 ? message.size() : err_len - 1;
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

int report(const Status& status, char* err, size_t err_len) {
  write_message(status.message(), err, err_len);
  return static_cast<int>(status.code());
}

Status invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Status convert_device(int32_t type, int32_t index, const char* name, Device* device) {
  if (type != FLASHMLA_DEVICE_CPU && type != FLASHMLA_DEVICE_CUDA) {
    return invalid(std::string(name) + ": expected device type " +
                   std::to_string(FLASHMLA_DEVICE_CPU) + " (cpu) or " +
                   std::to_string(FLASHMLA_DEVICE_CUDA) + " (cuda), got " + std::to_string(type));
  }
  if (index < 0) {
    return invalid(std::string(name) + ": expected a device index >= 0, got " +
                   std::to_string(index));
  }
  device->type = static_cast<DeviceType>(type);
  device->index = type == FLASHMLA_DEVICE_CPU ? 0 : index;
  return Status::Ok();
}

// Codes outside the enums are rejected here, so the C++ side only ever sees valid enum values.
Status convert_tensor(const flashmla_tensor& in, const char* name, TensorView* out) {
  if (in.dtype < FLASHMLA_DTYPE_BFLOAT16 || in.dtype > FLASHMLA_DTYPE_INT32) {
    return invalid(std::string(name) + ": expected a dtype code in 0..3 (bfloat16, float16, " +
                   "float32, int32), got " + std::to_string(in.dtype));
  }
  if (in.ndim < 0 || in.ndim > FLASHMLA_MAX_DIMS) {
    return invalid(std::string(name) + ": expected 0.." + std::to_string(FLASHMLA_MAX_DIMS) +
                   " dimensions, got " + std::to_string(in.ndim));
  }
  Status st = convert_device(in.device_type, in.device_index, name, &out->device);
  if (!st.ok()) return st;
  out->data = in.data;
  out->dtype = static_cast<DType>(in.dtype);
  out->ndim = in.ndim;
  for (int d = 0; d < FLASHMLA_MAX_DIMS; ++d) {
    out->shape[d] = d < in.ndim ? in.shape[d] : 0;
    out->stride[d] = d < in.ndim ? in.strides[d] : 0;
  }
  return Status::Ok();
}

Status null_args() { return invalid("args: expected a non-null pointer"); }

// A tensor of a C args struct, the C++ view it becomes and its name in error messages.
struct TensorField {
  const flashmla_tensor& in;
  const char* name;
  TensorView* out;
};

Status convert_tensors(std::initializer_list<TensorField> fields) {
  for (const TensorField& f : fields) {
    Status st = convert_tensor(f.in, f.name, f.out);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status metadata_from_c(const flashmla_metadata_args* c_args) {
  if (c_args == nullptr) return null_args();
  MetadataArgs args;
  Status st = convert_tensors({
      {c_args->cache_seqlens, "cache_seqlens", &args.cache_seqlens},
      {c_args->tile_scheduler_metadata, "tile_scheduler_metadata", &args.tile_scheduler_metadata},
      {c_args->num_splits, "num_splits", &args.num_splits},
  });
  if (!st.ok()) return st;
  args.q_rows_per_kv_head = c_args->q_rows_per_kv_head;
  args.h_kv = c_args->h_kv;
  args.stream = c_args->stream;
  return flashmla::get_mla_metadata(args);
}

Status decode_from_c(const flashmla_decode_args* c_args) {
  if (c_args == nullptr) return null_args();
  DecodeArgs args;
  Status st = convert_tensors({
      {c_args->q, "q", &args.q},
      {c_args->k_cache, "k_cache", &args.k_cache},
      {c_args->block_table, "block_table", &args.block_table},
      {c_args->cache_seqlens, "cache_seqlens", &args.cache_seqlens},
      {c_args->tile_scheduler_metadata, "tile_scheduler_metadata", &args.tile_scheduler_metadata},
      {c_args->num_splits, "num_splits", &args.num_splits},
      {c_args->out, "out", &args.out},
      {c_args->lse, "lse", &args.lse},
  });
  if (!st.ok()) return st;
  args.head_dim_v = c_args->head_dim_v;
  args.softmax_scale = c_args->softmax_scale;
  args.causal = c_args->causal != 0;
  args.workspace = c_args->workspace;
  args.workspace_bytes = c_args->workspace_bytes;
  args.stream = c_args->stream;
  args.check_inputs = c_args->check_inputs != 0;
  return flashmla::mla_decode_with_kvcache(args);
}

// Runs `fn` (returning a Status) with every exception turned into kInternalError.
template <typename Fn>
int guarded(Fn fn, char* err, size_t err_len) {
  try {
    return report(fn(), err, err_len);
  } catch (const std::exception& e) {
    write_message(std::string("unexpected C++ exception: ") + e.what(), err, err_len);
  } catch (...) {
    write_message("unexpected C++ exception", err, err_len);
  }
  return FLASHMLA_STATUS_INTERNAL_ERROR;
}

}  // namespace

extern "C" {

int flashmla_c_abi_version(void) { return FLASHMLA_C_ABI_VERSION; }

const char* flashmla_version(void) { return flashmla::version(); }

int flashmla_has_cuda(void) { return flashmla::built_with_cuda() ? 1 : 0; }

const char* flashmla_status_name(int status) {
  if (status < FLASHMLA_OK || status > FLASHMLA_STATUS_INTERNAL_ERROR) return "unknown status";
  return flashmla::status_code_name(static_cast<StatusCode>(status));
}

int flashmla_cpu_num_sm_parts(void) { return flashmla::cpu_num_sm_parts(); }

int flashmla_num_sm_parts_for_sm_count(int sm_count, int q_rows_per_kv_head, int h_kv) {
  return flashmla::num_sm_parts_for_sm_count(sm_count, q_rows_per_kv_head, h_kv);
}

int flashmla_get_num_sm_parts(int32_t device_type, int32_t device_index, int q_rows_per_kv_head,
                              int h_kv, int* num_sm_parts, char* err, size_t err_len) {
  return guarded(
      [&]() {
        Device device;
        Status st = convert_device(device_type, device_index, "device", &device);
        if (!st.ok()) return st;
        return flashmla::get_num_sm_parts(device, q_rows_per_kv_head, h_kv, num_sm_parts);
      },
      err, err_len);
}

size_t flashmla_decode_workspace_size(int64_t batch, int num_sm_parts, int q_rows_per_kv_head,
                                      int h_kv) {
  return flashmla::decode_workspace_size(batch, num_sm_parts, q_rows_per_kv_head, h_kv);
}

int flashmla_get_mla_metadata(const flashmla_metadata_args* args, char* err, size_t err_len) {
  return guarded([&]() { return metadata_from_c(args); }, err, err_len);
}

int flashmla_mla_decode_with_kvcache(const flashmla_decode_args* args, char* err, size_t err_len) {
  return guarded([&]() { return decode_from_c(args); }, err, err_len);
}

}  // extern "C"
